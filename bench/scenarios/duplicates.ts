/**
 * The duplicate path: Twilio repeating the webhook of one call. The call is answered once first; then
 * every request repeats its CallSid (and signature). The bridge replays the stored TwiML and registers
 * nothing more; the naive bridge registers a new Retell call for each repeat.
 */
import { randomBytes } from 'node:crypto';
import { PUBLIC_URL } from '../lib/harness';
import { measure, type Measurement } from '../lib/measure';
import { fmt, median, type Section } from '../lib/report';
import { postSigned, voiceParams } from '../../tests/support/twilio-signing';
import { anomalies, bridgesOf } from './voice';
import type { Scenario, ScenarioContext } from './types';

export const duplicatesScenario: Scenario = {
  name: 'duplicates',
  async run(ctx: ScenarioContext): Promise<Section[]> {
    const { env, flags, naive } = ctx;
    const targets = [...bridgesOf(ctx), ...(naive ? [naive] : [])];
    const all: Measurement[] = [];
    for (const c of flags.connections) {
      for (let round = 0; round < flags.rounds; round++) {
        const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
        for (const t of order) {
          const callSid = `CA${randomBytes(16).toString('hex')}`;
          const first = await postSigned(t.url, PUBLIC_URL, '/twilio/voice', voiceParams({ CallSid: callSid }));
          if (first.status !== 200) throw new Error(`${t.name}: first webhook of ${callSid} answered ${first.status}`);
          await first.text();
          const m = await measure(env, t, {
            connections: c,
            durationSec: flags.dupDuration,
            callSids: 'same',
            sameCallSid: callSid,
            poolSize: 1,
          });
          all.push(m);
          ctx.log(
            `duplicates c=${c} round ${round + 1} ${t.name}: ${fmt.int(m.load.rps)} req/s, p99 ${fmt.ms(m.load.p99)} ms, ` +
              `${m.registrations} Retell calls registered for ${m.load.requests} repeats`,
          );
        }
      }
    }

    const rows: string[][] = [];
    for (const c of flags.connections) {
      for (const t of targets) {
        const ms = all.filter((m) => m.target === t.name && m.connections === c);
        const repeats = ms.reduce((a, m) => a + m.load.requests, 0);
        const registered = ms.reduce((a, m) => a + m.registrations, 0);
        rows.push([
          String(c),
          t.name,
          fmt.int(median(ms.map((m) => m.load.rps))),
          fmt.ms(median(ms.map((m) => m.load.p50))),
          fmt.ms(median(ms.map((m) => m.load.p99))),
          fmt.us(median(ms.map((m) => m.webCpuPerRequestUs))),
          `${fmt.int(registered)} for ${fmt.int(repeats)}`,
        ]);
      }
    }
    return [
      {
        title: `Duplicate path: repeats of one answered CallSid, ${flags.dupDuration} s runs, median of ${flags.rounds} rounds`,
        header: ['conns', 'bridge', 'req/s', 'p50 ms', 'p99 ms', 'web CPU/req', 'Retell calls registered by the repeats'],
        rows,
        notes: anomalies(
          all.filter((m) => m.target !== naive?.name),
          true,
        ).map((a) => `anomaly: ${a}`),
        data: { runs: all },
      },
    ];
  },
};
