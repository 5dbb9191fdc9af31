/**
 * `npm run bench`: load-tests the voice webhook of the bridge against the naive bridge from Retell's
 * guide, on this machine, and prints a Markdown report.
 *
 *   npm run bench                      new calls, duplicates, scale-out, function calls (about 3 minutes)
 *   npm run bench -- --soak            steady load for minutes: RSS and Redis keys over time
 *   npm run bench -- --retell-client   CPU per Retell registration, by way of calling Retell
 *   npm run bench -- --functions-only  Retell function calls through the queue and worker to the Twilio API
 *   npm run bench -- --twilio-client   CPU per Twilio REST request, by way of making it
 *   npm run bench -- --cluster-only    scale-out on a local Redis Cluster: 1 vs 2 web processes, 1 vs 2 workers
 *   npm run bench -- --outbound-only   outbound calls: placement rate at TWILIO_CPS 1 and 50, POST /calls → calls.create latency
 *   npm run bench -- --voice-only      new calls only: the bridge (and a --candidate) against the naive bridge
 *   npm run bench -- --events-only     event deliveries per second by one worker; the voice webhook's CPU with events off and on
 *   npm run bench -- --recording-only  new calls with RECORDING=off and RECORDING=dual side by side: CPU per call
 *   npm run bench -- --traces          new calls with tracing off and on (to a local OTLP receiver), and with --candidate the
 *                                      code without tracing, side by side: CPU per call
 *   npm run bench -- --campaigns       campaigns: 100,000 tasks created, Redis bytes per task, commands per dial at 1k vs 100k tasks,
 *                                      pacing at TWILIO_CPS 1/10/50, max_concurrency, fairness (--campaign-seconds S, 60)
 *   npm run bench -- --console         the console's pages with 10,000 calls and a 100,000-task campaign in Redis: median load of each
 *
 * Flags: --duration S (per run, default 5), --connections 20,100, --rounds 3, --dup-duration S (2),
 * --no-scale-out, --soak-seconds S (240), --soak-rate R (req/s, 400), --retell-delay MS (0),
 * --no-pin, --json FILE (raw numbers), --candidate DIR (also measure the bridge of another checkout,
 * e.g. a change under evaluation, side by side; repeat it to line up several checkouts in the new-call runs), --profile DIR (V8 CPU profiles of the web processes, written when
 * they stop; open them in Chrome DevTools), --no-functions, --fn-calls N (calls per concurrency, 300),
 * --fn-concurrency 1,10,50 (function calls in flight), --worker-concurrency N (WORKER_CONCURRENCY, 10),
 * --drain-jobs N (function calls queued for the worker-throughput run, 1000), --no-outbound, --no-events,
 * --events N (events per delivery round, 20000). With
 * --candidate, the function calls run through both checkouts' web and worker, batch for batch.
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
import { parseArgs } from 'node:util';
import { BenchEnv, type WebTarget } from './lib/harness';
import { PoolSizer } from './lib/measure';
import { renderSection, type Section } from './lib/report';
import { duplicatesScenario } from './scenarios/duplicates';
import { retellClientScenario } from './scenarios/retell-client';
import { clusterScaleOutScenario } from './scenarios/cluster-scale-out';
import { scaleOutScenario } from './scenarios/scale-out';
import { soakScenario } from './scenarios/soak';
import { twilioClientScenario } from './scenarios/twilio-client';
import { DEFAULT_FUNCTION_CALL_OPTIONS, functionCallsScenario } from './scenarios/function-calls';
import { outboundScenario } from './scenarios/outbound';
import { DEFAULT_EVENTS_OPTIONS, eventsScenario } from './scenarios/events';
import { recordingScenario } from './scenarios/recording';
import { tracesScenario } from './scenarios/traces';
import { campaignsScenario, DEFAULT_CAMPAIGN_OPTIONS } from './scenarios/campaigns';
import { consoleScenario } from './scenarios/console';
import type { Flags, Scenario, ScenarioContext } from './scenarios/types';
import { voiceScenario } from './scenarios/voice';

/** The runner's flags: the scenarios' shared ones and those of the function-call scenario. */
interface RunFlags extends Flags {
  /** Run the function-call scenario (default on). */
  functions: boolean;
  /** Only the function-call scenario. */
  functionsOnly: boolean;
  /** Only the scale-out on a Redis Cluster. */
  clusterOnly: boolean;
  fnCalls: number;
  fnConcurrency: number[];
  workerConcurrency: number;
  drainJobs: number;
  /** Run the outbound-call scenario (default on). */
  outbound: boolean;
  /** Only the outbound-call scenario. */
  outboundOnly: boolean;
  /** Only the new-call scenario. */
  voiceOnly: boolean;
  /** Run the events scenario (default on). */
  events: boolean;
  /** Only the events scenario. */
  eventsOnly: boolean;
  /** Events per delivery round. */
  eventCount: number;
  /** Only RECORDING=off against RECORDING=dual. */
  recordingOnly: boolean;
  /** Only tracing off against on (and the --candidate without it). */
  tracesOnly: boolean;
  /** Only the campaigns scenario. */
  campaigns: boolean;
  /** Seconds each campaign pacing run is measured over. */
  campaignSeconds: number;
  /** Only the console's pages. */
  console: boolean;
}

function parseFlags(argv: string[]): RunFlags {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '20,100' },
      rounds: { type: 'string', default: '3' },
      'dup-duration': { type: 'string', default: '2' },
      'no-scale-out': { type: 'boolean', default: false },
      soak: { type: 'boolean', default: false },
      'retell-client': { type: 'boolean', default: false },
      'twilio-client': { type: 'boolean', default: false },
      'soak-seconds': { type: 'string', default: '240' },
      'soak-rate': { type: 'string', default: '400' },
      'retell-delay': { type: 'string', default: '0' },
      'no-pin': { type: 'boolean', default: false },
      json: { type: 'string' },
      candidate: { type: 'string', multiple: true },
      profile: { type: 'string' },
      'no-functions': { type: 'boolean', default: false },
      'functions-only': { type: 'boolean', default: false },
      'cluster-only': { type: 'boolean', default: false },
      'fn-calls': { type: 'string', default: String(DEFAULT_FUNCTION_CALL_OPTIONS.calls) },
      'fn-concurrency': { type: 'string', default: DEFAULT_FUNCTION_CALL_OPTIONS.concurrency.join(',') },
      'worker-concurrency': { type: 'string', default: String(DEFAULT_FUNCTION_CALL_OPTIONS.workerConcurrency) },
      'drain-jobs': { type: 'string', default: String(DEFAULT_FUNCTION_CALL_OPTIONS.drainJobs) },
      'no-outbound': { type: 'boolean', default: false },
      'outbound-only': { type: 'boolean', default: false },
      'voice-only': { type: 'boolean', default: false },
      'no-events': { type: 'boolean', default: false },
      'events-only': { type: 'boolean', default: false },
      events: { type: 'string', default: String(DEFAULT_EVENTS_OPTIONS.events) },
      'recording-only': { type: 'boolean', default: false },
      traces: { type: 'boolean', default: false },
      campaigns: { type: 'boolean', default: false },
      'campaign-seconds': { type: 'string', default: String(DEFAULT_CAMPAIGN_OPTIONS.seconds) },
      console: { type: 'boolean', default: false },
    },
  });
  const num = (name: string, value: string, min: number, max: number): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number from ${min} to ${max}`);
    return n;
  };
  const list = (name: string, value: string, min: number, max: number) => value.split(',').map((c) => num(name, c, min, max));
  return {
    duration: num('duration', v.duration, 1, 120),
    connections: list('connections', v.connections, 1, 1000),
    rounds: num('rounds', v.rounds, 1, 20),
    dupDuration: num('dup-duration', v['dup-duration'], 1, 120),
    scaleOut: !v['no-scale-out'],
    soak: v.soak,
    retellClient: v['retell-client'],
    twilioClient: v['twilio-client'],
    soakSeconds: num('soak-seconds', v['soak-seconds'], 10, 3600),
    soakRate: num('soak-rate', v['soak-rate'], 2, 20_000),
    retellDelayMs: num('retell-delay', v['retell-delay'], 0, 10_000),
    pin: !v['no-pin'],
    json: v.json,
    candidates: (v.candidate ?? []).map((c) => path.resolve(c)),
    profile: v.profile === undefined ? undefined : path.resolve(v.profile),
    functions: !v['no-functions'],
    functionsOnly: v['functions-only'],
    clusterOnly: v['cluster-only'],
    fnCalls: num('fn-calls', v['fn-calls'], 10, 100_000),
    fnConcurrency: list('fn-concurrency', v['fn-concurrency'], 1, 1000),
    workerConcurrency: num('worker-concurrency', v['worker-concurrency'], 1, 200),
    drainJobs: num('drain-jobs', v['drain-jobs'], 100, 100_000),
    outbound: !v['no-outbound'],
    outboundOnly: v['outbound-only'],
    voiceOnly: v['voice-only'],
    events: !v['no-events'],
    eventsOnly: v['events-only'],
    eventCount: num('events', v.events, 1000, 1_000_000),
    recordingOnly: v['recording-only'],
    tracesOnly: v.traces,
    campaigns: v.campaigns,
    campaignSeconds: num('campaign-seconds', v['campaign-seconds'], 5, 600),
    console: v.console,
  };
}

/**
 * The scenarios of a run, in order; each returns sections of the report and starts whatever processes
 * it needs beyond the shared ones from the same BenchEnv.
 */
function scenariosFor(flags: RunFlags): Scenario[] {
  if (flags.soak) return [soakScenario];
  if (flags.retellClient) return [retellClientScenario];
  if (flags.twilioClient) return [twilioClientScenario];
  if (flags.console) return [consoleScenario];
  const functions = functionCallsScenario({
    calls: flags.fnCalls,
    concurrency: flags.fnConcurrency,
    workerConcurrency: flags.workerConcurrency,
    drainJobs: flags.drainJobs,
  });
  if (flags.functionsOnly) return [functions];
  if (flags.clusterOnly) return [clusterScaleOutScenario];
  if (flags.outboundOnly) return [outboundScenario()];
  if (flags.voiceOnly) return [voiceScenario];
  const events = eventsScenario({ events: flags.eventCount });
  if (flags.eventsOnly) return [events];
  if (flags.recordingOnly) return [recordingScenario];
  if (flags.tracesOnly) return [tracesScenario];
  if (flags.campaigns) return [campaignsScenario({ ...DEFAULT_CAMPAIGN_OPTIONS, seconds: flags.campaignSeconds })];
  return [
    voiceScenario,
    recordingScenario,
    tracesScenario,
    duplicatesScenario,
    ...(flags.scaleOut ? [scaleOutScenario, clusterScaleOutScenario] : []),
    ...(flags.functions ? [functions] : []),
    ...(flags.outbound ? [outboundScenario()] : []),
    ...(flags.events ? [events] : []),
  ];
}

/** What a run measures, for the report's heading. */
function title(flags: RunFlags): string {
  if (flags.functionsOnly) return 'function calls';
  if (flags.outboundOnly) return 'outbound calls';
  if (flags.twilioClient) return 'Twilio REST client';
  if (flags.retellClient) return 'Retell client';
  if (flags.clusterOnly) return 'scale-out on a Redis Cluster';
  if (flags.eventsOnly) return 'events';
  if (flags.recordingOnly) return 'voice webhook, RECORDING=off vs dual';
  if (flags.tracesOnly) return 'voice webhook, tracing off vs on';
  if (flags.campaigns) return 'campaigns';
  if (flags.console) return 'console pages';
  return 'voice webhook';
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
    const full = !flags.soak && !flags.retellClient && !flags.twilioClient && !flags.functionsOnly && !flags.clusterOnly && !flags.outboundOnly && !flags.eventsOnly && !flags.recordingOnly && !flags.tracesOnly && !flags.campaigns && !flags.console;
    const naive = full ? await env.startNaive() : undefined;
    const candidates: WebTarget[] = [];
    if (full) {
      for (const [i, root] of flags.candidates.entries()) {
        candidates.push(await env.startBridge({ cpus: env.cpus.web, name: i === 0 ? 'candidate' : `candidate${i + 1}`, root }));
      }
    }
    const ctx: ScenarioContext = { env, flags, ours, naive, candidates, pools: new PoolSizer(), log };
    const header = machineLine(env);
    for (const scenario of scenariosFor(flags)) {
      log(`scenario: ${scenario.name}`);
      sections.push(...(await scenario.run(ctx)));
    }
    const out = [
      `## Benchmark: ${title(flags)} (${new Date().toISOString()})`,
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
