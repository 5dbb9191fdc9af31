/**
 * Child processes for the benchmark: each server runs in its own process, optionally pinned to a CPU
 * with `taskset`, so its CPU time and memory can be read from /proc and compared fairly.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort } from '../../tests/support/ports';

export { freePort };

export const ROOT = path.resolve(__dirname, '..', '..');

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

let tasksetChecked: boolean | undefined;
/** Whether `taskset` can pin processes here (util-linux, Linux only). */
export function hasTaskset(): boolean {
  if (tasksetChecked === undefined) {
    tasksetChecked = spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
  }
  return tasksetChecked;
}

/** Moves a running process, all its threads included, onto `cpus` (e.g. "0", "1", "0,1"). */
export function pin(pid: number, cpus: string): void {
  if (!hasTaskset()) return;
  spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** Only what a process needs to run: the servers are configured by the benchmark, never by the shell it runs in. */
function baseEnv(): Record<string, string | undefined> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
}

export interface Spawned {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Stops the process: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  /** CPU list for taskset; the process runs unpinned when omitted or when taskset is missing. */
  cpus?: string;
  /** Open an IPC channel (for `process.send`). */
  ipc?: boolean;
  /** Where the child's stdout/stderr go; stderr is always passed through so crashes are visible. */
  quiet?: boolean;
  /** Pipe stdout to the parent (read it from `child.stdout`). */
  capture?: boolean;
  /** Extra node options, e.g. --cpu-prof (spawnTs only). */
  nodeArgs?: string[];
  /** Nice value; negative values (higher priority) only take effect as root. */
  nice?: number;
}

/** Starts `command args` pinned to `opts.cpus`. */
export function spawnPinned(name: string, command: string, args: string[], opts: SpawnOptions = {}): Spawned {
  const pinned = opts.cpus && hasTaskset();
  const niced = opts.nice !== undefined && (opts.nice >= 0 || process.getuid?.() === 0);
  const inner = niced ? ['nice', '-n', String(opts.nice), command, ...args] : [command, ...args];
  const full = pinned ? ['taskset', '-c', opts.cpus!, ...inner] : inner;
  const [cmd, ...argv] = full as [string, ...string[]];
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    env: { ...baseEnv(), ...opts.env } as NodeJS.ProcessEnv,
    stdio: ['ignore', opts.capture ? 'pipe' : opts.quiet ? 'ignore' : 'inherit', 'inherit', ...(opts.ipc ? (['ipc'] as const) : [])],
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    name,
    child,
    pid: child.pid,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Starts a TypeScript entry point (relative to the checkout, or absolute) under node with tsx's require hook. */
export function spawnTs(name: string, script: string, opts: SpawnOptions = {}): Spawned {
  return spawnPinned(name, process.execPath, [...(opts.nodeArgs ?? []), '-r', 'tsx/cjs', path.resolve(ROOT, script)], opts);
}

/** Runs a TypeScript entry point to completion and returns what it printed. */
export async function runTs(name: string, script: string, opts: SpawnOptions = {}): Promise<string> {
  const proc = spawnTs(name, script, { ...opts, capture: true });
  let out = '';
  proc.child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${name} exited with ${code}`);
  return out;
}

/** Waits until `url` answers any HTTP status, or fails after `timeoutMs` or when `proc` exits. */
export async function waitForHttp(url: string, proc: Spawned, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${proc.name} exited before answering on ${url}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(url, { timeout: 1000, agent: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => {
        req.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} did not answer on ${url} within ${timeoutMs} ms`);
}

/** Resolves with the first IPC message from `proc` that satisfies `match`. */
export function nextMessage<T>(proc: Spawned, match: (m: unknown) => m is T, timeoutMs = 30_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.child.off('message', onMessage);
      reject(new Error(`${proc.name}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: unknown) => {
      if (!match(m)) return;
      clearTimeout(timer);
      proc.child.off('message', onMessage);
      resolve(m);
    };
    proc.child.on('message', onMessage);
    void proc.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${proc.name} exited (${code}) while a reply was awaited`));
    });
  });
}

/** CPU time (user + system) a process has used so far, in milliseconds; 0 if it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

export interface Memory {
  /** Resident set size now, bytes. */
  rss: number;
  /** Highest resident set size since the process started (VmHWM), bytes. */
  peakRss: number;
}

export function memory(pid: number): Memory {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), peakRss: kb('VmHWM') };
  } catch {
    return { rss: 0, peakRss: 0 };
  }
}

/** Busy and total CPU time of the whole machine so far (all cores, from /proc/stat), ms. */
export function machineCpuMs(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, ...fields] = line.trim().split(/\s+/);
    const n = fields.map(Number);
    // user nice system idle iowait irq softirq steal
    const idle = (n[3] ?? 0) + (n[4] ?? 0);
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: ((total - idle) * 1000) / CLOCK_TICKS, total: (total * 1000) / CLOCK_TICKS };
  } catch {
    return { busy: 0, total: 0 };
  }
}
