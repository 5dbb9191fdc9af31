/**
 * The benchmark's world: its own Redis, the fake Retell API, a load generator, and the web processes
 * under test, each in its own process. With two or more CPUs and taskset available, the web process
 * under test gets CPU 0 to itself and everything else shares CPU 1, so a web process's throughput is
 * what one core buys and the comparison does not depend on how the scheduler mixes the processes.
 *
 * The helpers run at a higher priority (nice -10, when run as root): on a shared machine a helper
 * waiting for its turn on the CPU would otherwise show up as Redis or Retell latency, and the bridge,
 * which makes three round trips per new call where the naive bridge makes one, would pay it thrice.
 * They use a fraction of a core, so this takes little from anything else running.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ACCOUNT_SID, AUTH_TOKEN } from '../../tests/support/twilio-signing';
import type { CalleeScript } from '../../src/sandbox/fake-callee';
import type { CallUpdate } from '../programs/fake-twilio-server';
import type { LoadProgress, LoadResult, LoadSpec } from '../programs/load-generator';
import { cpuMs, freePort, hasTaskset, memory, nextMessage, pin, ROOT, spawnTs, waitForHttp, type Spawned } from './proc';
import { startRedis, type BenchRedis } from './redis';

/** The web entry point of a checkout: src/bin/web.ts, or src/server.ts in checkouts older than that layout. */
export function webEntry(root: string): string {
  const current = path.join(root, 'src/bin/web.ts');
  return existsSync(current) ? current : path.join(root, 'src/server.ts');
}

/** The worker entry point of a checkout: src/bin/worker.ts, or src/worker.ts in checkouts older than that layout. */
function workerEntry(root: string): string {
  const current = path.join(root, 'src/bin/worker.ts');
  return existsSync(current) ? current : path.join(root, 'src/worker.ts');
}

// Not a reserved example domain, which NODE_ENV=production refuses as a placeholder. Nothing connects to it.
export const PUBLIC_URL = 'https://my-bridge.herokuapp.com';
export const RETELL_KEY = 'key_bench_0123456789abcdef';
export const AGENT_ID = 'agent_bench';

export interface Cpus {
  /** Where the web process under test runs. */
  web: string | undefined;
  /** Where the load generator, the fake Retell API and Redis run. */
  rest: string | undefined;
}

export interface WebTarget {
  name: string;
  url: string;
  proc: Spawned;
  /** The processes that serve requests (one, or a cluster's workers). */
  pids: number[];
  /** Redis key prefix, for the bridge. */
  prefix?: string;
  stop(): Promise<void>;
}

/** An outbound call the fake Twilio API created: the bridge's id, the number, the arrival time (wall-clock ms). */
export interface Created {
  id: string;
  to: string;
  at: number;
}

/** An outbound call that ended at the fake Twilio API (its own clock, ms). */
export interface EndedCall {
  to: string;
  createdAt: number;
  endedAt: number;
}

export interface CpuSnapshot {
  at: bigint;
  byPid: Map<number, number>;
}

const HELPER_NICE = -10;

export class BenchEnv {
  readonly cpus: Cpus;
  private readonly spawned: Spawned[] = [];
  redis!: BenchRedis;
  retellUrl = '';
  private retell!: Spawned;
  private load!: Spawned;
  /** The fake Twilio REST API, started on first use (function-call scenario). */
  private twilio: Spawned | undefined;
  twilioUrl = '';
  private readonly retellDelayMs: number;
  /** Node options for the web processes: --cpu-prof into a directory when profiling. */
  private readonly webNodeArgs: string[];

  constructor(opts: { pin: boolean; retellDelayMs: number; profileDir?: string }) {
    const canPin = opts.pin && hasTaskset() && os.cpus().length >= 2;
    this.cpus = canPin ? { web: '0', rest: '1' } : { web: undefined, rest: undefined };
    this.retellDelayMs = opts.retellDelayMs;
    this.webNodeArgs = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [];
  }

  get pinned(): boolean {
    return this.cpus.web !== undefined;
  }

  /** Pids of the helper processes, by role. */
  get helperPids(): Record<'load' | 'retell' | 'redis', number> {
    return { load: this.load.pid, retell: this.retell.pid, redis: this.redis.proc.pid };
  }

  async start(): Promise<void> {
    if (this.cpus.rest) pin(process.pid, this.cpus.rest);
    this.redis = await startRedis(this.cpus.rest, HELPER_NICE);
    this.spawned.push(this.redis.proc);

    this.retell = this.track(
      spawnTs('fake-retell', 'bench/programs/fake-retell-server.ts', {
        cpus: this.cpus.rest,
        ipc: true,
        nice: HELPER_NICE,
        // Retell's concurrency is not what the benchmark measures: room for every outbound call.
        env: { RETELL_API_KEY: RETELL_KEY, RETELL_DELAY_MS: String(this.retellDelayMs), RETELL_CONCURRENCY_LIMIT: '1000000' },
      }),
    );
    const ready = await nextMessage(this.retell, (m): m is { type: 'ready'; url: string } => (m as { type?: string })?.type === 'ready');
    this.retellUrl = ready.url;

    this.load = this.track(spawnTs('load-generator', 'bench/programs/load-generator.ts', { cpus: this.cpus.rest, ipc: true, nice: HELPER_NICE }));
    await nextMessage(this.load, (m): m is { type: 'ready' } => (m as { type?: string })?.type === 'ready');
  }

  private track(p: Spawned): Spawned {
    this.spawned.push(p);
    return p;
  }

  /** Moves the helpers (and this process) onto `cpus`, e.g. all cores for the scale-out runs. */
  repinHelpers(cpus: string): void {
    for (const pid of [process.pid, this.load.pid, this.retell.pid, this.redis.proc.pid]) pin(pid, cpus);
  }

  /** Environment for the bridge's web process, as a deployment would set it. */
  bridgeEnv(port: number, prefix: string): Record<string, string> {
    return {
      NODE_ENV: 'production',
      PORT: String(port),
      PUBLIC_URL,
      REDIS_URL: this.redis.url,
      REDIS_PREFIX: prefix,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      RETELL_API_KEY: RETELL_KEY,
      RETELL_BASE_URL: this.retellUrl,
      RETELL_AGENT_ID: AGENT_ID,
      LOG_LEVEL: 'warn',
    };
  }

  /**
   * Starts the bridge: one web process (src/bin/web.ts), or `processes` of them under cluster.
   * `env` adds to (or overrides) the deployment's environment; `prefix` shares a Redis prefix with a worker.
   */
  async startBridge(
    opts: { processes?: number; cpus?: string; name?: string; root?: string; env?: Record<string, string>; prefix?: string } = {},
  ): Promise<WebTarget> {
    const port = await freePort();
    const prefix = opts.prefix ?? `bench-${randomBytes(4).toString('hex')}`;
    const env = { ...this.bridgeEnv(port, prefix), ...opts.env };
    const clustered = opts.processes !== undefined;
    const proc = this.track(
      clustered
        ? spawnTs(opts.name ?? 'bridge-cluster', 'bench/programs/cluster-web.ts', {
            cpus: opts.cpus,
            ipc: true,
            env: { ...env, WEB_PROCESSES: String(opts.processes), ...(opts.root ? { WEB_ENTRY: webEntry(opts.root) } : {}) },
            nodeArgs: this.webNodeArgs,
          })
        : spawnTs(opts.name ?? 'bridge', webEntry(opts.root ?? ROOT), { cpus: opts.cpus, env, nodeArgs: this.webNodeArgs }),
    );
    const url = `http://127.0.0.1:${port}`;
    let pids = [proc.pid];
    if (clustered) {
      const ready = await nextMessage(proc, (m): m is { type: 'ready'; pids: number[] } => (m as { type?: string })?.type === 'ready');
      pids = ready.pids;
    }
    await waitForHttp(`${url}/healthz`, proc);
    return { name: opts.name ?? 'bridge', url, proc, pids, prefix, stop: () => proc.stop() };
  }

  /** Starts the naive bridge from Retell's guide. */
  async startNaive(): Promise<WebTarget> {
    const port = await freePort();
    const proc = this.track(
      spawnTs('naive', 'bench/programs/naive-bridge.ts', {
        cpus: this.cpus.web,
        env: { PORT: String(port), RETELL_API_KEY: RETELL_KEY, RETELL_BASE_URL: this.retellUrl, RETELL_AGENT_ID: AGENT_ID },
        nodeArgs: this.webNodeArgs,
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(url, proc);
    return { name: 'naive', url, proc, pids: [proc.pid], stop: () => proc.stop() };
  }

  /** Starts the fake Twilio REST API (once) on the helpers' CPU; returns its URL. */
  async startFakeTwilio(): Promise<string> {
    if (this.twilio) return this.twilioUrl;
    this.twilio = this.track(
      spawnTs('fake-twilio', 'bench/programs/fake-twilio-server.ts', {
        cpus: this.cpus.rest,
        ipc: true,
        nice: HELPER_NICE,
        env: { TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN },
      }),
    );
    const ready = await nextMessage(this.twilio, (m): m is { type: 'ready'; url: string } => (m as { type?: string })?.type === 'ready');
    this.twilioUrl = ready.url;
    return this.twilioUrl;
  }

  get twilioPid(): number | undefined {
    return this.twilio?.pid;
  }

  /** Makes calls live (in progress) on the fake Twilio API, so it accepts updates to them. */
  async addTwilioCalls(sids: string[]): Promise<void> {
    const twilio = this.requireTwilio();
    const reply = nextMessage(twilio, (m): m is { type: 'calls-added' } => (m as { type?: string })?.type === 'calls-added');
    twilio.child.send({ type: 'add-calls', sids });
    await reply;
  }

  /** Call updates the fake Twilio API answered since the last ask, with their arrival times. */
  async takeTwilioUpdates(): Promise<{ updates: CallUpdate[]; others: number }> {
    const twilio = this.requireTwilio();
    const reply = nextMessage(
      twilio,
      (m): m is { type: 'updates'; updates: CallUpdate[]; others: number } => (m as { type?: string })?.type === 'updates',
    );
    twilio.child.send({ type: 'updates' });
    const { updates, others } = await reply;
    return { updates, others };
  }

  /** Has the fake Twilio API play outbound calls: webhooks to `deliverTo`, `numbers` on the account, every callee per `script`. */
  async outboundSetup(deliverTo: string, numbers: string[], script: CalleeScript): Promise<void> {
    const twilio = this.requireTwilio();
    const reply = nextMessage(twilio, (m): m is { type: 'outbound-ready' } => (m as { type?: string })?.type === 'outbound-ready');
    twilio.child.send({ type: 'outbound-setup', deliverTo, numbers, script });
    await reply;
  }

  /** Outbound calls the fake Twilio API created since the last ask (the bridge's id, arrival time), and its callbacks' results. */
  async takeCreates(): Promise<{ creates: Created[]; ended: EndedCall[]; callbacks: { ok: number; failed: number }; stallMs: number }> {
    const twilio = this.requireTwilio();
    const reply = nextMessage(
      twilio,
      (m): m is { type: 'creates'; creates: Created[]; ended: EndedCall[]; callbacks: { ok: number; failed: number }; stallMs: number } =>
        (m as { type?: string })?.type === 'creates',
    );
    twilio.child.send({ type: 'creates' });
    const { creates, ended, callbacks, stallMs } = await reply;
    return { creates, ended, callbacks, stallMs };
  }

  private requireTwilio(): Spawned {
    if (!this.twilio) throw new Error('the fake Twilio API is not running (startFakeTwilio first)');
    return this.twilio;
  }

  /**
   * Starts the bridge's worker (src/bin/worker.ts of this checkout or of `root`) on `prefix`, with the
   * deployment's environment plus `env`; it serves /healthz on a port of its own so its start can be awaited.
   */
  async startWorker(opts: { prefix: string; cpus?: string; name?: string; root?: string; env?: Record<string, string>; nice?: number }): Promise<WebTarget> {
    const metricsPort = await freePort();
    const { PORT: _port, ...base } = this.bridgeEnv(0, opts.prefix);
    const proc = this.track(
      spawnTs(opts.name ?? 'worker', workerEntry(opts.root ?? ROOT), {
        cpus: opts.cpus,
        env: { ...base, WORKER_METRICS_PORT: String(metricsPort), ...opts.env },
        nodeArgs: this.webNodeArgs,
        ...(opts.nice !== undefined ? { nice: opts.nice } : {}),
      }),
    );
    const url = `http://127.0.0.1:${metricsPort}`;
    await waitForHttp(`${url}/healthz`, proc);
    return { name: opts.name ?? 'worker', url, proc, pids: [proc.pid], prefix: opts.prefix, stop: () => proc.stop() };
  }

  /** Calls registered by the fake Retell API since it started. */
  async retellRegistrations(): Promise<number> {
    const reply = nextMessage(this.retell, (m): m is { type: 'stats'; registrations: number } => (m as { type?: string })?.type === 'stats');
    this.retell.child.send({ type: 'stats' });
    return (await reply).registrations;
  }

  async runLoad(spec: Omit<LoadSpec, 'signingUrl' | 'authToken' | 'accountSid'>): Promise<LoadResult> {
    const reply = nextMessage(
      this.load,
      (m): m is { type: 'result'; result?: LoadResult; error?: string } => (m as { type?: string })?.type === 'result',
      (spec.durationSec + 120) * 1000,
    );
    const full: LoadSpec = { ...spec, signingUrl: `${PUBLIC_URL}/twilio/voice`, authToken: AUTH_TOKEN, accountSid: ACCOUNT_SID };
    this.load.child.send({ type: 'run', spec: full });
    const m = await reply;
    if (!m.result) throw new Error(`load generator failed: ${m.error}`);
    return m.result;
  }

  async loadProgress(): Promise<LoadProgress | undefined> {
    const reply = nextMessage(this.load, (m): m is { type: 'progress'; progress?: LoadProgress } => (m as { type?: string })?.type === 'progress', 5000);
    this.load.child.send({ type: 'progress' });
    return (await reply).progress;
  }

  cpuSnapshot(pids: number[]): CpuSnapshot {
    return { at: process.hrtime.bigint(), byPid: new Map(pids.map((p) => [p, cpuMs(p)])) };
  }

  /** CPU used by `pids` between two snapshots, as a share of one core (1 = one core busy). */
  static coresUsed(before: CpuSnapshot, after: CpuSnapshot, pids: number[]): number {
    const wallMs = Number(after.at - before.at) / 1e6;
    let used = 0;
    for (const p of pids) used += (after.byPid.get(p) ?? 0) - (before.byPid.get(p) ?? 0);
    return used / wallMs;
  }

  static cpuMsBetween(before: CpuSnapshot, after: CpuSnapshot, pids: number[]): number {
    let used = 0;
    for (const p of pids) used += (after.byPid.get(p) ?? 0) - (before.byPid.get(p) ?? 0);
    return used;
  }

  static peakRss(pids: number[]): number {
    return pids.reduce((a, p) => a + memory(p).peakRss, 0);
  }

  static rss(pids: number[]): number {
    return pids.reduce((a, p) => a + memory(p).rss, 0);
  }

  async stop(): Promise<void> {
    for (const p of [...this.spawned].reverse()) {
      if (p === this.redis?.proc) continue;
      await p.stop().catch(() => undefined);
    }
    await this.redis?.stop().catch(() => undefined);
  }
}
