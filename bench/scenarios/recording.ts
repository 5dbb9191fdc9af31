/**
 * What recording costs the voice webhook: the same bridge with RECORDING=off and RECORDING=dual, side by
 * side in one run (rounds alternating, each round starting with the other), new calls with unique
 * signed CallSids. A recorded call's answer carries a `<Start><Recording>` before the `<Dial>` and two
 * more fields on the call record; the budget is 5 % of the web process's CPU per new call.
 */
import type { WebTarget } from '../lib/harness';
import { measure, type Measurement } from '../lib/measure';
import { fmt, median, type Section } from '../lib/report';
import type { Scenario, ScenarioContext } from './types';
import { anomalies, summarise } from './voice';

const WARMUP_SEC = 5;
/** The most CPU per new call recording may add. */
const BUDGET = 0.05;

export const recordingScenario: Scenario = {
  name: 'recording',
  async run(ctx: ScenarioContext): Promise<Section[]> {
    const { env, flags, pools } = ctx;
    const off = ctx.ours;
    const dual = await env.startBridge({ cpus: env.cpus.web, name: 'RECORDING=dual', env: { RECORDING: 'dual' } });
    try {
      const targets: WebTarget[] = [off, dual];
      const maxC = Math.max(...flags.connections);
      ctx.log(`warm-up of RECORDING=dual, ${WARMUP_SEC} s (not measured)`);
      for (const t of targets) {
        const m = await measure(env, t, { connections: maxC, durationSec: WARMUP_SEC, callSids: 'unique', poolSize: pools.size(t.name, WARMUP_SEC, maxC) });
        pools.seen(t.name, m.load.rps);
      }

      const all: Measurement[] = [];
      for (const c of flags.connections) {
        for (let round = 0; round < flags.rounds; round++) {
          const order = round % 2 ? [dual, off] : [off, dual];
          for (const t of order) {
            const m = await measure(env, t, { connections: c, durationSec: flags.duration, callSids: 'unique', poolSize: pools.size(t.name, flags.duration, c) });
            pools.seen(t.name, m.load.rps);
            all.push(m);
            ctx.log(`recording c=${c} round ${round + 1} ${t.name}: ${fmt.int(m.load.rps)} req/s, ${fmt.us(m.webCpuPerRequestUs)} CPU/req`);
          }
        }
      }

      const rows: string[][] = [];
      const notes: string[] = [];
      const summary: Record<string, { off: ReturnType<typeof summarise>; dual: ReturnType<typeof summarise>; cpuRatio: number; pairedCpuRatio: number }> = {};
      for (const c of flags.connections) {
        const runs = (t: WebTarget) => all.filter((m) => m.target === t.name && m.connections === c);
        const o = summarise(runs(off));
        const d = summarise(runs(dual));
        // Rounds are paired in time: the median of the per-round ratios discounts slow drifts of the machine.
        const paired = median(runs(dual).map((m, i) => m.webCpuPerRequestUs / (runs(off)[i]?.webCpuPerRequestUs ?? NaN)));
        summary[c] = { off: o, dual: d, cpuRatio: d.cpuUs / o.cpuUs, pairedCpuRatio: paired };
        rows.push([String(c), 'RECORDING=off', fmt.int(o.rps), fmt.ms(o.p50), fmt.ms(o.p99), fmt.us(o.cpuUs)]);
        rows.push([String(c), 'RECORDING=dual', fmt.int(d.rps), fmt.ms(d.p50), fmt.ms(d.p99), fmt.us(d.cpuUs)]);
        rows.push([String(c), '**dual ÷ off**', fmt.x(d.rps / o.rps), fmt.x(d.p50 / o.p50), fmt.x(d.p99 / o.p99), `**${fmt.x(paired)}**`]);
        const within = paired <= 1 + BUDGET;
        notes.push(
          `c=${c}: CPU per new call with RECORDING=dual is ${fmt.x(paired)} that of RECORDING=off (median of per-round ratios; ` +
            `medians ${fmt.us(d.cpuUs)} vs ${fmt.us(o.cpuUs)}): ${within ? 'within' : 'OVER'} the ${BUDGET * 100} % budget`,
        );
      }
      notes.push(...anomalies(all, true).map((a) => `anomaly: ${a}`));
      return [
        {
          title: `Recording: RECORDING=off vs RECORDING=dual, new calls, ${flags.duration} s runs, median of ${flags.rounds} rounds alternating`,
          header: ['conns', 'bridge', 'req/s', 'p50 ms', 'p99 ms', 'web CPU/req'],
          rows,
          notes,
          data: { summary, runs: all },
        },
      ];
    } finally {
      await dual.stop();
    }
  },
};
