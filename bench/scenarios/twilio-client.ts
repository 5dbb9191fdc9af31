/**
 * The Twilio REST request alone: CPU per call redirect for each way of making it, each variant in its
 * own process on the web CPU, against the same fake Twilio API, in rotating order over the rounds.
 */
import { randomBytes } from 'node:crypto';
import { runTs } from '../lib/proc';
import { fmt, median, type Section } from '../lib/report';
import { VARIANTS, type Variant } from '../programs/twilio-client';
import type { Scenario, ScenarioContext } from './types';

interface ClientResult {
  variant: Variant;
  cpuUsPerCall: number;
  callsPerSecond: number;
}

const CONCURRENCY = 20;
const CALLS = 4000;

export const twilioClientScenario: Scenario = {
  name: 'twilio-client',
  async run(ctx: ScenarioContext): Promise<Section[]> {
    const { env, flags } = ctx;
    const twilioUrl = await env.startFakeTwilio();
    const variants = Object.keys(VARIANTS) as Variant[];
    const results: ClientResult[] = [];
    for (let round = 0; round < flags.rounds; round++) {
      for (let i = 0; i < variants.length; i++) {
        const variant = variants[(i + round) % variants.length]!;
        const sids = Array.from({ length: 100 }, () => `CA${randomBytes(16).toString('hex')}`);
        await env.addTwilioCalls(sids);
        const out = await runTs(`twilio-client ${variant}`, 'bench/programs/twilio-client.ts', {
          cpus: env.cpus.web,
          env: { VARIANT: variant, TWILIO_API_BASE_URL: twilioUrl, CALL_SIDS: sids.join(','), CONCURRENCY: String(CONCURRENCY), CALLS: String(CALLS) },
        });
        // Forget the run's requests, so the fake's memory stays flat and the next run starts clean.
        await env.takeTwilioUpdates();
        const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as ClientResult;
        results.push(r);
        ctx.log(`twilio-client round ${round + 1} ${variant}: ${fmt.us(r.cpuUsPerCall)} CPU/call, ${fmt.int(r.callsPerSecond)} calls/s`);
      }
    }
    const base = median(results.filter((r) => r.variant === 'twilio-node').map((r) => r.cpuUsPerCall));
    const rows = variants.map((v) => {
      const mine = results.filter((r) => r.variant === v);
      const cpu = median(mine.map((r) => r.cpuUsPerCall));
      return [v, VARIANTS[v], fmt.us(cpu), fmt.int(median(mine.map((r) => r.callsPerSecond))), fmt.x(base / cpu)];
    });
    return [
      {
        title: `Redirecting a call through the Twilio REST API: CPU per request, ${CONCURRENCY} concurrent, ${CALLS.toLocaleString('en-US')} requests, median of ${flags.rounds} rounds`,
        header: ['variant', 'what', 'CPU/request', 'requests/s', 'vs twilio-node'],
        rows,
        notes: [
          'each request: calls(sid).update({ twiml }) with the transfer TwiML, to a live call on the fake Twilio API (its own process, on the helpers\' CPU)',
          'requests/s is one process on one core with the fake on the other; CPU/request is the better measure on a shared machine',
        ],
        data: { results },
      },
    ];
  },
};
