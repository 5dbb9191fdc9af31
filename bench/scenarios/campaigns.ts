/**
 * Campaigns (`npm run bench -- --campaigns`): a web process and a worker process of the bridge of their
 * own (one Redis prefix, the fake Twilio API in a process of its own), driven through the /campaigns API.
 *
 * - Creation: a paused campaign filled with 100,000 tasks by 10 `POST /campaigns/{id}/tasks` of 10,000
 *   CSV rows each, one after the other; Redis memory per task from INFO memory (used_memory before and
 *   after) and from MEMORY USAGE of the campaign's keys.
 * - Scheduler cost by campaign size: the same dials (busy callees) from a campaign of 1,000 and one of
 *   100,000 tasks at TWILIO_CPS=50: Redis commands per dial (INFO stats total_commands_processed over a
 *   measured stretch of dials) and the worker's CPU per dial.
 * - Pacing at TWILIO_CPS 1, 10 and 50 (the worker restarted with each): dials per second from the fake
 *   Twilio's arrival times over `seconds`, the most in any 1-second span, by the fake's stamps and, where
 *   `dumpcap` can capture on loopback, by the kernel's arrival times at the fake's socket (with the fake's
 *   longest event-loop stall, which bunches its stamps); then `max_concurrency` counted from Twilio's side
 *   (calls created and not yet ended), with callees that talk.
 * - Fairness: two campaigns running at once at TWILIO_CPS=10, each dial's campaign told by its number.
 */
import { randomBytes } from 'node:crypto';
import type { Created, EndedCall, WebTarget } from '../lib/harness';
import { BenchEnv } from '../lib/harness';
import { fmt, type Section } from '../lib/report';
import { maxInWindow } from '../lib/measure';
import { startCapture } from '../lib/capture';
import type { Scenario, ScenarioContext } from './types';

export interface CampaignBenchOptions {
  /** Seconds each pacing run is measured over. */
  seconds: number;
  /** Tasks in the large campaign. */
  bigTasks: number;
  /** Rows per upload. */
  rowsPerRequest: number;
}

export const DEFAULT_CAMPAIGN_OPTIONS: CampaignBenchOptions = { seconds: 60, bigTasks: 100_000, rowsPerRequest: 10_000 };

const API_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const FROM = '+14155550100';
/** Ten area codes × 10,000 numbers of their 555 exchange: 100,000 distinct, valid, fictional numbers. */
const AREAS = ['212', '312', '415', '303', '206', '617', '713', '404', '602', '305', '808', '907'];

/** The `i`-th number of a campaign whose numbers start at area code index `area`. */
const numberAt = (area: number, i: number) => `+1${AREAS[(area + Math.floor(i / 10_000)) % AREAS.length]}555${String(i % 10_000).padStart(4, '0')}`;

const auth = { authorization: `Bearer ${API_TOKEN}` };

async function api(web: WebTarget, method: string, path: string, body?: { json?: unknown; csv?: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { ...auth, 'idempotency-key': randomBytes(12).toString('hex') };
  let payload: string | undefined;
  if (body?.json !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body.json);
  } else if (body?.csv !== undefined) {
    headers['content-type'] = 'text/csv';
    payload = body.csv;
  }
  const res = await fetch(`${web.url}${path}`, { method, headers, body: payload, signal: AbortSignal.timeout(120_000) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text: text.slice(0, 300) };
  }
  return { status: res.status, body: parsed };
}

async function createPaused(web: WebTarget, extra: Record<string, unknown> = {}): Promise<string> {
  const made = await api(web, 'POST', '/campaigns', { json: { name: 'bench', paused: true, max_concurrency: 1000, ...extra } });
  if (made.status !== 201 || typeof made.body.id !== 'string') throw new Error(`POST /campaigns answered ${made.status}: ${JSON.stringify(made.body)}`);
  return made.body.id;
}

/** Uploads `count` tasks (numbers from area index `area`) in requests of `perRequest` rows; returns each request's ms. */
async function fill(web: WebTarget, id: string, area: number, count: number, perRequest: number): Promise<number[]> {
  const times: number[] = [];
  for (let first = 0; first < count; first += perRequest) {
    const rows: string[] = ['to,first_name'];
    for (let i = first; i < Math.min(count, first + perRequest); i++) rows.push(`${numberAt(area, i)},n${i}`);
    const t0 = performance.now();
    const res = await api(web, 'POST', `/campaigns/${id}/tasks`, { csv: `${rows.join('\n')}\n` });
    times.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`POST /campaigns/${id}/tasks answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    const skipped = Array.isArray(res.body.skipped) ? res.body.skipped.length : 0;
    if (skipped) throw new Error(`POST /campaigns/${id}/tasks skipped ${skipped} rows: ${JSON.stringify(res.body.skipped).slice(0, 300)}`);
  }
  return times;
}

async function control(web: WebTarget, id: string, action: 'resume' | 'cancel' | 'pause'): Promise<void> {
  const res = await api(web, 'POST', `/campaigns/${id}/${action}`);
  if (res.status >= 300) throw new Error(`POST /campaigns/${id}/${action} answered ${res.status}: ${JSON.stringify(res.body)}`);
}

/** The most calls live at once: created and not yet ended. */
function maxLive(calls: EndedCall[]): number {
  const edges = calls.flatMap((c) => [
    [c.createdAt, 1],
    [c.endedAt, -1],
  ]) as Array<[number, number]>;
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let live = 0;
  let best = 0;
  for (const [, d] of edges) best = Math.max(best, (live += d));
  return best;
}

function redisInfo(text: string, field: string): number {
  return Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
}

/** Collects creates (and ended calls) from the fake Twilio API until `until` says stop. */
async function collect(env: BenchEnv, until: (creates: Created[]) => boolean, timeoutMs: number): Promise<{ creates: Created[]; ended: EndedCall[]; stallMs: number }> {
  const creates: Created[] = [];
  const ended: EndedCall[] = [];
  let stallMs = 0;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const got = await env.takeCreates();
    creates.push(...got.creates);
    ended.push(...got.ended);
    stallMs = Math.max(stallMs, got.stallMs);
    if (until(creates)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { creates, ended, stallMs };
}

/** The area code of the numbers from area index `area`, to tell a run's dials from any other's. */
const areaPrefix = (area: number) => `+1${AREAS[area % AREAS.length]}`;

/**
 * Waits until no create has arrived for `quietMs`: a canceled campaign's attempts already handed to the
 * outbound queue still go out, and must not count in the next run.
 */
async function drain(env: BenchEnv, quietMs = 3000, timeoutMs = 120_000): Promise<number> {
  let last = Date.now();
  let drained = 0;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() - last < quietMs && Date.now() < deadline) {
    const got = await env.takeCreates();
    if (got.creates.length) last = Date.now();
    drained += got.creates.length;
    await new Promise((r) => setTimeout(r, 200));
  }
  return drained;
}

export function campaignsScenario(opts: CampaignBenchOptions = DEFAULT_CAMPAIGN_OPTIONS): Scenario {
  return {
    name: 'campaigns',
    async run(ctx: ScenarioContext): Promise<Section[]> {
      const { env } = ctx;
      const redis = env.redis.client;
      const twilioUrl = await env.startFakeTwilio();
      const prefix = `bench-cmp-${randomBytes(4).toString('hex')}`;
      const shared = { TWILIO_API_BASE_URL: twilioUrl, API_TOKEN, OUTBOUND_FROM_NUMBER: FROM };
      const web = await env.startBridge({ cpus: env.cpus.web, name: 'bridge web (campaigns)', prefix, env: shared });
      await env.outboundSetup(web.url, [FROM], { answer: 'busy', ringMs: 20 });
      await env.takeCreates();
      const startWorker = (cps: number) =>
        env.startWorker({ cpus: env.cpus.web, name: `bridge worker (TWILIO_CPS=${cps})`, prefix, env: { ...shared, TWILIO_CPS: String(cps), WORKER_CONCURRENCY: '50' } });
      const sections: Section[] = [];
      const problems: string[] = [];

      try {
        // --- Creation and memory -------------------------------------------------------------------
        ctx.log(`campaigns: creating ${opts.bigTasks} tasks in requests of ${opts.rowsPerRequest}`);
        const memBefore = redisInfo(await redis.info('memory'), 'used_memory');
        const t0 = performance.now();
        const big = await createPaused(web);
        const uploads = await fill(web, big, 0, opts.bigTasks, opts.rowsPerRequest);
        const createMs = performance.now() - t0;
        const memAfter = redisInfo(await redis.info('memory'), 'used_memory');
        let keyBytes = 0;
        let keys = 0;
        for (const pattern of [`${prefix}:*${big}*`, `*${big}*`]) {
          let cursor = '0';
          do {
            const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
            cursor = next;
            for (const k of found) {
              keyBytes += (await redis.memory('USAGE', k, 'SAMPLES', '0')) ?? 0;
              keys += 1;
            }
          } while (cursor !== '0');
          if (keys) break;
        }
        const creation = { tasks: opts.bigTasks, requests: uploads.length, totalS: createMs / 1000, perRequestMs: uploads, bytesPerTask: (memAfter - memBefore) / opts.bigTasks, keyBytesPerTask: keyBytes / opts.bigTasks, keys };
        ctx.log(`campaigns: ${opts.bigTasks} tasks in ${creation.totalS.toFixed(1)} s, ${creation.bytesPerTask.toFixed(0)} B/task (used_memory), ${creation.keyBytesPerTask.toFixed(0)} B/task (MEMORY USAGE of ${keys} keys)`);
        sections.push({
          title: `Campaigns: creating ${opts.bigTasks.toLocaleString('en-US')} tasks (POST /campaigns, then ${uploads.length} × POST /campaigns/{id}/tasks of ${opts.rowsPerRequest.toLocaleString('en-US')} CSV rows)`,
          header: ['total', 'per request (median)', 'slowest request', 'Redis bytes per task (used_memory Δ)', 'Redis bytes per task (MEMORY USAGE of its keys)'],
          rows: [[`${creation.totalS.toFixed(2)} s`, `${fmt.ms([...uploads].sort((a, b) => a - b)[Math.floor(uploads.length / 2)]!)} ms`, `${fmt.ms(Math.max(...uploads))} ms`, creation.bytesPerTask.toFixed(0), keys ? creation.keyBytesPerTask.toFixed(0) : 'n/a (no key named by the id)']],
          notes: ['requests one after the other from one client; each row a number and one variable (`to,first_name`); used_memory read before POST /campaigns and after the last upload, so it includes the queue entries the tasks cost'],
          data: { creation },
        });

        // --- Scheduler cost by campaign size -----------------------------------------------------------
        const cost: Array<{ tasks: number; dials: number; commandsPerDial: number; workerCpuMsPerDial: number; rate: number }> = [];
        {
          const worker = await startWorker(50);
          try {
            const small = await createPaused(web);
            await fill(web, small, 6, 1000, 1000);
            for (const [id, tasks] of [[small, 1000], [big, opts.bigTasks]] as const) {
              ctx.log(`campaigns: Redis commands per dial, ${tasks} tasks`);
              await env.takeCreates();
              await control(web, id, 'resume');
              await collect(env, (c) => c.length >= 100, 60_000);
              const cmd0 = redisInfo(await redis.info('stats'), 'total_commands_processed');
              const cpu0 = env.cpuSnapshot(worker.pids);
              const t = performance.now();
              const measured = await collect(env, (c) => c.length >= 500, 120_000);
              const cmd1 = redisInfo(await redis.info('stats'), 'total_commands_processed');
              const cpu1 = env.cpuSnapshot(worker.pids);
              const dials = measured.creates.length;
              cost.push({ tasks, dials, commandsPerDial: (cmd1 - cmd0) / dials, workerCpuMsPerDial: BenchEnv.cpuMsBetween(cpu0, cpu1, worker.pids) / dials, rate: dials / ((performance.now() - t) / 1000) });
              await control(web, id, 'cancel');
              await drain(env);
            }
          } finally {
            await worker.stop();
          }
        }
        sections.push({
          title: 'Campaigns: scheduler cost by campaign size (TWILIO_CPS=50, busy callees)',
          header: ['tasks in the campaign', 'dials measured', 'Redis commands per dial', 'worker CPU per dial', 'dials/s'],
          rows: cost.map((c) => [c.tasks.toLocaleString('en-US'), String(c.dials), c.commandsPerDial.toFixed(1), `${c.workerCpuMsPerDial.toFixed(2)} ms`, c.rate.toFixed(1)]),
          notes: [
            'after 100 dials of warm-up, 500 dials measured; commands: INFO stats total_commands_processed over the stretch (every client of this Redis: web, worker, their idle polls) ÷ dials; the callbacks of each call (initiated, ringing, busy) are in it',
          ],
          data: { cost },
        });

        // --- Pacing ----------------------------------------------------------------------------------
        const pacing: Array<{ cps: number; dials: number; rate: number; maxIn1s: number; deviationPct: number; stallMs: number; socket?: { dials: number; rate: number; maxIn1s: number } }> = [];
        const capture = await startCapture(Number(new URL(twilioUrl).port));
        let area = 1;
        for (const cps of [1, 10, 50]) {
          const worker = await startWorker(cps);
          try {
            // Room for every call in flight at this rate (busy callees end within a few seconds, even loaded).
            const id = await createPaused(web, { max_concurrency: Math.min(1000, cps * 10) });
            const tasks = Math.min(10_000, cps * (opts.seconds + 15));
            const mine = areaPrefix((area += 1));
            await fill(web, id, area, tasks, opts.rowsPerRequest);
            await drain(env);
            ctx.log(`campaigns: pacing at TWILIO_CPS=${cps} for ${opts.seconds} s`);
            await control(web, id, 'resume');
            const first = await collect(env, (c) => c.some((x) => x.to.startsWith(mine)), 30_000);
            const all = first.creates.filter((c) => c.to.startsWith(mine));
            const t0 = all[0]?.at ?? performance.timeOrigin + performance.now();
            const rest = await collect(env, (c) => (c.at(-1)?.at ?? 0) - t0 >= opts.seconds * 1000 || c.length + all.length >= tasks, (opts.seconds + 30) * 1000);
            all.push(...rest.creates.filter((c) => c.to.startsWith(mine)));
            const times = all.map((c) => c.at).filter((at) => at - t0 < opts.seconds * 1000).sort((a, b) => a - b);
            const rate = times.length / opts.seconds;
            // The same span at the socket: from the first create the kernel saw (a little before the fake's stamp).
            const seen = capture?.times('/Calls.json HTTP', t0 - 500, t0 + opts.seconds * 1000);
            const inSpan = seen?.filter((at) => at - seen[0]! < opts.seconds * 1000);
            const socket = inSpan?.length ? { dials: inSpan.length, rate: inSpan.length / opts.seconds, maxIn1s: maxInWindow(inSpan, 1000) } : undefined;
            const stallMs = Math.max(first.stallMs, rest.stallMs);
            pacing.push({ cps, dials: times.length, rate, maxIn1s: maxInWindow(times, 1000), deviationPct: ((rate - cps) / cps) * 100, stallMs, ...(socket ? { socket } : {}) });
            ctx.log(
              `campaigns: TWILIO_CPS=${cps}: ${rate.toFixed(2)} dials/s, at most ${maxInWindow(times, 1000)} in any 1 s by the fake's stamps` +
                (socket ? `, ${socket.maxIn1s} at its socket (${socket.rate.toFixed(2)} dials/s)` : '') +
                `; the fake's longest stall ${stallMs.toFixed(0)} ms`,
            );
            await control(web, id, 'cancel');
            await drain(env);
          } finally {
            await worker.stop();
          }
        }
        await capture?.stop();

        // --- max_concurrency from Twilio's side, and fairness ----------------------------------------------
        const worker = await startWorker(10);
        let concurrency: { maxConcurrency: number; calls: number; maxLive: number } | undefined;
        let fairness: { seconds: number; a: number; b: number; bins: Array<[number, number]> } | undefined;
        try {
          await env.outboundSetup(web.url, [FROM], { answer: 'human', ringMs: 20, hangUpAfterMs: 2000 });
          const limited = await createPaused(web, { max_concurrency: 5 });
          await fill(web, limited, 9, 60, 60);
          await drain(env);
          ctx.log('campaigns: max_concurrency 5 with callees that talk 2 s, TWILIO_CPS=10');
          await control(web, limited, 'resume');
          const got = await collect(env, () => false, 25_000);
          await control(web, limited, 'cancel');
          await new Promise((r) => setTimeout(r, 4000));
          const tail = await env.takeCreates();
          const ended = [...got.ended, ...tail.ended].filter((c) => c.to.startsWith(areaPrefix(9)));
          concurrency = { maxConcurrency: 5, calls: got.creates.filter((c) => c.to.startsWith(areaPrefix(9))).length, maxLive: maxLive(ended) };
          await drain(env);

          await env.outboundSetup(web.url, [FROM], { answer: 'busy', ringMs: 20 });
          const fairSeconds = Math.min(opts.seconds, 30);
          const [a, b] = [await createPaused(web), await createPaused(web)];
          await fill(web, a, 10, 10 * (fairSeconds + 10), opts.rowsPerRequest);
          await fill(web, b, 11, 10 * (fairSeconds + 10), opts.rowsPerRequest);
          await drain(env);
          ctx.log(`campaigns: fairness, two campaigns at TWILIO_CPS=10 for ${fairSeconds} s`);
          await Promise.all([control(web, a, 'resume'), control(web, b, 'resume')]);
          const fair = await collect(env, (c) => c.length >= 2 && c.at(-1)!.at - c[0]!.at >= fairSeconds * 1000, (fairSeconds + 30) * 1000);
          await Promise.all([control(web, a, 'cancel'), control(web, b, 'cancel')]);
          const start = fair.creates[0]?.at ?? 0;
          const isA = (to: string) => to.startsWith(areaPrefix(10));
          const bins: Array<[number, number]> = [];
          fair.creates = fair.creates.filter((c) => c.to.startsWith(areaPrefix(10)) || c.to.startsWith(areaPrefix(11)));
          for (const c of fair.creates) {
            const bin = Math.floor((c.at - start) / 5000);
            while (bins.length <= bin) bins.push([0, 0]);
            bins[bin]![isA(c.to) ? 0 : 1] += 1;
          }
          fairness = { seconds: fairSeconds, a: fair.creates.filter((c) => isA(c.to)).length, b: fair.creates.filter((c) => !isA(c.to)).length, bins };
          await drain(env);
        } finally {
          await worker.stop();
        }

        for (const p of pacing) {
          if (Math.abs(p.deviationPct) > 5) problems.push(`TWILIO_CPS ${p.cps}: ${p.rate.toFixed(2)} dials/s, ${p.deviationPct.toFixed(1)} % from the setting`);
          // The kernel's times judge bursts where they were captured; the fake's stamps only where they were not.
          if (p.socket && p.socket.maxIn1s > p.cps) problems.push(`TWILIO_CPS ${p.cps}: ${p.socket.maxIn1s} dials within one second at the fake's socket`);
          if (!p.socket && p.maxIn1s > p.cps) problems.push(`TWILIO_CPS ${p.cps}: ${p.maxIn1s} dials within one second by the fake's stamps (its longest stall ${p.stallMs.toFixed(0)} ms)`);
        }
        if (concurrency && concurrency.maxLive > concurrency.maxConcurrency) problems.push(`max_concurrency ${concurrency.maxConcurrency}: ${concurrency.maxLive} calls live at once at Twilio`);
        sections.push({
          title: `Campaigns: pacing (one campaign, busy callees, ${opts.seconds} s measured per TWILIO_CPS)`,
          header: ['TWILIO_CPS', 'dials in the span', 'dials / s', 'off the setting', 'most in any 1 s (fake\'s stamps)', 'most in any 1 s (at its socket)', 'fake\'s longest stall'],
          rows: pacing.map((p) => [
            String(p.cps),
            String(p.dials),
            p.rate.toFixed(2),
            `${p.deviationPct >= 0 ? '+' : ''}${p.deviationPct.toFixed(1)} %`,
            String(p.maxIn1s),
            p.socket ? `${p.socket.maxIn1s} (${p.socket.rate.toFixed(2)}/s)` : 'not captured',
            `${p.stallMs.toFixed(0)} ms`,
          ]),
          notes: [
            'dials/s = creates arriving at the fake Twilio API within the span from the first create ÷ the span; the worker (WORKER_CONCURRENCY=50) restarted per setting',
            'fake\'s stamps: taken by its event loop when a request\'s headers are parsed; at its socket: the kernel\'s time of each create\'s segment to the fake\'s port (dumpcap on loopback), where a stall of the fake\'s event loop cannot bunch them',
            ...(concurrency ? [`max_concurrency 5, callees that talk 2 s, TWILIO_CPS=10: ${concurrency.calls} calls in 25 s, at most ${concurrency.maxLive} live at once at Twilio (created, not yet ended)`] : []),
            ...(fairness
              ? [`fairness, two campaigns started together at TWILIO_CPS=10 for ${fairness.seconds} s: ${fairness.a} vs ${fairness.b} dials; per 5 s: ${fairness.bins.map(([x, y]) => `${x}/${y}`).join(', ')}`]
              : []),
            ...problems.map((p) => `anomaly: ${p}`),
          ],
          data: { pacing, concurrency, fairness },
        });
      } finally {
        await web.stop();
      }
      return sections;
    },
  };
}
