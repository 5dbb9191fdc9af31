/**
 * One measured run: drive a web target with the load generator and account for where the CPU went.
 */
import type { LoadResult, LoadSpec } from '../programs/load-generator';
import { BenchEnv, type WebTarget } from './harness';
import { machineCpuMs } from './proc';

export interface Measurement {
  target: string;
  connections: number;
  load: LoadResult;
  /** CPU of the web process(es) per answered request, µs. */
  webCpuPerRequestUs: number;
  /** Cores kept busy, on average over the run, by each role; `machine` is every process on the box. */
  cores: { web: number; load: number; retell: number; redis: number; machine: number };
  /** Calls the fake Retell API registered during the run. */
  registrations: number;
  /** VmHWM of the web process(es) after the run, bytes. */
  peakRss: number;
}

export type RunSpec = Omit<LoadSpec, 'signingUrl' | 'authToken' | 'accountSid' | 'target'>;

/**
 * Waits until the fake Retell API stops receiving registrations (requests still in flight from an
 * earlier run have finished), at most 5 s; returns the count.
 */
async function settledRegistrations(env: BenchEnv): Promise<number> {
  let last = await env.retellRegistrations();
  for (let i = 0; i < 25; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await env.retellRegistrations();
    if (now === last) return now;
    last = now;
  }
  return last;
}

export async function measure(env: BenchEnv, target: WebTarget, spec: RunSpec): Promise<Measurement> {
  const helpers = env.helperPids;
  const pids = [...target.pids, helpers.retell, helpers.redis];
  const regBefore = await settledRegistrations(env);
  const before = env.cpuSnapshot(pids);
  const machineBefore = machineCpuMs();
  const load = await env.runLoad({ ...spec, target: target.url });
  const after = env.cpuSnapshot(pids);
  const machineAfter = machineCpuMs();
  const regAfter = await settledRegistrations(env);

  // The snapshots also span the generator's signing before the clock starts, when nothing else is
  // busy, so CPU is divided by the measured run's length rather than by the time between snapshots.
  const runMs = load.seconds * 1000;
  const used = (p: number[]) => BenchEnv.cpuMsBetween(before, after, p);
  const webMs = used(target.pids);
  const preRunMs = Number(after.at - before.at) / 1e6 - runMs;
  // The machine counter cannot tell the signing apart: the generator's CPU before the run is taken out.
  const machineMs = machineAfter.busy - machineBefore.busy - Math.max(0, preRunMs);
  return {
    target: target.name,
    connections: spec.connections,
    load,
    webCpuPerRequestUs: load.requests ? (webMs * 1000) / load.requests : NaN,
    cores: {
      web: webMs / runMs,
      load: load.cpuMs / runMs,
      retell: used([helpers.retell]) / runMs,
      redis: used([helpers.redis]) / runMs,
      machine: machineMs / runMs,
    },
    registrations: regAfter - regBefore,
    peakRss: BenchEnv.peakRss(target.pids),
  };
}

/** Sizes the signed-body pool from the last throughput seen for a target, with headroom. */
export class PoolSizer {
  private readonly lastRps = new Map<string, number>();
  constructor(private readonly guessRps = 3000) {}

  size(target: string, durationSec: number, connections: number): number {
    const rps = Math.max(this.lastRps.get(target) ?? this.guessRps, 1500);
    return Math.ceil(rps * durationSec * 2) + connections + 500;
  }

  seen(target: string, rps: number): void {
    this.lastRps.set(target, Math.max(rps, this.lastRps.get(target) ?? 0));
  }
}

/** The most arrivals within any `windowMs` (sorted times). */
export function maxInWindow(sorted: number[], windowMs: number): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= windowMs) start += 1;
    best = Math.max(best, end - start + 1);
  }
  return best;
}
