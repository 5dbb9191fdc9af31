/**
 * `npm run bench`: load-tests the voice webhook of the bridge against the naive bridge from Retell's
 * guide, on this machine, and prints a Markdown report.
 *
 *   npm run bench                      new calls, duplicates, scale-out, function calls (about 3 minutes)
 *   npm run bench -- --soak            steady load for minutes: RSS and Redis keys over time
 *   npm run bench -- --retell-client   CPU per Retell registration, by way of calling Retell
 *   npm run bench -- --functions-only  Retell function calls through the queue and worker to the Twilio API
 *
 * Flags: --duration S (per run, default 5), --connections 20,100, --rounds 3, --dup-duration S (2),
 * --no-scale-out, --soak-seconds S (240), --soak-rate R (req/s, 400), --retell-delay MS (0),
 * --no-pin, --json FILE (raw numbers), --candidate DIR (also measure the bridge of another checkout,
 * e.g. a change under evaluation, side by side), --profile DIR (V8 CPU profiles of the web processes, written when
 * they stop; open them in Chrome DevTools), --no-functions, --fn-calls N (calls per concurrency, 300),
 * --fn-concurrency 1,10,50 (function calls in flight), --worker-concurrency N (WORKER_CONCURRENCY, 10).
 *
 * The default run ends with function calls (transfer_call, end_call) through the queue and worker to
 * the fake Twilio REST API: latency from the function call to the Twilio request, jobs/s, peak RSS of
 * the web and worker processes.
 *
 * Everything runs on loopback: a redis-server of its own on a free port (stopped at the end), the test
 * suite's fake Retell API, and autocannon as the load generator, each in its own process; for the
 * function calls also the suite's fake Twilio REST API.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchEnv } from './lib/env';
import { PoolSizer } from './lib/measure';
import { renderSection, type Section } from './lib/report';
import { duplicatesScenario } from './scenarios/duplicates';
import { retellClientScenario } from './scenarios/retell-client';
import { scaleOutScenario } from './scenarios/scale-out';
import { soakScenario } from './scenarios/soak';
import { DEFAULT_FUNCTION_CALL_OPTIONS, functionCallsScenario } from './scenarios/function-calls';
import type { Flags, Scenario, ScenarioContext } from './scenarios/types';
import { voiceScenario } from './scenarios/voice';

/** The runner's flags: the scenarios' shared ones and those of the function-call scenario. */
interface RunFlags extends Flags {
  /** Run the function-call scenario (default on). */
  functions: boolean;
  /** Only the function-call scenario. */
  functionsOnly: boolean;
  fnCalls: number;
  fnConcurrency: number[];
  workerConcurrency: number;
}

function parseFlags(argv: string[]): RunFlags {
  const flags: RunFlags = {
    duration: 5,
    connections: [20, 100],
    rounds: 3,
    dupDuration: 2,
    scaleOut: true,
    soak: false,
    retellClient: false,
    soakSeconds: 240,
    soakRate: 400,
    retellDelayMs: 0,
    pin: true,
    json: undefined,
    profile: undefined,
    candidate: undefined,
    functions: true,
    functionsOnly: false,
    fnCalls: DEFAULT_FUNCTION_CALL_OPTIONS.calls,
    fnConcurrency: DEFAULT_FUNCTION_CALL_OPTIONS.concurrency,
    workerConcurrency: DEFAULT_FUNCTION_CALL_OPTIONS.workerConcurrency,
  };
  const args = argv.flatMap((a) => (a.startsWith('--') && a.includes('=') ? a.split(/=(.*)/s, 2) : [a]));
  const num = (name: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number from ${min} to ${max}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--duration':
        flags.duration = num(a, value(), 1, 120);
        break;
      case '--connections':
        flags.connections = value().split(',').map((c) => num(a, c, 1, 1000));
        break;
      case '--rounds':
        flags.rounds = num(a, value(), 1, 20);
        break;
      case '--dup-duration':
        flags.dupDuration = num(a, value(), 1, 120);
        break;
      case '--no-scale-out':
        flags.scaleOut = false;
        break;
      case '--soak':
        flags.soak = true;
        break;
      case '--retell-client':
        flags.retellClient = true;
        break;
      case '--soak-seconds':
        flags.soakSeconds = num(a, value(), 10, 3600);
        break;
      case '--soak-rate':
        flags.soakRate = num(a, value(), 2, 20_000);
        break;
      case '--retell-delay':
        flags.retellDelayMs = num(a, value(), 0, 10_000);
        break;
      case '--no-pin':
        flags.pin = false;
        break;
      case '--json':
        flags.json = value();
        break;
      case '--candidate':
        flags.candidate = path.resolve(value());
        break;
      case '--profile':
        flags.profile = path.resolve(value());
        break;
      case '--no-functions':
        flags.functions = false;
        break;
      case '--functions-only':
        flags.functionsOnly = true;
        break;
      case '--fn-calls':
        flags.fnCalls = num(a, value(), 10, 100_000);
        break;
      case '--fn-concurrency':
        flags.fnConcurrency = value().split(',').map((c) => num(a, c, 1, 1000));
        break;
      case '--worker-concurrency':
        flags.workerConcurrency = num(a, value(), 1, 200);
        break;
      default:
        throw new Error(`unknown flag ${a} (see the comment at the top of bench/run.ts)`);
    }
  }
  return flags;
}

/**
 * The scenarios of a run, in order; each returns sections of the report and starts whatever processes
 * it needs beyond the shared ones from the same BenchEnv.
 */
function scenariosFor(flags: RunFlags): Scenario[] {
  if (flags.soak) return [soakScenario];
  if (flags.retellClient) return [retellClientScenario];
  const functions = functionCallsScenario({ calls: flags.fnCalls, concurrency: flags.fnConcurrency, workerConcurrency: flags.workerConcurrency });
  if (flags.functionsOnly) return [functions];
  return [voiceScenario, duplicatesScenario, ...(flags.scaleOut ? [scaleOutScenario] : []), ...(flags.functions ? [functions] : [])];
}

function machineLine(env: BenchEnv): string {
  const cpus = os.cpus();
  return [
    `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}`,
    `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `Node ${process.version}`,
    `load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at start`,
    env.pinned ? 'web process pinned to CPU 0, load generator + fake Retell + Redis to CPU 1' : 'nothing pinned',
  ].join('; ');
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const env = new BenchEnv({ pin: flags.pin, retellDelayMs: flags.retellDelayMs, profileDir: flags.profile });
  const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await env.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(130));
  process.on('SIGTERM', () => void stopAll(143));

  const sections: Section[] = [];
  const started = Date.now();
  try {
    log('starting redis-server, fake Retell API and load generator');
    await env.start();
    const ours = await env.startBridge({ cpus: env.cpus.web, name: 'bridge' });
    const full = !flags.soak && !flags.retellClient && !flags.functionsOnly;
    const naive = full ? await env.startNaive() : undefined;
    const candidate =
      flags.candidate && full ? await env.startBridge({ cpus: env.cpus.web, name: 'candidate', root: flags.candidate }) : undefined;
    const ctx: ScenarioContext = { env, flags, ours, naive, candidate, pools: new PoolSizer(), log };
    const header = machineLine(env);
    for (const scenario of scenariosFor(flags)) {
      log(`scenario: ${scenario.name}`);
      sections.push(...(await scenario.run(ctx)));
    }
    const out = [
      `## Benchmark: ${flags.functionsOnly ? 'function calls' : 'voice webhook'} (${new Date().toISOString()})`,
      '',
      `Machine: ${header}. Fake Retell answers after ${flags.retellDelayMs} ms. Took ${Math.round((Date.now() - started) / 1000)} s.`,
      '',
      ...sections.flatMap((s) => [renderSection(s), '']),
    ].join('\n');
    process.stdout.write(`${out}\n`);
    if (flags.json) writeFileSync(flags.json, JSON.stringify({ flags, machine: header, sections }, null, 2));
  } finally {
    await env.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
