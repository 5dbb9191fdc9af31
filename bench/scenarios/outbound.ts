/**
 * Outbound calls: POST /calls through the queue and the worker to Twilio's `calls.create`.
 *
 * A web process and a worker process of the bridge of their own (same Redis prefix, the fake Twilio API
 * as TWILIO_API_BASE_URL, API_TOKEN and OUTBOUND_FROM_NUMBER set). The fake Twilio API plays every call
 * as a busy callee: its status callbacks (initiated, ringing, completed) go back to the web process,
 * signed, so the bridge does all of a call's work except the Retell registration.
 *
 * - Placement rate: `burst` calls posted at once, for each TWILIO_CPS (the worker restarted with it);
 *   the rate is (calls − 1) / (last create − first create), read from the creates' arrival times.
 * - Latency: calls posted at a steady `paceRps`, below the limit, so none waits for the limiter; for each,
 *   the time from sending POST /calls to the arrival of its `POST …/Calls.json` at the fake Twilio API
 *   (the Retell capacity check included). Both wall-clock ms, sub-ms resolution, in two processes on one
 *   machine.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { BenchEnv, type WebTarget } from '../lib/harness';
import { fmt, median, type Section } from '../lib/report';
import { maxInWindow } from '../lib/measure';
import type { Scenario, ScenarioContext } from './types';

export interface OutboundOptions {
  /** TWILIO_CPS values to measure the placement rate at. */
  cps: number[];
  /** Calls posted at once per CPS value; at least enough for a few seconds of placing. */
  burst: (cps: number) => number;
  /** Calls paced for the latency measurement, and their rate. */
  latencyCalls: number;
  paceRps: number;
  /** TWILIO_CPS during the latency measurement (well above paceRps). */
  latencyCps: number;
}

export const DEFAULT_OUTBOUND_OPTIONS: OutboundOptions = {
  cps: [1, 50],
  burst: (cps) => (cps === 1 ? 8 : cps * 6),
  latencyCalls: 200,
  paceRps: 20,
  latencyCps: 50,
};

const API_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const FROM = '+14155550100';
const TO = '+14155550199';
const SETTLE_TIMEOUT_MS = 60_000;

const wallNow = () => performance.timeOrigin + performance.now();

function minGap(sorted: number[]): number {
  let gap = Infinity;
  for (let i = 1; i < sorted.length; i++) gap = Math.min(gap, sorted[i]! - sorted[i - 1]!);
  return gap;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

interface Posted {
  id: string;
  sentAt: number;
  answerMs: number;
  status: number;
}

async function post(web: WebTarget, i: number): Promise<Posted> {
  const sentAt = wallNow();
  const res = await fetch(`${web.url}/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ to: TO, dynamic_variables: { n: String(i) } }),
  });
  const body = (await res.json().catch(() => ({}))) as { id?: string };
  return { id: body.id ?? '', sentAt, answerMs: wallNow() - sentAt, status: res.status };
}

/** Waits until the fake Twilio API has created every one of `ids`; returns their arrival times by id. */
async function createsFor(ctx: ScenarioContext, ids: string[]): Promise<{ at: Map<string, number>; callbacks: { ok: number; failed: number }; extra: number }> {
  const at = new Map<string, number>();
  const callbacks = { ok: 0, failed: 0 };
  const wanted = new Set(ids);
  let extra = 0;
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const got = await ctx.env.takeCreates();
    callbacks.ok += got.callbacks.ok;
    callbacks.failed += got.callbacks.failed;
    for (const c of got.creates) {
      if (!wanted.has(c.id) || at.has(c.id)) extra += 1;
      else at.set(c.id, c.at);
    }
    if (at.size === wanted.size) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Let the last calls' callbacks and any second create (a call placed twice) show up.
  await new Promise((r) => setTimeout(r, 1000));
  const late = await ctx.env.takeCreates();
  callbacks.ok += late.callbacks.ok;
  callbacks.failed += late.callbacks.failed;
  extra += late.creates.length;
  return { at, callbacks, extra };
}

export function outboundScenario(opts: OutboundOptions = DEFAULT_OUTBOUND_OPTIONS): Scenario {
  return {
    name: 'outbound',
    async run(ctx: ScenarioContext): Promise<Section[]> {
      const { env } = ctx;
      const twilioUrl = await env.startFakeTwilio();
      const prefix = `bench-out-${randomBytes(4).toString('hex')}`;
      const shared = { TWILIO_API_BASE_URL: twilioUrl, API_TOKEN, OUTBOUND_FROM_NUMBER: FROM };
      const web = await env.startBridge({ cpus: env.cpus.web, name: 'bridge web (outbound)', prefix, env: shared });
      await env.outboundSetup(web.url, [FROM], { answer: 'busy', ringMs: 20 });
      await env.takeCreates();
      const startWorker = (cps: number) =>
        env.startWorker({ cpus: env.cpus.web, name: `bridge worker (TWILIO_CPS=${cps})`, prefix, env: { ...shared, TWILIO_CPS: String(cps), WORKER_CONCURRENCY: '50' } });

      const rates: Array<{ cps: number; calls: number; spanS: number; rate: number; maxIn1s: number; minGapMs: number; webCpuUs: number; workerCpuUs: number; placed: number; extra: number; callbacksFailed: number }> = [];
      const problems: string[] = [];
      let latency: { p50: number; p90: number; p99: number; max: number; answerP50: number; answerP99: number; n: number } | undefined;
      try {
        for (const cps of opts.cps) {
          const worker = await startWorker(cps);
          try {
            // Warm-up: the worker's first Twilio and Retell requests open their connections.
            const warm = await post(web, -1);
            await createsFor(ctx, [warm.id]);
            const n = opts.burst(cps);
            ctx.log(`outbound: ${n} calls at once, TWILIO_CPS=${cps}`);
            const before = env.cpuSnapshot([...web.pids, ...worker.pids]);
            const posted = await Promise.all(Array.from({ length: n }, (_, i) => post(web, i)));
            const refused = posted.filter((p) => p.status !== 202).length;
            if (refused) problems.push(`CPS ${cps}: ${refused} POST /calls not answered 202`);
            const { at, callbacks, extra } = await createsFor(ctx, posted.map((p) => p.id));
            const after = env.cpuSnapshot([...web.pids, ...worker.pids]);
            const cpuUs = (pids: number[]) => (BenchEnv.cpuMsBetween(before, after, pids) * 1000) / n;
            const times = [...at.values()].sort((a, b) => a - b);
            const spanS = times.length > 1 ? (times[times.length - 1]! - times[0]!) / 1000 : NaN;
            const rate = (times.length - 1) / spanS;
            rates.push({ cps, calls: n, spanS, rate, maxIn1s: maxInWindow(times, 1000), minGapMs: minGap(times), webCpuUs: cpuUs(web.pids), workerCpuUs: cpuUs(worker.pids), placed: at.size, extra, callbacksFailed: callbacks.failed });
            ctx.log(`outbound CPS=${cps}: ${at.size}/${n} placed over ${spanS.toFixed(2)} s = ${rate.toFixed(2)} calls/s`);

            if (cps === opts.latencyCps) {
              ctx.log(`outbound: ${opts.latencyCalls} calls at ${opts.paceRps}/s for the POST → calls.create latency`);
              const paced: Array<Promise<Posted>> = [];
              const t0 = wallNow();
              for (let i = 0; i < opts.latencyCalls; i++) {
                const due = t0 + (i * 1000) / opts.paceRps;
                const wait = due - wallNow();
                if (wait > 0) await new Promise((r) => setTimeout(r, wait));
                paced.push(post(web, i));
              }
              const done = await Promise.all(paced);
              const created = await createsFor(ctx, done.map((p) => p.id));
              const ms = done.filter((p) => created.at.has(p.id)).map((p) => created.at.get(p.id)! - p.sentAt);
              latency = {
                n: ms.length,
                p50: median(ms),
                p90: percentile(ms, 0.9),
                p99: percentile(ms, 0.99),
                max: Math.max(...ms),
                answerP50: median(done.map((p) => p.answerMs)),
                answerP99: percentile(done.map((p) => p.answerMs), 0.99),
              };
              if (created.extra) problems.push(`latency run: ${created.extra} creates beyond one per call`);
              ctx.log(`outbound latency: POST → calls.create p50 ${fmt.ms(latency.p50)} ms p99 ${fmt.ms(latency.p99)} ms`);
            }
          } finally {
            await worker.stop();
          }
        }
      } finally {
        await web.stop();
      }
      for (const r of rates) {
        if (r.placed !== r.calls) problems.push(`CPS ${r.cps}: ${r.placed} of ${r.calls} calls placed`);
        if (r.extra) problems.push(`CPS ${r.cps}: ${r.extra} creates beyond one per call`);
        if (r.callbacksFailed) problems.push(`CPS ${r.cps}: ${r.callbacksFailed} status callbacks not answered 2xx`);
      }
      const sections: Section[] = [
        {
          title: 'Outbound calls: placement rate (POST /calls → queue → worker → calls.create)',
          header: ['TWILIO_CPS', 'calls posted at once', 'placed', 'first → last create', 'calls placed / s', 'most in any 1 s', 'shortest gap', 'web CPU/call', 'worker CPU/call'],
          rows: rates.map((r) => [
            String(r.cps),
            String(r.calls),
            `${r.placed}/${r.calls}`,
            `${r.spanS.toFixed(2)} s`,
            r.rate.toFixed(2),
            String(r.maxIn1s),
            `${fmt.ms(r.minGapMs)} ms`,
            fmt.us(r.webCpuUs),
            fmt.us(r.workerCpuUs),
          ]),
          notes: [
            'calls/s = (calls − 1) ÷ (last create − first create), arrival times at the fake Twilio API; "most in any 1 s": the largest number of creates in any 1-second window; "shortest gap": between two consecutive creates (the worker spaces its requests 1000/TWILIO_CPS ms apart on the Redis clock; what follows its turn, a Redis script and the request, adds jitter); one worker process (WORKER_CONCURRENCY=50), restarted per TWILIO_CPS, after a one-call warm-up',
            'every callee is busy after 20 ms of ringing; its status callbacks (initiated, ringing, completed) go to the web process, signed; CPU per call covers the POST, the placement and the callbacks',
            ...problems.map((p) => `anomaly: ${p}`),
          ],
          data: { rates },
        },
      ];
      if (latency) {
        sections.push({
          title: `Outbound calls: POST /calls → calls.create request (${latency.n} calls at ${opts.paceRps}/s, TWILIO_CPS=${opts.latencyCps})`,
          header: ['p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'POST answer p50 ms', 'POST answer p99 ms'],
          rows: [[fmt.ms(latency.p50), fmt.ms(latency.p90), fmt.ms(latency.p99), fmt.ms(latency.max), fmt.ms(latency.answerP50), fmt.ms(latency.answerP99)]],
          notes: [
            'from sending POST /calls to the arrival of its POST …/Calls.json at the fake Twilio API: the web process (token, validation, record, queue add), the queue, the worker (record, Retell get-concurrency, ringing-slot script, placement script) and the request',
            env.pinned ? 'web and worker share CPU 0; fake Twilio API, fake Retell API, Redis and the sender CPU 1' : 'nothing pinned',
          ],
          data: { latency },
        });
      }
      return sections;
    },
  };
}
