/**
 * Soak: the bridge at a steady request rate for minutes, each call's webhook sent twice (Twilio's
 * repeats), sampling the web process's RSS and heap and the Redis keyspace as it goes.
 *
 * Records live 24 hours, far longer than a soak, so "levelling off" is shown by what bounds the
 * keyspace: keys grow only with distinct calls (2 per call, repeats add none), every key carries a TTL
 * of at most 24 h, so the steady state is 2 × the calls of one day. RSS should flatten once the heap
 * has grown to its working size.
 */
import http from 'node:http';
import { BenchEnv } from '../lib/harness';
import { keysWithoutTtl, keyStats, samplePttl } from '../lib/redis';
import { fmt, slope, type Section } from '../lib/report';
import type { Scenario, ScenarioContext } from './types';

interface Sample {
  t: number;
  sent: number;
  registered: number;
  keys: number;
  expiring: number;
  redisMemory: number;
  rss: number;
  heapUsed: number;
  pttlMin: number;
  pttlMax: number;
}

/** One metric value from the bridge's /metrics (Prometheus text), or NaN. */
function scrape(url: string, metric: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/metrics`, { timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(Number(new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body)?.[1] ?? NaN)));
    });
    req.on('error', () => resolve(NaN));
    req.on('timeout', () => req.destroy());
  });
}

const DAY_MS = 24 * 60 * 60 * 1000;

export const soakScenario: Scenario = {
  name: 'soak',
  async run(ctx: ScenarioContext): Promise<Section[]> {
    const { env, flags, ours } = ctx;
    const seconds = flags.soakSeconds;
    const sendsPerCall = 2;
    const every = 5;
    const regStart = await env.retellRegistrations();
    const base = await keyStats(env.redis.client);
    const calls = Math.ceil((flags.soakRate * seconds) / sendsPerCall);
    ctx.log(`soak: ${flags.soakRate} req/s (${flags.soakRate / sendsPerCall} calls/s, each webhook sent twice) for ${seconds} s`);

    const samples: Sample[] = [];
    // Time 0 is when the generator starts sending (after signing its pool).
    let started = Date.now();
    const sample = async (): Promise<void> => {
      const [progress, registered, ks, pttl, heapUsed] = await Promise.all([
        env.loadProgress().catch(() => undefined),
        env.retellRegistrations(),
        keyStats(env.redis.client),
        samplePttl(env.redis.client, 20),
        scrape(ours.url, 'nodejs_heap_size_used_bytes'),
      ]);
      // Keys without a TTL are counted from INFO; the PTTL range is of those that have one.
      const withTtl = pttl.filter((ms) => ms >= 0);
      const s: Sample = {
        t: (Date.now() - started) / 1000,
        sent: progress?.sent ?? NaN,
        registered: registered - regStart,
        keys: ks.keys - base.keys,
        expiring: ks.expiring - base.expiring,
        redisMemory: ks.usedMemory - base.usedMemory,
        rss: BenchEnv.rss(ours.pids),
        heapUsed,
        pttlMin: withTtl.length ? Math.min(...withTtl) : NaN,
        pttlMax: withTtl.length ? Math.max(...withTtl) : NaN,
      };
      samples.push(s);
      ctx.log(
        `soak t=${Math.round(s.t)} s: ${fmt.int(s.registered)} calls, ${fmt.int(s.keys)} keys (${fmt.int(s.keys - s.expiring)} without TTL), ` +
          `RSS ${fmt.mb(s.rss)}, heap ${fmt.mb(s.heapUsed)}`,
      );
    };

    const run = env.runLoad({
      target: ours.url,
      connections: 20,
      durationSec: seconds,
      callSids: 'unique',
      sendsPerCall,
      rate: flags.soakRate,
      poolSize: calls + 100,
    });
    // Sampling starts once the generator has signed its pool and begun sending.
    const deadline = Date.now() + 120_000;
    while (!(await env.loadProgress())?.sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const startedSending = Date.now();
    started = startedSending;
    let done = false;
    void run.finally(() => (done = true));
    while (!done && Date.now() - startedSending < (seconds + 30) * 1000) {
      await sample();
      const wait = every * 1000 - ((Date.now() - startedSending) % (every * 1000));
      await Promise.race([new Promise((r) => setTimeout(r, wait)), run.catch(() => undefined)]);
    }
    const load = await run;
    await new Promise((r) => setTimeout(r, 500));
    await sample();
    const noTtl = await keysWithoutTtl(env.redis.client);
    const last = samples[samples.length - 1]!;

    // Samples grouped into windows; per window the highest RSS and the heap's floor (the lowest
    // sample, i.e. after a collection), which is what keeps rising when something leaks.
    const windowSec = Math.max(every, Math.round(seconds / 8));
    const windows: Array<{ from: number; to: number; s: Sample[] }> = [];
    const lastWindow = Math.max(0, Math.ceil(seconds / windowSec) - 1);
    for (const smp of samples) {
      // The sample taken after the load stops belongs to the last window.
      const i = Math.min(Math.floor(smp.t / windowSec), lastWindow);
      (windows[i] ??= { from: i * windowSec, to: (i + 1) * windowSec, s: [] }).s.push(smp);
    }
    const filled = windows.filter((w) => w && w.s.length > 0);
    const rows = filled.map((w) => {
      const end = w.s[w.s.length - 1]!;
      const ttls = w.s.flatMap((x) => [x.pttlMin, x.pttlMax]).filter((x) => Number.isFinite(x));
      return [
        `${w.from}–${w.to}`,
        fmt.int(end.registered),
        fmt.int(end.keys),
        fmt.int(end.keys - end.expiring),
        ttls.length ? `${(Math.min(...ttls) / 3600_000).toFixed(2)}–${(Math.max(...ttls) / 3600_000).toFixed(2)} h` : '–',
        fmt.mb(Math.max(...w.s.map((x) => x.rss))),
        fmt.mb(Math.min(...w.s.map((x) => x.heapUsed))),
        fmt.mb(Math.max(...w.s.map((x) => x.heapUsed))),
      ];
    });

    // Trends after the first window, once the heap has grown to its working size.
    const settled = filled.slice(1);
    const rssMax = (w: (typeof filled)[number]) => Math.max(...w.s.map((x) => x.rss));
    const heapFloor = (w: (typeof filled)[number]) => Math.min(...w.s.map((x) => x.heapUsed));
    const rssMaxSlope = slope(settled.map((w) => [w.from / 60, rssMax(w) / 2 ** 20]));
    const heapFloorSlope = slope(settled.map((w) => [w.from / 60, heapFloor(w) / 2 ** 20]));
    const range = (xs: number[]) => `${fmt.mb(Math.min(...xs))}–${fmt.mb(Math.max(...xs))}`;
    const keysPerCall = last.keys / Math.max(1, last.registered);
    const bytesPerCall = last.redisMemory / Math.max(1, last.registered);
    const perDay = 100_000;
    const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(2)}`;

    return [
      {
        title: `Soak: ${fmt.int(load.rps)} req/s for ${Math.round(load.seconds)} s, each call's webhook sent twice (windows of ${windowSec} s)`,
        header: ['t (s)', 'calls registered', 'Redis keys', 'new keys without TTL', 'sampled PTTL', 'web RSS max', 'heap floor', 'heap max'],
        rows,
        notes: [
          `requests ${fmt.int(load.requests)}: ${fmt.int(load.sip)} SIP dials, ${fmt.int(load.fallback)} fallbacks, ${load.non2xx} non-2xx, ` +
            `${load.errors} errors; p50 ${fmt.ms(load.p50)} ms, p99 ${fmt.ms(load.p99)} ms`,
          `keys per registered call: ${keysPerCall.toFixed(3)} (call record + Retell-id index; the repeats added none); ` +
            `every sampled PTTL ≤ ${(DAY_MS / 3600_000).toFixed(0)} h`,
          `keys without a TTL at the end (full SCAN of the keyspace): ${noTtl.length}` +
            (noTtl.length ? ` (${noTtl.slice(0, 5).join(', ')}), created once at start-up, not per call` : ''),
          `so the keyspace levels off at 2 keys × the calls of the last 24 h; each call holds ${fmt.int(bytesPerCall)} B of Redis memory ` +
            `for that day (${fmt.mb(bytesPerCall * perDay)} at ${fmt.int(perDay)} calls a day)`,
          `web process after the first ${windowSec} s: RSS max per window ${range(settled.map(rssMax))} (trend ${signed(rssMaxSlope)} MB/min), ` +
            `heap floor per window ${range(settled.map(heapFloor))} (trend ${signed(heapFloorSlope)} MB/min); peak RSS (VmHWM) ${fmt.mb(BenchEnv.peakRss(ours.pids))}`,
        ],
        data: { samples, load, noTtl, rssMaxSlope, heapFloorSlope, keysPerCall, bytesPerCall },
      },
    ];
  },
};
