/**
 * New calls: every request a distinct, correctly signed CallSid, at each concurrency, ours and the
 * naive bridge alternating round by round so both see the same background noise.
 */
import os from 'node:os';
import { BenchEnv, type WebTarget } from '../lib/harness';
import { measure, type Measurement } from '../lib/measure';
import { fmt, median, type Section } from '../lib/report';
import type { Scenario, ScenarioContext } from './types';

export interface Summary {
  rps: number;
  p50: number;
  p99: number;
  cpuUs: number;
  webCores: number;
  helperCores: number;
  machineCores: number;
}

export function summarise(ms: Measurement[]): Summary {
  return {
    rps: median(ms.map((m) => m.load.rps)),
    p50: median(ms.map((m) => m.load.p50)),
    p99: median(ms.map((m) => m.load.p99)),
    cpuUs: median(ms.map((m) => m.webCpuPerRequestUs)),
    webCores: median(ms.map((m) => m.cores.web)),
    helperCores: median(ms.map((m) => m.cores.load + m.cores.retell + m.cores.redis)),
    machineCores: median(ms.map((m) => m.cores.machine)),
  };
}

/** Problems a run must not have: errors, non-2xx, or (for the unique-call runs) answers that are not a SIP dial. */
export function anomalies(ms: Measurement[], expectSip: boolean): string[] {
  const out: string[] = [];
  for (const m of ms) {
    const l = m.load;
    const bad = [
      l.errors ? `${l.errors} socket errors` : '',
      l.timeouts ? `${l.timeouts} timeouts` : '',
      l.non2xx ? `${l.non2xx} non-2xx` : '',
      expectSip && l.fallback ? `${l.fallback} fallback answers` : '',
      l.signedLive ? `${l.signedLive} bodies signed during the run` : '',
    ].filter(Boolean);
    if (bad.length) out.push(`${m.target} c=${m.connections}: ${bad.join(', ')}`);
  }
  return out;
}

const WARMUP_SEC = 5;

export const voiceScenario: Scenario = {
  name: 'voice',
  async run(ctx: ScenarioContext): Promise<Section[]> {
    const { env, flags, naive, pools } = ctx;
    if (!naive) return [];
    const bridges = bridgesOf(ctx);
    const targets = [...bridges, naive];
    const maxC = Math.max(...flags.connections);

    // Until the JIT has compiled the hot paths and the heap has grown to its working size, a process
    // is markedly slower; neither is measured before that.
    ctx.log(`warm-up, ${WARMUP_SEC} s each (not measured)`);
    for (const t of targets) {
      const m = await measure(env, t, {
        connections: maxC,
        durationSec: WARMUP_SEC,
        callSids: 'unique',
        poolSize: pools.size(t.name, WARMUP_SEC, maxC),
      });
      pools.seen(t.name, m.load.rps);
    }

    const all: Measurement[] = [];
    for (const c of flags.connections) {
      for (let round = 0; round < flags.rounds; round++) {
        // Each round starts with a different target, so none is always measured first or last.
        const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
        for (const t of order) {
          const m = await measure(env, t, {
            connections: c,
            durationSec: flags.duration,
            callSids: 'unique',
            poolSize: pools.size(t.name, flags.duration, c),
          });
          pools.seen(t.name, m.load.rps);
          all.push(m);
          ctx.log(
            `c=${c} round ${round + 1} ${t.name}: ${fmt.int(m.load.rps)} req/s, p50 ${fmt.ms(m.load.p50)} ms, ` +
              `p99 ${fmt.ms(m.load.p99)} ms, ${fmt.us(m.webCpuPerRequestUs)} CPU/req, web ${fmt.pct(m.cores.web * 100)} of a core`,
          );
        }
      }
    }

    const rows: string[][] = [];
    const notes: string[] = [];
    const summary: Record<string, Record<string, Summary & { ratio?: number; pairedRatio?: number }>> = {};
    const runsOf = (name: string, c: number) => all.filter((m) => m.target === name && m.connections === c);
    for (const c of flags.connections) {
      const n = summarise(runsOf(naive.name, c));
      summary[c] = { [naive.name]: n };
      for (const b of bridges) {
        const o = summarise(runsOf(b.name, c));
        // Rounds are paired in time, so the median of the per-round ratios discounts slow drifts in
        // the machine's background load.
        const paired = median(runsOf(b.name, c).map((m, i) => m.load.rps / (runsOf(naive.name, c)[i]?.load.rps ?? NaN)));
        summary[c]![b.name] = { ...o, ratio: o.rps / n.rps, pairedRatio: paired };
        rows.push([String(c), label(ctx, b), fmt.int(o.rps), fmt.ms(o.p50), fmt.ms(o.p99), fmt.us(o.cpuUs), fmt.pct(o.webCores * 100)]);
      }
      rows.push([String(c), 'naive (Retell guide)', fmt.int(n.rps), fmt.ms(n.p50), fmt.ms(n.p99), fmt.us(n.cpuUs), fmt.pct(n.webCores * 100)]);
      for (const b of bridges) {
        const o = summary[c]![b.name]!;
        rows.push([
          String(c),
          `**${b.name} ÷ naive**`,
          `**${fmt.x(o.rps / n.rps)}**`,
          fmt.x(o.p50 / n.p50),
          fmt.x(o.p99 / n.p99),
          fmt.x(o.cpuUs / n.cpuUs),
          '',
        ]);
      }
      const rounds = (name: string) =>
        runsOf(name, c)
          .map((m) => fmt.int(m.load.rps))
          .join(' / ');
      notes.push(
        `c=${c} req/s by round: ${targets.map((t) => `${t.name} ${rounds(t.name)}`).join('; ')}; ` +
          bridges.map((b) => `median of per-round ${b.name} ÷ naive ${fmt.x(summary[c]![b.name]!.pairedRatio!)}`).join(', '),
      );
    }
    const helper = summarise(all);
    notes.push(
      `load generator + fake Retell + Redis used ${helper.helperCores.toFixed(2)} cores (median); whole machine ${helper.machineCores.toFixed(2)} of ${os.cpus().length} cores, other tenants included`,
    );
    notes.push(...anomalies(all, true).map((a) => `anomaly: ${a}`));

    const peak: Section = {
      title: 'Memory under load (VmHWM, whole run so far)',
      header: ['process', 'peak RSS', 'RSS now'],
      rows: targets.map((t) => [`${t.name} web`, fmt.mb(BenchEnv.peakRss(t.pids)), fmt.mb(BenchEnv.rss(t.pids))]),
      notes: [],
    };

    return [
      {
        title: `New calls: unique signed CallSids, ${flags.duration} s runs, median of ${flags.rounds} rounds in rotating order`,
        header: ['conns', 'bridge', 'req/s', 'p50 ms', 'p99 ms', 'web CPU/req', 'web core use'],
        rows,
        notes,
        data: { summary, runs: all },
      },
      peak,
    ];
  },
};

/** The bridges under test: this checkout's, and each candidate checkout's. */
export function bridgesOf(ctx: ScenarioContext): WebTarget[] {
  return [ctx.ours, ...ctx.candidates];
}

function label(ctx: ScenarioContext, t: WebTarget): string {
  const i = ctx.candidates.indexOf(t);
  return i < 0 ? 'bridge (all guards on)' : `${t.name} (${ctx.flags.candidates[i]})`;
}
