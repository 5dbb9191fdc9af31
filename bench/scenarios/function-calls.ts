/**
 * Retell function calls through the queue and the worker to the Twilio REST API.
 *
 * A web process and a worker process of the bridge of their own (same Redis prefix, the fake Twilio
 * API as TWILIO_API_BASE_URL, one transfer destination), so their peak memory reflects this load
 * alone. For each call: the signed voice webhook creates the call record and registers the call with
 * the fake Retell API (its call_id comes back in the `<Sip>` URI), and the call is made live on the
 * fake Twilio API. Then signed `transfer_call` (half the calls) and `end_call` (the other half)
 * function calls are sent at a fixed concurrency, and for every call the time from sending the
 * function call to the arrival of its `POST /2010-04-01/Accounts/{AC}/Calls/{CallSid}.json` at the
 * fake Twilio API is taken. Both times are wall-clock ms with sub-ms resolution, read in two
 * processes on one machine.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sign } from 'retell-sdk';
import { functionCallBody } from '../../tests/support/retell-signing';
import { ACCOUNT_SID, postSigned, voiceParams } from '../../tests/support/twilio-signing';
import type { CallUpdate } from '../programs/fake-twilio-server';
import { Queue } from 'bullmq';
import { CALL_ACTIONS_QUEUE, queuePrefix } from '../../src/jobs/queues';
import { BenchEnv, PUBLIC_URL, RETELL_KEY, type WebTarget } from '../lib/harness';
import { machineCpuMs } from '../lib/proc';
import { fmt, median, type Section } from '../lib/report';
import type { Scenario, ScenarioContext } from './types';

export interface FunctionCallOptions {
  /** Calls per measured batch (each gets one function call). */
  calls: number;
  /** Function calls in flight at once, one batch per level (1: each sent when the previous one was answered). */
  concurrency: number[];
  /** WORKER_CONCURRENCY of the worker process. */
  workerConcurrency: number;
  /** Function calls queued while the queue is paused, then drained by the worker alone (its jobs/s). */
  drainJobs: number;
}

export const DEFAULT_FUNCTION_CALL_OPTIONS: FunctionCallOptions = { calls: 300, concurrency: [1, 10, 50], workerConcurrency: 10, drainJobs: 1000 };

const TRANSFER_NUMBER = '+14155550101';
/** The transfer destinations the function calls name (TRANSFER_DESTINATIONS of the web process). */
export const DESTINATIONS = { sales: TRANSFER_NUMBER };
const WARMUP_CALLS = 100;
/** How long the fake Twilio API may take to see every update of a batch before the batch counts the rest as missing. */
const SETTLE_TIMEOUT_MS = 30_000;

export const wallNow = () => performance.timeOrigin + performance.now();

export interface LiveCall {
  callSid: string;
  callId: string;
  fn: 'transfer_call' | 'end_call';
}

export interface Sent {
  call: LiveCall;
  /** Wall-clock ms just before the request was written. */
  sentAt: number;
  /** Function call's HTTP answer time (until its body was read), ms. */
  answerMs: number;
  httpStatus: number;
  answerStatus: string | undefined;
}

export interface BatchResult {
  concurrency: number;
  calls: number;
  /** Function call sent → Twilio request arrived, ms. */
  toTwilio: { min: number; p50: number; p90: number; p99: number; max: number };
  /** The function call's own HTTP answer, ms. */
  answer: { p50: number; p99: number };
  /** Twilio updates per second, from the first function call sent to the last update's arrival. */
  jobsPerSecond: number;
  /** CPU time per call, µs. */
  webCpuUs: number;
  workerCpuUs: number;
  /** Calls that got exactly one update of the expected shape, answered 200, after a 200 `queued` answer. */
  correct: number;
  problems: string[];
}

/** Nearest-rank percentile of an unsorted list. */
function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
async function pool<T, R>(items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return out;
}

/** Plays `n` calls' voice webhooks through the bridge and makes them live on the fake Twilio API. */
export async function liveCalls(env: BenchEnv, web: WebTarget, n: number): Promise<LiveCall[]> {
  const calls = await pool(
    Array.from({ length: n }, (_, i) => i),
    10,
    async (i): Promise<LiveCall> => {
      const params = voiceParams();
      const res = await postSigned(web.url, PUBLIC_URL, '/twilio/voice', params);
      const twiml = await res.text();
      const callId = /sip:(call_[0-9a-f]+)@/.exec(twiml)?.[1];
      if (res.status !== 200 || !callId) throw new Error(`voice webhook answered ${res.status} without a <Sip> dial: ${twiml.slice(0, 200)}`);
      return { callSid: params.CallSid!, callId, fn: i % 2 === 0 ? 'transfer_call' : 'end_call' };
    },
  );
  await env.addTwilioCalls(calls.map((c) => c.callSid));
  return calls;
}

/** The body Retell posts to a custom function URL, and its `x-retell-signature`. */
async function signedFunctionCall(call: LiveCall): Promise<{ raw: string; signature: string }> {
  const body = functionCallBody(call.fn, call.callId, call.fn === 'transfer_call' ? { destination: 'sales' } : {}, {
    agent_id: 'agent_bench',
    metadata: { twilio_call_sid: call.callSid, twilio_account_sid: ACCOUNT_SID },
  });
  const raw = JSON.stringify(body);
  return { raw, signature: await sign(raw, RETELL_KEY) };
}

function expectedUpdate(call: LiveCall, u: CallUpdate): boolean {
  if (u.answered !== 200) return false;
  if (call.fn === 'end_call') return u.status === 'completed' && u.twiml === undefined;
  return u.twiml !== undefined && u.twiml.includes('<Dial') && u.twiml.includes(`<Number>${TRANSFER_NUMBER}</Number>`);
}

/** Sends each call's signed function call to `web`, at most `concurrency` at once; each answer is read in full. */
export async function sendFunctionCalls(web: WebTarget, calls: LiveCall[], concurrency: number): Promise<Sent[]> {
  const bodies = await Promise.all(calls.map(signedFunctionCall));
  return pool(
    calls.map((call, i) => ({ call, body: bodies[i]! })),
    concurrency,
    async ({ call, body }): Promise<Sent> => {
      const sentAt = wallNow();
      try {
        const res = await fetch(`${web.url}/retell/functions/${call.fn}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-retell-signature': body.signature },
          body: body.raw,
        });
        const answer = (await res.json().catch(() => ({}))) as { status?: string };
        return { call, sentAt, answerMs: wallNow() - sentAt, httpStatus: res.status, answerStatus: answer.status };
      } catch (err) {
        return { call, sentAt, answerMs: wallNow() - sentAt, httpStatus: 0, answerStatus: (err as Error).message };
      }
    },
  );
}

/** Call updates at the fake Twilio API, by CallSid, and requests that were not call updates. */
export class UpdateCollector {
  readonly updates = new Map<string, CallUpdate[]>();
  others = 0;

  constructor(private readonly env: BenchEnv) {}

  async collect(): Promise<void> {
    const got = await this.env.takeTwilioUpdates();
    this.others += got.others;
    for (const u of got.updates) this.updates.set(u.callSid, [...(this.updates.get(u.callSid) ?? []), u]);
  }

  /** Collects until every call in `sids` has an update, or SETTLE_TIMEOUT_MS has passed. */
  async awaitAll(sids: string[]): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    for (;;) {
      await this.collect();
      if (sids.every((sid) => this.updates.has(sid)) || Date.now() > deadline) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits a little and collects again: a job run twice would show as a late second update. */
  async lateOnes(): Promise<void> {
    await new Promise((r) => setTimeout(r, 300));
    await this.collect();
  }

  /**
   * Calls whose function call was queued (200) and that got exactly one update of the expected shape,
   * answered 200; the rest described (at most 5), and the arrival of each call's first update.
   */
  check(sent: Sent[], calls: LiveCall[]): { correct: number; problems: string[]; arrivals: Map<string, number> } {
    const problems: string[] = [];
    const arrivals = new Map<string, number>();
    let correct = 0;
    for (const s of sent) {
      const us = this.updates.get(s.call.callSid) ?? [];
      const first = us[0];
      if (first) arrivals.set(s.call.callSid, first.at);
      const ok = s.httpStatus === 200 && s.answerStatus === 'queued' && us.length === 1 && expectedUpdate(s.call, first!);
      if (ok) correct += 1;
      else if (problems.length < 5) {
        problems.push(
          `${s.call.fn} ${s.call.callSid}: answered ${s.httpStatus} ${s.answerStatus ?? ''}, ${us.length} update(s)` +
            (first ? ` (HTTP ${first.answered}, ${first.status ?? first.twiml?.slice(0, 80) ?? 'no body'})` : ''),
        );
      }
    }
    const wanted = new Set(calls.map((c) => c.callSid));
    const stray = [...this.updates.keys()].filter((sid) => !wanted.has(sid)).length;
    if (stray) problems.push(`${stray} updates for calls outside the batch`);
    if (this.others) problems.push(`${this.others} other requests reached the fake Twilio API`);
    return { correct, problems, arrivals };
  }
}

/** One batch: `calls` function calls at `concurrency`, every Twilio update awaited. */
async function batch(env: BenchEnv, web: WebTarget, worker: WebTarget, n: number, concurrency: number): Promise<BatchResult> {
  const calls = await liveCalls(env, web, n);
  await env.takeTwilioUpdates(); // anything left over belongs to an earlier batch

  const pids = [...web.pids, ...worker.pids];
  const before = env.cpuSnapshot(pids);
  const sent = await sendFunctionCalls(web, calls, concurrency);
  const updates = new UpdateCollector(env);
  await updates.awaitAll(calls.map((c) => c.callSid));
  const after = env.cpuSnapshot(pids);
  await updates.lateOnes();
  const { correct, problems, arrivals } = updates.check(sent, calls);

  const toTwilio = sent.filter((s) => arrivals.has(s.call.callSid)).map((s) => arrivals.get(s.call.callSid)! - s.sentAt);
  const lastArrival = Math.max(...arrivals.values());
  const firstSent = Math.min(...sent.map((s) => s.sentAt));
  const cpuUs = (p: number[]) => (BenchEnv.cpuMsBetween(before, after, p) * 1000) / n;
  return {
    concurrency,
    calls: n,
    toTwilio: { min: Math.min(...toTwilio), p50: median(toTwilio), p90: percentile(toTwilio, 0.9), p99: percentile(toTwilio, 0.99), max: Math.max(...toTwilio) },
    answer: { p50: median(sent.map((s) => s.answerMs)), p99: percentile(sent.map((s) => s.answerMs), 0.99) },
    jobsPerSecond: toTwilio.length / ((lastArrival - firstSent) / 1000),
    webCpuUs: cpuUs(web.pids),
    workerCpuUs: cpuUs(worker.pids),
    correct,
    problems,
  };
}

/** What draining a queued batch measured. */
export interface DrainResult {
  jobsPerSecond: number;
  /** Worker CPU per job, µs. */
  workerCpuUs: number;
  /** Cores kept busy while draining: the workers, the Redis holding the queue, the fake Twilio API, the whole machine. */
  cores: { workers: number; redis: number; twilio: number; machine: number };
  correct: number;
  problems: string[];
}

/**
 * Worker throughput: with the queue paused, `n` live calls' function calls are queued through `web`;
 * then the queue is resumed and `workers` drain it. jobs/s is the batch over the time from the resume
 * to the last request at the fake Twilio API. The queue is left paused.
 */
export async function drainBatch(
  env: BenchEnv,
  opts: { web: WebTarget; workers: WebTarget[]; queue: Queue; redisPid: number; n: number },
): Promise<DrainResult> {
  await opts.queue.pause();
  const calls = await liveCalls(env, opts.web, opts.n);
  await env.takeTwilioUpdates();
  const sent = await sendFunctionCalls(opts.web, calls, 20);
  const pids = opts.workers.flatMap((w) => w.pids);
  const tracked = [...pids, opts.redisPid, env.twilioPid!];
  const before = env.cpuSnapshot(tracked);
  const machineBefore = machineCpuMs();
  const resumedAt = wallNow();
  await opts.queue.resume();
  const updates = new UpdateCollector(env);
  await updates.awaitAll(calls.map((c) => c.callSid));
  const after = env.cpuSnapshot(tracked);
  const machineAfter = machineCpuMs();
  await updates.lateOnes();
  await opts.queue.pause();
  const { correct, problems, arrivals } = updates.check(sent, calls);
  const cores = (p: number[]) => BenchEnv.coresUsed(before, after, p);
  return {
    jobsPerSecond: arrivals.size / ((Math.max(...arrivals.values()) - resumedAt) / 1000),
    workerCpuUs: (BenchEnv.cpuMsBetween(before, after, pids) * 1000) / opts.n,
    cores: {
      workers: cores(pids),
      redis: cores([opts.redisPid]),
      twilio: cores([env.twilioPid!]),
      machine: (machineAfter.busy - machineBefore.busy) / (Number(after.at - before.at) / 1e6),
    },
    correct,
    problems,
  };
}

/** A web and a worker process of one checkout of the bridge, on a Redis prefix of their own, and a client of its queue. */
interface BridgePair {
  name: string;
  web: WebTarget;
  worker: WebTarget;
  queue: Queue;
}

/** Web and worker share CPU 0 (the bridge as a whole gets one core); the fakes, Redis and the sender CPU 1. */
async function startPair(ctx: ScenarioContext, opts: FunctionCallOptions, name: string, root: string | undefined): Promise<BridgePair> {
  const { env } = ctx;
  const twilioUrl = await env.startFakeTwilio();
  const prefix = `bench-fn-${randomBytes(4).toString('hex')}`;
  const shared = { TWILIO_API_BASE_URL: twilioUrl, TRANSFER_DESTINATIONS: JSON.stringify(DESTINATIONS) };
  const web = await env.startBridge({ cpus: env.cpus.web, name: `${name} web (functions)`, prefix, env: shared, root });
  const worker = await env.startWorker({
    cpus: env.cpus.web,
    name: `${name} worker`,
    prefix,
    root,
    env: { ...shared, WORKER_CONCURRENCY: String(opts.workerConcurrency) },
  });
  const queue = new Queue(CALL_ACTIONS_QUEUE, { connection: { url: env.redis.url }, prefix: queuePrefix(prefix) });
  return { name, web, worker, queue };
}

export function functionCallsScenario(opts: FunctionCallOptions = DEFAULT_FUNCTION_CALL_OPTIONS): Scenario {
  return {
    name: 'function-calls',
    async run(ctx: ScenarioContext): Promise<Section[]> {
      const { env, flags } = ctx;
      const pairs: BridgePair[] = [];
      try {
        pairs.push(await startPair(ctx, opts, 'bridge', undefined));
        const [candidate] = flags.candidates;
        if (candidate) pairs.push(await startPair(ctx, opts, 'candidate', candidate));
        for (const pair of pairs) {
          ctx.log(`function calls: ${pair.name} warm-up, ${WARMUP_CALLS} calls (not measured)`);
          await batch(env, pair.web, pair.worker, WARMUP_CALLS, Math.max(...opts.concurrency));
        }
        const results: Array<BatchResult & { bridge: string; round: number }> = [];
        for (const c of opts.concurrency) {
          for (let round = 0; round < flags.rounds; round++) {
            // Rotating order, so neither checkout always runs first (or just after the other's backlog).
            for (const pair of round % 2 === 0 ? pairs : [...pairs].reverse()) {
              const r = await batch(env, pair.web, pair.worker, opts.calls, c);
              results.push({ ...r, bridge: pair.name, round });
              ctx.log(
                `function calls ${pair.name} c=${c} round ${round + 1}: →Twilio p50 ${fmt.ms(r.toTwilio.p50)} ms p99 ${fmt.ms(r.toTwilio.p99)} ms, ` +
                  `answer p50 ${fmt.ms(r.answer.p50)} ms, ${fmt.int(r.jobsPerSecond)} jobs/s, worker ${fmt.us(r.workerCpuUs)}/job, ${r.correct}/${r.calls} correct`,
              );
            }
          }
        }
        // Worker throughput: the same checkouts, the queue filled while paused and then drained by the
        // worker alone (the web is idle meanwhile), so CPU 0 is the worker's.
        const drains: Array<DrainResult & { bridge: string }> = [];
        for (let round = 0; round < flags.rounds; round++) {
          for (const pair of round % 2 === 0 ? pairs : [...pairs].reverse()) {
            const d = await drainBatch(env, { web: pair.web, workers: [pair.worker], queue: pair.queue, redisPid: env.redis.proc.pid, n: opts.drainJobs });
            drains.push({ ...d, bridge: pair.name });
            ctx.log(
              `function calls ${pair.name} drain round ${round + 1}: ${fmt.int(d.jobsPerSecond)} jobs/s, worker ${fmt.us(d.workerCpuUs)}/job, ` +
                `${d.cores.workers.toFixed(2)} cores, ${d.correct}/${opts.drainJobs} correct`,
            );
          }
        }
        const memory = pairs.map((p) => ({
          name: p.name,
          web: { peak: BenchEnv.peakRss(p.web.pids), now: BenchEnv.rss(p.web.pids) },
          worker: { peak: BenchEnv.peakRss(p.worker.pids), now: BenchEnv.rss(p.worker.pids) },
        }));
        const med = (rs: BatchResult[], f: (r: BatchResult) => number) => median(rs.map(f));
        const rows = opts.concurrency.flatMap((c) =>
          pairs.map((pair) => {
            const rs = results.filter((r) => r.concurrency === c && r.bridge === pair.name);
            return [
              String(c),
              pair.name,
              fmt.ms(med(rs, (r) => r.toTwilio.p50)),
              fmt.ms(med(rs, (r) => r.toTwilio.p99)),
              fmt.ms(med(rs, (r) => r.toTwilio.max)),
              fmt.ms(med(rs, (r) => r.answer.p50)),
              fmt.ms(med(rs, (r) => r.answer.p99)),
              fmt.int(med(rs, (r) => r.jobsPerSecond)),
              fmt.us(med(rs, (r) => r.webCpuUs)),
              fmt.us(med(rs, (r) => r.workerCpuUs)),
              `${rs.reduce((a, r) => a + r.correct, 0)}/${rs.reduce((a, r) => a + r.calls, 0)}`,
            ];
          }),
        );
        const perRound = opts.concurrency.flatMap((c) =>
          pairs.map((pair) => {
            const rs = results.filter((r) => r.concurrency === c && r.bridge === pair.name);
            return `per round, ${pair.name} c=${c}: →Twilio p99 ${rs.map((r) => fmt.ms(r.toTwilio.p99)).join(' / ')} ms; jobs/s ${rs.map((r) => fmt.int(r.jobsPerSecond)).join(' / ')}; worker CPU/job ${rs.map((r) => fmt.us(r.workerCpuUs)).join(' / ')}`;
          }),
        );
        const notes = [
          `each batch: ${opts.calls} live calls (voice webhook first, not timed), half transfer_call to "sales" (${TRANSFER_NUMBER}), half end_call; ` +
            `WORKER_CONCURRENCY=${opts.workerConcurrency}; after a ${WARMUP_CALLS}-call warm-up; median of ${flags.rounds} batches per concurrency${pairs.length > 1 ? ', the two checkouts alternating' : ''}`,
          '→Twilio: function call sent → its POST …/Calls/{CallSid}.json arrived at the fake Twilio API; jobs/s: updates from the first function call sent to the last update',
          env.pinned ? 'web and worker share CPU 0; fake Twilio API, fake Retell API, Redis and the sender CPU 1' : 'nothing pinned',
          ...(flags.candidates[0] ? [`candidate: ${flags.candidates[0]}`] : []),
          ...perRound,
          ...results.flatMap((r) => r.problems.map((p) => `anomaly ${r.bridge} c=${r.concurrency}: ${p}`)),
        ];
        return [
          {
            title: `Function calls through the queue and worker to the Twilio REST API (${opts.calls} calls per batch, web and worker on one core)`,
            header: ['conc', 'bridge', '→Twilio p50 ms', '→Twilio p99 ms', '→Twilio max ms', 'answer p50 ms', 'answer p99 ms', 'jobs/s', 'web CPU/call', 'worker CPU/call', 'correct'],
            rows,
            notes,
            data: { options: opts, results, memory },
          },
          drainSection(`Worker throughput: ${opts.drainJobs.toLocaleString('en-US')} queued function calls drained by one worker process alone on CPU 0 (WORKER_CONCURRENCY=${opts.workerConcurrency}), median of ${flags.rounds} rounds`, drains, opts.drainJobs),
          {
            title: 'Memory under function-call load (VmHWM since start)',
            header: ['process', 'peak RSS', 'RSS now'],
            rows: memory.flatMap((m) => [
              [`${m.name} web (functions)`, fmt.mb(m.web.peak), fmt.mb(m.web.now)],
              [`${m.name} worker`, fmt.mb(m.worker.peak), fmt.mb(m.worker.now)],
            ]),
            notes: [],
          },
        ];
      } finally {
        for (const p of pairs) {
          await p.queue.close();
          await p.worker.stop();
          await p.web.stop();
        }
      }
    },
  };
}

/** The drain results as a table, one row per checkout (or per number of workers), with the cores each part kept busy. */
export function drainSection(title: string, drains: Array<DrainResult & { bridge: string }>, jobs: number): Section {
  const names = [...new Set(drains.map((d) => d.bridge))];
  const med = (ds: DrainResult[], f: (d: DrainResult) => number) => median(ds.map(f));
  return {
    title,
    header: ['bridge', 'jobs/s', 'worker CPU/job', 'worker cores', 'Redis cores', 'fake Twilio cores', 'machine cores', 'correct'],
    rows: names.map((name) => {
      const ds = drains.filter((d) => d.bridge === name);
      return [
        name,
        fmt.int(med(ds, (d) => d.jobsPerSecond)),
        fmt.us(med(ds, (d) => d.workerCpuUs)),
        med(ds, (d) => d.cores.workers).toFixed(2),
        med(ds, (d) => d.cores.redis).toFixed(2),
        med(ds, (d) => d.cores.twilio).toFixed(2),
        med(ds, (d) => d.cores.machine).toFixed(2),
        `${ds.reduce((a, d) => a + d.correct, 0)}/${ds.length * jobs}`,
      ];
    }),
    notes: [
      ...names.map((name) => `per round, ${name}: ${drains.filter((d) => d.bridge === name).map((d) => fmt.int(d.jobsPerSecond)).join(' / ')} jobs/s`),
      'jobs/s: the batch (half transfer_call, half end_call), queued through the web process while the queue was paused, over the time from the resume to the last request at the fake Twilio API; correct = exactly one update of the expected shape per call',
      ...drains.flatMap((d) => d.problems.map((p) => `anomaly ${d.bridge}: ${p}`)),
    ],
    data: { drains },
  };
}
