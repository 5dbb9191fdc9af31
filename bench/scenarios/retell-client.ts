/**
 * The call to Retell alone: CPU per registration for each way of making it, each variant in its own
 * process on the web CPU, against the same fake Retell API, in rotating order over the rounds.
 */
import { RETELL_KEY } from '../lib/harness';
import { runTs } from '../lib/proc';
import { fmt, median, type Section } from '../lib/report';
import { VARIANTS, type Variant } from '../programs/retell-client';
import type { Scenario, ScenarioContext } from './types';

interface ClientResult {
  variant: Variant;
  cpuUsPerCall: number;
  callsPerSecond: number;
}

export const retellClientScenario: Scenario = {
  name: 'retell-client',
  async run(ctx: ScenarioContext): Promise<Section[]> {
    const { env, flags } = ctx;
    const variants = Object.keys(VARIANTS) as Variant[];
    const results: ClientResult[] = [];
    for (let round = 0; round < flags.rounds; round++) {
      for (let i = 0; i < variants.length; i++) {
        const variant = variants[(i + round) % variants.length]!;
        const out = await runTs(`retell-client ${variant}`, 'bench/programs/retell-client.ts', {
          cpus: env.cpus.web,
          env: { VARIANT: variant, RETELL_BASE_URL: env.retellUrl, RETELL_API_KEY: RETELL_KEY, CONCURRENCY: '20', CALLS: '4000' },
        });
        const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as ClientResult;
        results.push(r);
        ctx.log(`retell-client round ${round + 1} ${variant}: ${fmt.us(r.cpuUsPerCall)} CPU/call, ${fmt.int(r.callsPerSecond)} calls/s`);
      }
    }
    const base = median(results.filter((r) => r.variant === 'sdk-builtin-fetch').map((r) => r.cpuUsPerCall));
    const rows = variants.map((v) => {
      const cpu = median(results.filter((r) => r.variant === v).map((r) => r.cpuUsPerCall));
      return [v, VARIANTS[v], fmt.us(cpu), fmt.x(base / cpu)];
    });
    return [
      {
        title: `Registering a call with Retell: CPU per call, 20 concurrent, 4,000 calls, median of ${flags.rounds} rounds`,
        header: ['variant', 'what', 'CPU/call', 'vs built-in fetch'],
        rows,
        notes: [],
        data: { results },
      },
    ];
  },
};
