/**
 * What tracing costs the voice webhook: the same bridge with tracing off (no OTEL_* endpoint, the SDK not
 * loaded) and on (exporting every span to a local OTLP/HTTP receiver, always sampled), and with
 * `--candidate` a checkout from before tracing, side by side in one run (rounds rotating which goes
 * first), new calls with unique signed CallSids. The goal: off costs nothing measurable against the
 * code without tracing; on costs what the five spans of a call (webhook, claim, registration and its
 * Retell request, record) and their export do.
 */
import os from 'node:os';
import type { WebTarget } from '../lib/harness';
import { measure, type Measurement } from '../lib/measure';
import { nextMessage, runTs, spawnTs } from '../lib/proc';
import { fmt, median, type Section } from '../lib/report';
import type { Scenario, ScenarioContext } from './types';
import { anomalies, summarise } from './voice';

const WARMUP_SEC = 5;
/** Webhooks per run of bench/programs/span-cost.ts. */
const SPAN_COST_WEBHOOKS = 50_000;
/** At least this many paired rounds: the differences looked for are a few per cent. */
const MIN_ROUNDS = 5;

type Stats = { type: 'stats'; exports: number; spans: number };

export const tracesScenario: Scenario = {
  name: 'traces',
  async run(ctx: ScenarioContext): Promise<Section[]> {
    const { env, flags, pools } = ctx;
    const allCpus = `0-${os.cpus().length - 1}`;
    // With the helpers (Redis, fake Retell, load generator): its CPU is not the web process's.
    const receiver = spawnTs('otlp-receiver', 'bench/programs/otlp-receiver.ts', { cpus: env.cpus.rest ?? allCpus, ipc: true, nice: -10 });
    const { url } = await nextMessage(receiver, (m): m is { type: 'ready'; url: string } => (m as { type?: string })?.type === 'ready');
    const stats = async () => {
      receiver.child.send({ type: 'stats' });
      return nextMessage(receiver, (m): m is Stats => (m as { type?: string })?.type === 'stats');
    };
    const off = ctx.ours;
    const on = await env.startBridge({ cpus: env.cpus.web, name: 'tracing on', env: { OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_TRACES_SAMPLER: 'always_on' } });
    const [root] = flags.candidates;
    const ownCandidate = !ctx.candidates[0] && root ? await env.startBridge({ cpus: env.cpus.web, name: 'candidate', root }) : undefined;
    const candidate = ctx.candidates[0] ?? ownCandidate;
    try {
      const targets: WebTarget[] = [off, on, ...(candidate ? [candidate] : [])];
      const rounds = Math.max(flags.rounds, MIN_ROUNDS);
      const maxC = Math.max(...flags.connections);
      ctx.log(`traces: warm-up, ${WARMUP_SEC} s each (not measured)`);
      for (const t of targets) {
        const m = await measure(env, t, { connections: maxC, durationSec: WARMUP_SEC, callSids: 'unique', poolSize: pools.size(t.name, WARMUP_SEC, maxC) });
        pools.seen(t.name, m.load.rps);
      }
      // The warm-up's last spans arrive before the first measured run counts any.
      await new Promise((r) => setTimeout(r, 1500));

      const all: Measurement[] = [];
      let spans = 0;
      let tracedCalls = 0;
      for (const c of flags.connections) {
        for (let round = 0; round < rounds; round++) {
          // Each target goes first, second and last in turn.
          const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
          for (const t of order) {
            const before = t === on ? await stats() : undefined;
            const m = await measure(env, t, { connections: c, durationSec: flags.duration, callSids: 'unique', poolSize: pools.size(t.name, flags.duration, c) });
            pools.seen(t.name, m.load.rps);
            all.push(m);
            if (before) {
              // The last batch goes out within a second of the run.
              await new Promise((r) => setTimeout(r, 1500));
              spans += (await stats()).spans - before.spans;
              tracedCalls += m.load.requests;
            }
            ctx.log(`traces c=${c} round ${round + 1} ${t.name}: ${fmt.int(m.load.rps)} req/s, ${fmt.us(m.webCpuPerRequestUs)} CPU/req`);
          }
        }
      }

      const rows: string[][] = [];
      const notes: string[] = [];
      const summary: Record<string, unknown> = {};
      for (const c of flags.connections) {
        const runs = (t: WebTarget) => all.filter((m) => m.target === t.name && m.connections === c);
        // Rounds are paired in time: the median of the per-round ratios discounts slow drifts of the machine.
        const paired = (a: WebTarget, b: WebTarget) => median(runs(a).map((m, i) => m.webCpuPerRequestUs / (runs(b)[i]?.webCpuPerRequestUs ?? NaN)));
        const row = (t: WebTarget, label: string) => {
          const s = summarise(runs(t));
          rows.push([String(c), label, fmt.int(s.rps), fmt.ms(s.p50), fmt.ms(s.p99), fmt.us(s.cpuUs)]);
          return s;
        };
        const o = row(off, 'tracing off');
        const n = row(on, 'tracing on (every call, to a local receiver)');
        const onRatio = paired(on, off);
        rows.push([String(c), '**on ÷ off**', fmt.x(n.rps / o.rps), fmt.x(n.p50 / o.p50), fmt.x(n.p99 / o.p99), `**${fmt.x(onRatio)}**`]);
        notes.push(`c=${c}: CPU per new call with tracing on is ${fmt.x(onRatio)} that with tracing off (median of per-round ratios; medians ${fmt.us(n.cpuUs)} vs ${fmt.us(o.cpuUs)})`);
        summary[c] = { off: o, on: n, onOffCpuRatio: onRatio };
        if (candidate) {
          const b = row(candidate, `without tracing (${root ?? 'candidate'})`);
          const offRatio = paired(off, candidate);
          rows.push([String(c), '**off ÷ without**', fmt.x(o.rps / b.rps), fmt.x(o.p50 / b.p50), fmt.x(o.p99 / b.p99), `**${fmt.x(offRatio)}**`]);
          notes.push(
            `c=${c}: CPU per new call with tracing off is ${fmt.x(offRatio)} that of the code without tracing (median of per-round ratios; medians ${fmt.us(o.cpuUs)} vs ${fmt.us(b.cpuUs)})`,
          );
          summary[c] = { ...(summary[c] as object), without: b, offWithoutCpuRatio: offRatio };
        }
      }
      notes.push(`tracing on: ${fmt.int(spans)} spans received for ${fmt.int(tracedCalls)} calls (${(spans / tracedCalls).toFixed(2)} a call)`);
      if (!candidate) notes.push('no --candidate given: run with --candidate <a checkout from before tracing> to compare tracing off with the code without it');
      notes.push(...anomalies(all, true).map((a) => `anomaly: ${a}`));

      // The spans alone, without the webhook around them: the CPU time above swings by tens of per cent on
      // a shared machine, this much less.
      const costs: Record<string, number[]> = { bare: [], off: [], on: [] };
      for (let round = 0; round < rounds; round++) {
        for (const mode of round % 2 ? ['on', 'off', 'bare'] : ['bare', 'off', 'on']) {
          const out = await runTs(`span-cost ${mode}`, 'bench/programs/span-cost.ts', {
            cpus: env.cpus.web,
            env: { SPAN_COST_MODE: mode, SPAN_COST_WEBHOOKS: String(SPAN_COST_WEBHOOKS), OTEL_EXPORTER_OTLP_ENDPOINT: url },
          });
          costs[mode]!.push((JSON.parse(out.trim().split('\n').pop()!) as { cpuUs: number }).cpuUs);
        }
      }
      const cost = (mode: string) => median(costs[mode]!);
      const offWebhook = summarise(all.filter((m) => m.target === off.name)).cpuUs;
      const spanRows = [
        ['the same awaits, no span calls', cost('bare').toFixed(2), '–'],
        ['tracing off (the default)', cost('off').toFixed(2), `${(((cost('off') - cost('bare')) / offWebhook) * 100).toFixed(3)} %`],
        ['tracing on, exported to the local receiver', cost('on').toFixed(2), `${(((cost('on') - cost('bare')) / offWebhook) * 100).toFixed(2)} %`],
      ];
      ctx.log(`traces: span cost bare ${cost('bare').toFixed(2)} µs, off ${cost('off').toFixed(2)} µs, on ${cost('on').toFixed(2)} µs per webhook`);
      return [
        {
          title: `Traces: the voice webhook with tracing off and on${candidate ? ', and without tracing' : ''}, new calls, ${flags.duration} s runs, median of ${rounds} rounds rotating`,
          header: ['conns', 'bridge', 'req/s', 'p50 ms', 'p99 ms', 'web CPU/req'],
          rows,
          notes,
          data: { summary, spans, tracedCalls, runs: all },
        },
        {
          title: `Traces: the five spans of a new-call webhook by themselves (bench/programs/span-cost.ts), ${fmt.int(SPAN_COST_WEBHOOKS)} webhooks a run, median of ${rounds}`,
          header: ['spans', 'CPU µs per webhook', 'added, of a webhook\'s CPU with tracing off'],
          rows: spanRows,
          notes: [`a webhook's CPU with tracing off: ${fmt.us(offWebhook)} (the median above)`],
          data: { costs },
        },
      ];
    } finally {
      await on.stop();
      await ownCandidate?.stop();
      await receiver.stop();
    }
  },
};
