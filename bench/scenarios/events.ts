/**
 * Events: how many deliveries one worker process makes per second to a local receiver, and what emitting
 * `call.started` costs the voice webhook.
 *
 * 1. Deliveries: a worker with EVENTS_WEBHOOK_URL pointing at a local HTTPS receiver (every signature
 *    checked with `standardwebhooks`); `n` events go into the stream at once, as the web processes write
 *    them, and the clock runs from the first write to the receiver's last 2xx. Dispatching (stream →
 *    store → jobs) is included: it is the worker's work too. Nothing is pinned here: a delivery is mostly
 *    Redis round trips, and a worker on one CPU with Redis, the receiver and the rest on the other
 *    measured that CPU's queue (half the rate), not the worker.
 * 2. Voice webhook: the bridge as the other scenarios run it (events off) and one with EVENTS_WEBHOOK_URL
 *    set (events on: one XADD per new call), alternating round by round on the same CPU; the figure is the
 *    web process's CPU per call, side by side.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { eventKeys, StreamEventSink } from '../../src/features/events';
import { createLogger } from '../../src/observability/logger';
import { BenchEnv, type WebTarget } from '../lib/harness';
import { measure, type Measurement } from '../lib/measure';
import { nextMessage, ROOT, spawnTs, type Spawned } from '../lib/proc';
import { fmt, median, type Section } from '../lib/report';
import type { Scenario, ScenarioContext } from './types';
import { summarise } from './voice';

export interface EventsOptions {
  /** Events per delivery round. @defaultValue 20000 */
  events: number;
}

export const DEFAULT_EVENTS_OPTIONS: EventsOptions = { events: 20_000 };

interface ReceiverStats {
  type: 'stats';
  received: number;
  ids: number;
  unverified: number;
  firstAt: number;
  lastAt: number;
}

const WARMUP_EVENTS = 2000;
const FIXTURE_CERT = path.join(ROOT, 'tests/support/fixtures/self-signed.crt');

async function stats(receiver: Spawned): Promise<ReceiverStats> {
  const reply = nextMessage(receiver, (m): m is ReceiverStats => (m as { type?: string })?.type === 'stats');
  receiver.child.send({ type: 'stats' });
  return reply;
}

async function reset(receiver: Spawned): Promise<void> {
  const reply = nextMessage(receiver, (m): m is { type: 'reset-done' } => (m as { type?: string })?.type === 'reset-done');
  receiver.child.send({ type: 'reset' });
  await reply;
}

/** Writes `n` events into the stream as the web processes do (the same sink), many at a time. */
async function emit(sink: StreamEventSink, n: number, round: string): Promise<void> {
  const CHUNK = 500;
  for (let i = 0; i < n; i += CHUNK) {
    const writes: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + CHUNK); j++) {
      const sid = `CA${round}${j.toString(16).padStart(32 - round.length, '0')}`;
      writes.push(sink.emit('call.started', { call_sid: sid, retell_call_id: `call_${sid.slice(2)}`, direction: 'inbound', from: '+14155550199', to: '+14155550100', agent_id: 'agent_bench' }));
    }
    await Promise.all(writes);
  }
}

interface DeliveryRound {
  events: number;
  /** CPU the writing process spent per event written (the sink's XADD, as a web process makes it). */
  emitCpuUs: number;
  seconds: number;
  perSecond: number;
  workerCpuUs: number;
  workerCores: number;
  receiverCores: number;
  redisCores: number;
  unverified: number;
  distinct: number;
}

async function deliveryRound(ctx: ScenarioContext, sink: StreamEventSink, worker: WebTarget, receiver: Spawned, n: number): Promise<DeliveryRound> {
  const { env } = ctx;
  await reset(receiver);
  const pids = [worker.proc.pid, receiver.pid, env.redis.proc.pid];
  const before = env.cpuSnapshot(pids);
  const started = Date.now();
  const emitCpu = process.cpuUsage();
  await emit(sink, n, randomBytes(4).toString('hex'));
  const emitUsed = process.cpuUsage(emitCpu);
  let s = await stats(receiver);
  const deadline = Date.now() + 300_000;
  while (s.ids < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    s = await stats(receiver);
  }
  const after = env.cpuSnapshot(pids);
  const seconds = (s.lastAt - started) / 1000;
  const cpu = (p: number) => BenchEnv.cpuMsBetween(before, after, [p]);
  const workerMs = cpu(worker.proc.pid);
  return {
    events: n,
    emitCpuUs: (emitUsed.user + emitUsed.system) / n,
    seconds,
    perSecond: s.ids / seconds,
    workerCpuUs: (workerMs * 1000) / s.received,
    workerCores: workerMs / 1000 / seconds,
    receiverCores: cpu(receiver.pid) / 1000 / seconds,
    redisCores: cpu(env.redis.proc.pid) / 1000 / seconds,
    unverified: s.unverified,
    distinct: s.ids,
  };
}

export function eventsScenario(opts: EventsOptions = DEFAULT_EVENTS_OPTIONS): Scenario {
  return {
    name: 'events',
    async run(ctx: ScenarioContext): Promise<Section[]> {
      const { env, flags, ours, pools } = ctx;
      const secret = `whsec_${randomBytes(32).toString('base64')}`;
      const allCpus = `0-${os.cpus().length - 1}`;
      const receiver = spawnTs('event-receiver', 'bench/programs/event-receiver.ts', { cpus: allCpus, ipc: true, nice: -10, env: { EVENTS_WEBHOOK_SECRET: secret } });
      const { url } = await nextMessage(receiver, (m): m is { type: 'ready'; url: string } => (m as { type?: string })?.type === 'ready');
      const eventsEnv = { EVENTS_WEBHOOK_URL: url, EVENTS_WEBHOOK_SECRET: secret, NODE_EXTRA_CA_CERTS: FIXTURE_CERT };
      const redis = new Redis(env.redis.url);
      const sections: Section[] = [];
      try {
        // 1. Deliveries per second, one worker process on CPU 0.
        const prefix = `bench-ev-${randomBytes(4).toString('hex')}`;
        // At the helpers' priority: on a shared machine its rate is then what the worker does with a core,
        // not how much of one the other tenants leave it.
        env.repinHelpers(allCpus);
        const worker = await env.startWorker({ prefix, cpus: allCpus, name: 'events worker', env: eventsEnv, nice: -10 });
        const sink = new StreamEventSink({ redis, prefix, wanted: () => true, logger: createLogger('warn') });
        ctx.log(`events: warm-up, ${WARMUP_EVENTS} deliveries (not measured)`);
        await deliveryRound(ctx, sink, worker, receiver, WARMUP_EVENTS);
        const rounds: DeliveryRound[] = [];
        for (let round = 0; round < flags.rounds; round++) {
          const r = await deliveryRound(ctx, sink, worker, receiver, opts.events);
          rounds.push(r);
          ctx.log(
            `events round ${round + 1}: ${fmt.int(r.perSecond)} deliveries/s, worker ${fmt.us(r.workerCpuUs)}/delivery (${r.workerCores.toFixed(2)} cores), ` +
              `${r.distinct}/${r.events} delivered, ${r.unverified} unverified`,
          );
        }
        await worker.stop();
        if (env.cpus.rest) env.repinHelpers(env.cpus.rest);
        const emitCpuUs = median(rounds.map((r) => r.emitCpuUs));
        sections.push({
          title: `Event deliveries: one worker process to a local HTTPS receiver, ${fmt.int(opts.events)} events a round, median of ${flags.rounds} (nothing pinned)`,
          header: ['deliveries/s', 'worker CPU/delivery', 'per worker core (1 s ÷ CPU)', 'worker cores', 'receiver cores', 'Redis cores', 'delivered', 'signatures refused'],
          rows: [
            [
              `**${fmt.int(median(rounds.map((r) => r.perSecond)))}**`,
              fmt.us(median(rounds.map((r) => r.workerCpuUs))),
              `${fmt.int(1e6 / median(rounds.map((r) => r.workerCpuUs)))}/s`,
              median(rounds.map((r) => r.workerCores)).toFixed(2),
              median(rounds.map((r) => r.receiverCores)).toFixed(2),
              median(rounds.map((r) => r.redisCores)).toFixed(2),
              rounds.map((r) => `${fmt.int(r.distinct)}/${fmt.int(r.events)}`).join(', '),
              String(rounds.reduce((a, r) => a + r.unverified, 0)),
            ],
          ],
          notes: [
            `by round: ${rounds.map((r) => `${fmt.int(r.perSecond)}/s in ${r.seconds.toFixed(1)} s`).join('; ')}`,
            'the clock runs from the first XADD to the receiver\'s last 2xx: dispatching (record, index, queue) and delivering (sign, POST, mark delivered) together',
          ],
          data: { rounds },
        });

        // 2. The voice webhook, events off (the bridge as run so far) and on, side by side.
        const on = await env.startBridge({ cpus: env.cpus.web, name: 'bridge (events on)', env: eventsEnv });
        const targets: WebTarget[] = [ours, on];
        const c = Math.min(...flags.connections);
        ctx.log(`events: voice webhook warm-up, 5 s each (not measured)`);
        for (const t of targets) {
          const m = await measure(env, t, { connections: c, durationSec: 5, callSids: 'unique', poolSize: pools.size(t.name, 5, c) });
          pools.seen(t.name, m.load.rps);
        }
        // The difference sought (one XADD on ~1 ms of work) is well inside a round's noise on a shared
        // machine: at least 7 rounds, paired in time.
        const voiceRounds = Math.max(flags.rounds, 7);
        const runs: Measurement[] = [];
        for (let round = 0; round < voiceRounds; round++) {
          for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
            const m = await measure(env, t, { connections: c, durationSec: flags.duration, callSids: 'unique', poolSize: pools.size(t.name, flags.duration, c) });
            pools.seen(t.name, m.load.rps);
            runs.push(m);
            ctx.log(`events c=${c} round ${round + 1} ${t.name}: ${fmt.int(m.load.rps)} req/s, ${fmt.us(m.webCpuPerRequestUs)} CPU/req`);
          }
        }
        const emitted = await redis.xlen(eventKeys(on.prefix!).stream);
        await on.stop();
        const off = summarise(runs.filter((m) => m.target === ours.name));
        const withEvents = summarise(runs.filter((m) => m.target === on.name));
        const paired = median(
          runs.filter((m) => m.target === on.name).map((m, i) => m.webCpuPerRequestUs / (runs.filter((x) => x.target === ours.name)[i]?.webCpuPerRequestUs ?? NaN)),
        );
        sections.push({
          title: `Voice webhook with events off and on: new calls at ${c} connections, ${flags.duration} s runs, median of ${voiceRounds} rounds`,
          header: ['bridge', 'req/s', 'p50 ms', 'p99 ms', 'web CPU/req'],
          rows: [
            ['events off', fmt.int(off.rps), fmt.ms(off.p50), fmt.ms(off.p99), fmt.us(off.cpuUs)],
            ['events on (call.started per call)', fmt.int(withEvents.rps), fmt.ms(withEvents.p50), fmt.ms(withEvents.p99), fmt.us(withEvents.cpuUs)],
            ['**on ÷ off**', fmt.x(withEvents.rps / off.rps), fmt.x(withEvents.p50 / off.p50), fmt.x(withEvents.p99 / off.p99), `**${fmt.x(withEvents.cpuUs / off.cpuUs)}**`],
          ],
          notes: [
            `median of per-round CPU/req ratios (on ÷ off): ${fmt.x(paired)}`,
            `by round, CPU/req: off ${runs.filter((m) => m.target === ours.name).map((m) => fmt.us(m.webCpuPerRequestUs)).join(' / ')}; on ${runs.filter((m) => m.target === on.name).map((m) => fmt.us(m.webCpuPerRequestUs)).join(' / ')}`,
            `the events-on bridge wrote ${fmt.int(emitted)} events into its stream (no worker read them here; the stream is capped at 100,000)`,
            `writing an event (the sink's XADD, measured in the delivery rounds' writer): ${fmt.us(emitCpuUs)} of CPU, ${fmt.pct((emitCpuUs / off.cpuUs) * 100)} of the events-off CPU per call`,
          ],
          data: { off, on: withEvents, paired, runs },
        });
      } finally {
        redis.disconnect();
        await receiver.stop();
      }
      return sections;
    },
  };
}
