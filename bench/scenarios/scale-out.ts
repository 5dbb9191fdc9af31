/**
 * Scale-out: the bridge as 1 and as 2 web processes (Node's cluster module, one port) behind the same
 * Redis, nothing pinned, so the web processes, the load generator, the fake Retell API and Redis all
 * compete for the machine's cores, as they would on a box this size.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { postSigned, voiceParams } from '../../tests/support/twilio-signing';
import { PUBLIC_URL } from '../lib/harness';
import { measure, type Measurement } from '../lib/measure';
import { fmt, median, type Section } from '../lib/report';
import { anomalies } from './voice';
import type { Scenario, ScenarioContext } from './types';

export const scaleOutScenario: Scenario = {
  name: 'scale-out',
  async run(ctx: ScenarioContext): Promise<Section[]> {
    const { env, flags, pools } = ctx;
    const allCpus = `0-${os.cpus().length - 1}`;
    const c = Math.max(...flags.connections);
    env.repinHelpers(allCpus);
    const one = await env.startBridge({ processes: 1, cpus: allCpus, name: 'cluster-1' });
    const two = await env.startBridge({ processes: 2, cpus: allCpus, name: 'cluster-2' });
    const all: Measurement[] = [];
    let dup: Measurement | undefined;
    try {
      for (const t of [one, two]) {
        const m = await measure(env, t, { connections: c, durationSec: 2, callSids: 'unique', poolSize: pools.size(t.name, 2, c) });
        pools.seen(t.name, m.load.rps);
      }
      for (let round = 0; round < flags.rounds; round++) {
        for (const t of round % 2 === 0 ? [one, two] : [two, one]) {
          const m = await measure(env, t, {
            connections: c,
            durationSec: flags.duration,
            callSids: 'unique',
            poolSize: pools.size(t.name, flags.duration, c),
          });
          pools.seen(t.name, m.load.rps);
          all.push(m);
          ctx.log(
            `scale-out round ${round + 1} ${t.name}: ${fmt.int(m.load.rps)} req/s, p99 ${fmt.ms(m.load.p99)} ms, ` +
              `web ${m.cores.web.toFixed(2)} cores, helpers ${(m.cores.load + m.cores.retell + m.cores.redis).toFixed(2)}, machine ${m.cores.machine.toFixed(2)}`,
          );
        }
      }
      // Repeats of one call spread over both processes: still one Retell registration.
      const callSid = `CA${randomBytes(16).toString('hex')}`;
      const first = await postSigned(two.url, PUBLIC_URL, '/twilio/voice', voiceParams({ CallSid: callSid }));
      await first.text();
      dup = await measure(env, two, { connections: c, durationSec: 2, callSids: 'same', sameCallSid: callSid, poolSize: 1 });
      ctx.log(`scale-out duplicates on 2 processes: ${dup.registrations} Retell calls registered for ${dup.load.requests} repeats`);
    } finally {
      await one.stop();
      await two.stop();
      if (env.cpus.rest) env.repinHelpers(env.cpus.rest);
    }

    const rows: string[][] = [];
    const med = (ms: Measurement[], f: (m: Measurement) => number) => median(ms.map(f));
    const byTarget = (name: string) => all.filter((m) => m.target === name);
    for (const [label, t] of [
      ['1 web process', one],
      ['2 web processes', two],
    ] as const) {
      const ms = byTarget(t.name);
      rows.push([
        label,
        fmt.int(med(ms, (m) => m.load.rps)),
        fmt.ms(med(ms, (m) => m.load.p50)),
        fmt.ms(med(ms, (m) => m.load.p99)),
        fmt.us(med(ms, (m) => m.webCpuPerRequestUs)),
        med(ms, (m) => m.cores.web).toFixed(2),
        med(ms, (m) => m.cores.load).toFixed(2),
        med(ms, (m) => m.cores.retell + m.cores.redis).toFixed(2),
        med(ms, (m) => m.cores.machine).toFixed(2),
      ]);
    }
    const gain = med(byTarget(two.name), (m) => m.load.rps) / med(byTarget(one.name), (m) => m.load.rps);
    return [
      {
        title: `Scale-out: 1 vs 2 web processes, one Redis, ${c} connections, nothing pinned, median of ${flags.rounds} rounds`,
        header: ['web', 'req/s', 'p50 ms', 'p99 ms', 'web CPU/req', 'web cores', 'load-gen cores', 'Retell+Redis cores', 'machine cores'],
        rows,
        notes: [
          `2 processes ÷ 1 process: ${fmt.x(gain)} throughput on ${os.cpus().length} cores`,
          ...(dup
            ? [
                `repeats of one answered CallSid spread over the 2 processes: ${fmt.int(dup.load.requests)} repeats, ` +
                  `${dup.registrations} Retell registrations, ${fmt.int(dup.load.rps)} req/s, p99 ${fmt.ms(dup.load.p99)} ms`,
              ]
            : []),
          ...anomalies(all, true).map((a) => `anomaly: ${a}`),
        ],
        data: { gain, runs: all },
      },
    ];
  },
};
