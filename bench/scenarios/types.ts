import type { BenchEnv, WebTarget } from '../lib/harness';
import type { PoolSizer } from '../lib/measure';
import type { Section } from '../lib/report';

export interface Flags {
  /** Seconds per measured run. */
  duration: number;
  /** Concurrency levels (open connections) to drive. */
  connections: number[];
  /** Rounds of alternating runs; the report gives medians. */
  rounds: number;
  /** Seconds per duplicate-path run. */
  dupDuration: number;
  scaleOut: boolean;
  soak: boolean;
  /** Only the Retell-client micro-benchmark. */
  retellClient: boolean;
  /** Only the Twilio-client micro-benchmark. */
  twilioClient: boolean;
  soakSeconds: number;
  /** Requests per second during the soak. */
  soakRate: number;
  /** Delay of the fake Retell API's answer, ms. */
  retellDelayMs: number;
  pin: boolean;
  json: string | undefined;
  /** Directory for V8 CPU profiles of the web processes (--cpu-prof). */
  profile: string | undefined;
  /** Other checkouts of the bridge to measure beside this one (their src/bin/web.ts), every --candidate in order: the new-call runs measure them all, other scenarios the first. */
  candidates: string[];
}

export interface ScenarioContext {
  env: BenchEnv;
  flags: Flags;
  /** The bridge (src/bin/web.ts), one web process on the web CPU. */
  ours: WebTarget;
  /** The naive bridge from Retell's guide, on the same CPU; absent in soak mode. */
  naive: WebTarget | undefined;
  /** One bridge per --candidate, in order, on the same CPU (started for the full run only). */
  candidates: WebTarget[];
  pools: PoolSizer;
  log(message: string): void;
}

/** One part of the report. Scenarios run in order and share the processes in the context. */
export interface Scenario {
  name: string;
  run(ctx: ScenarioContext): Promise<Section[]>;
}
