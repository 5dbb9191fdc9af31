/**
 * Scale-out on a Redis Cluster: the bridge configured with REDIS_CLUSTER_NODES (three masters on
 * loopback), as 1 and as 2 web processes, and with 1 and 2 worker processes. Nothing is pinned: the
 * processes, the Cluster's servers and the helpers share the machine's cores, as on a box this size.
 *
 * - Web: new-call webhooks at the highest --connections, req/s with 1 and with 2 web processes.
 * - Workers: the queue is paused while the web process queues a batch of function calls (half
 *   transfers, half hang-ups), then resumed; jobs/s is the batch over the time from the resume to the
 *   last Twilio request at the fake Twilio API, with 1 and with 2 worker processes draining it.
 *
 * Each measured in rotating order over the rounds; the report gives medians and the 2 ÷ 1 ratios.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Queue } from 'bullmq';
import { Cluster } from 'ioredis';
import { CALL_ACTIONS_QUEUE, queuePrefix } from '../../src/jobs/call-action-job';
import { RedisClusterTopology } from '../../tests/faults/support/redis-topology';
import { BenchEnv, type WebTarget } from '../lib/harness';
import { measure, type Measurement } from '../lib/measure';
import { machineCpuMs } from '../lib/proc';
import { fmt, median, type Section } from '../lib/report';
import { DESTINATIONS, liveCalls, sendFunctionCalls, UpdateCollector, wallNow } from './function-calls';
import { anomalies } from './voice';
import type { Scenario, ScenarioContext } from './types';

/** Function calls queued per worker measurement, and before it (not measured) to warm the workers up. */
const JOBS = 1000;
const WARMUP_JOBS = 100;

interface DrainResult {
  workers: number;
  round: number;
  jobsPerSecond: number;
  /** Worker CPU per job, µs, and cores kept busy while draining: the workers, the master holding the queue, the fake Twilio API, everything. */
  workerCpuUs: number;
  workerCores: number;
  redisCores: number;
  twilioCores: number;
  machineCores: number;
  correct: number;
  problems: string[];
}

export const clusterScaleOutScenario: Scenario = {
  name: 'cluster-scale-out',
  async run(ctx: ScenarioContext): Promise<Section[]> {
    const { env } = ctx;
    const allCpus = `0-${os.cpus().length - 1}`;
    env.repinHelpers(allCpus);
    ctx.log('cluster scale-out: starting a Redis Cluster of three masters');
    const cluster = await RedisClusterTopology.start();
    try {
      // An empty REDIS_URL counts as unset, so the cluster's nodes are the bridge's Redis.
      const clusterEnv = { REDIS_URL: '', ...cluster.env };
      const web = await webScaleOut(ctx, allCpus, clusterEnv);
      const workers = await workerScaleOut(ctx, allCpus, clusterEnv, cluster);
      return [web, workers];
    } finally {
      await cluster.dispose();
      if (env.cpus.rest) env.repinHelpers(env.cpus.rest);
    }
  },
};

async function webScaleOut(ctx: ScenarioContext, cpus: string, clusterEnv: Record<string, string>): Promise<Section> {
  const { env, flags, pools } = ctx;
  const c = Math.max(...flags.connections);
  const one = await env.startBridge({ processes: 1, cpus, name: 'cluster-web-1', env: clusterEnv });
  const two = await env.startBridge({ processes: 2, cpus, name: 'cluster-web-2', env: clusterEnv });
  const all: Measurement[] = [];
  try {
    for (const t of [one, two]) pools.seen(t.name, (await measure(env, t, { connections: c, durationSec: 2, callSids: 'unique', poolSize: pools.size(t.name, 2, c) })).load.rps);
    for (let round = 0; round < flags.rounds; round++) {
      for (const t of round % 2 === 0 ? [one, two] : [two, one]) {
        const m = await measure(env, t, { connections: c, durationSec: flags.duration, callSids: 'unique', poolSize: pools.size(t.name, flags.duration, c) });
        pools.seen(t.name, m.load.rps);
        all.push(m);
        ctx.log(`cluster scale-out round ${round + 1} ${t.name}: ${fmt.int(m.load.rps)} req/s, p99 ${fmt.ms(m.load.p99)} ms, web ${m.cores.web.toFixed(2)} cores`);
      }
    }
  } finally {
    await one.stop();
    await two.stop();
  }
  const of = (t: WebTarget) => all.filter((m) => m.target === t.name);
  const med = (ms: Measurement[], f: (m: Measurement) => number) => median(ms.map(f));
  const rounds = (t: WebTarget) => of(t).map((m) => m.load.rps);
  const perRound = rounds(two).map((rps, i) => rps / rounds(one)[i]!);
  const row = (label: string, t: WebTarget) => [
    label,
    fmt.int(med(of(t), (m) => m.load.rps)),
    fmt.ms(med(of(t), (m) => m.load.p50)),
    fmt.ms(med(of(t), (m) => m.load.p99)),
    fmt.us(med(of(t), (m) => m.webCpuPerRequestUs)),
    med(of(t), (m) => m.cores.web).toFixed(2),
    med(of(t), (m) => m.cores.machine).toFixed(2),
  ];
  return {
    title: `Scale-out on a Redis Cluster (3 masters): 1 vs 2 web processes, new calls at ${c} connections, nothing pinned, median of ${flags.rounds} rounds`,
    header: ['web', 'req/s', 'p50 ms', 'p99 ms', 'web CPU/req', 'web cores', 'machine cores'],
    rows: [row('1 web process', one), row('2 web processes', two)],
    notes: [
      `2 ÷ 1 web processes: **${fmt.x(median(perRound))}** throughput (per round ${perRound.map(fmt.x).join(' / ')}) on ${os.cpus().length} cores`,
      'the Cluster\'s three redis-server processes are not in "web cores"; they are in "machine cores"',
      ...anomalies(all, true).map((a) => `anomaly: ${a}`),
    ],
    data: { perRound, runs: all },
  };
}

async function workerScaleOut(ctx: ScenarioContext, cpus: string, clusterEnv: Record<string, string>, cluster: RedisClusterTopology): Promise<Section> {
  const { env, flags } = ctx;
  const prefix = `bench-cluster-${randomBytes(4).toString('hex')}`;
  const fnEnv = { ...clusterEnv, TWILIO_API_BASE_URL: await env.startFakeTwilio(), TRANSFER_DESTINATIONS: JSON.stringify(DESTINATIONS) };
  const web = await env.startBridge({ cpus, name: 'cluster-web (functions)', prefix, env: fnEnv });
  const connection = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  connection.on('error', () => undefined); // the scenario's own queue client; the Cluster stops after it
  const queue = new Queue(CALL_ACTIONS_QUEUE, { connection, prefix: queuePrefix(prefix) });
  const queueMaster = await cluster.masterFor(queuePrefix(prefix));
  const redisPid = cluster.nodes.find((n) => n.port === queueMaster)!.pid;
  const results: DrainResult[] = [];
  try {
    for (let round = 0; round < flags.rounds; round++) {
      for (const n of round % 2 === 0 ? [1, 2] : [2, 1]) {
        const r = await drain(ctx, { web, queue, prefix, cpus, env: fnEnv, workers: n, round, redisPid });
        results.push(r);
        ctx.log(
          `cluster scale-out round ${round + 1}, ${n} worker(s): ${fmt.int(r.jobsPerSecond)} jobs/s, ${fmt.us(r.workerCpuUs)}/job, ` +
            `workers ${r.workerCores.toFixed(2)} cores, queue's Redis ${r.redisCores.toFixed(2)}, fake Twilio ${r.twilioCores.toFixed(2)}, machine ${r.machineCores.toFixed(2)}, ${r.correct}/${JOBS} correct`,
        );
      }
    }
  } finally {
    await queue.close();
    connection.disconnect();
    await web.stop();
  }
  const of = (n: number) => results.filter((r) => r.workers === n);
  const perRound = of(2).map((r, i) => r.jobsPerSecond / of(1)[i]!.jobsPerSecond);
  const row = (n: number) => [
    `${n} worker process${n > 1 ? 'es' : ''}`,
    fmt.int(median(of(n).map((r) => r.jobsPerSecond))),
    fmt.us(median(of(n).map((r) => r.workerCpuUs))),
    median(of(n).map((r) => r.workerCores)).toFixed(2),
    median(of(n).map((r) => r.redisCores)).toFixed(2),
    median(of(n).map((r) => r.twilioCores)).toFixed(2),
    median(of(n).map((r) => r.machineCores)).toFixed(2),
    `${of(n).reduce((a, r) => a + r.correct, 0)}/${of(n).length * JOBS}`,
  ];
  return {
    title: `Scale-out on a Redis Cluster (3 masters): 1 vs 2 worker processes draining ${JOBS.toLocaleString('en-US')} queued function calls, nothing pinned, median of ${flags.rounds} rounds`,
    header: ['workers', 'jobs/s', 'worker CPU/job', 'worker cores', "queue's Redis cores", 'fake Twilio cores', 'machine cores', 'correct'],
    rows: [row(1), row(2)],
    notes: [
      `2 ÷ 1 worker processes: **${fmt.x(median(perRound))}** jobs/s (per round ${perRound.map(fmt.x).join(' / ')}) on ${os.cpus().length} cores`,
      `each worker WORKER_CONCURRENCY=10; the batch (half transfer_call, half end_call) is queued through the web process while the queue is paused; ` +
        `jobs/s runs from the resume to the last request at the fake Twilio API; correct = exactly one update of the expected shape per call`,
      ...results.flatMap((r) => r.problems.map((p) => `anomaly, ${r.workers} worker(s), round ${r.round + 1}: ${p}`)),
    ],
    data: { perRound, results },
  };
}

/** Starts `workers` worker processes, drains a warm-up batch and then a measured one queued while paused, and stops them. */
async function drain(
  ctx: ScenarioContext,
  opts: { web: WebTarget; queue: Queue; prefix: string; cpus: string; env: Record<string, string>; workers: number; round: number; redisPid: number },
): Promise<DrainResult> {
  const { env } = ctx;
  await opts.queue.pause();
  const workers: WebTarget[] = [];
  try {
    for (let i = 0; i < opts.workers; i++) {
      workers.push(await env.startWorker({ prefix: opts.prefix, cpus: opts.cpus, name: `cluster-worker-${i + 1}`, env: opts.env }));
    }
    const run = async (n: number) => {
      const calls = await liveCalls(env, opts.web, n);
      await env.takeTwilioUpdates();
      const sent = await sendFunctionCalls(opts.web, calls, 20);
      const pids = workers.flatMap((w) => w.pids);
      const others = [opts.redisPid, env.twilioPid!];
      const before = env.cpuSnapshot([...pids, ...others]);
      const machineBefore = machineCpuMs();
      const resumedAt = wallNow();
      await opts.queue.resume();
      const updates = new UpdateCollector(env);
      await updates.awaitAll(calls.map((c) => c.callSid));
      const after = env.cpuSnapshot([...pids, ...others]);
      const machineAfter = machineCpuMs();
      await updates.lateOnes();
      await opts.queue.pause();
      const { correct, problems, arrivals } = updates.check(sent, calls);
      const seconds = (Math.max(...arrivals.values()) - resumedAt) / 1000;
      return {
        jobsPerSecond: arrivals.size / seconds,
        workerCpuUs: (BenchEnv.cpuMsBetween(before, after, pids) * 1000) / n,
        workerCores: BenchEnv.coresUsed(before, after, pids),
        redisCores: BenchEnv.coresUsed(before, after, [opts.redisPid]),
        twilioCores: BenchEnv.coresUsed(before, after, [env.twilioPid!]),
        machineCores: (machineAfter.busy - machineBefore.busy) / (Number(after.at - before.at) / 1e6),
        correct,
        problems,
      };
    };
    await run(WARMUP_JOBS);
    return { workers: opts.workers, round: opts.round, ...(await run(JOBS)) };
  } finally {
    for (const w of workers) await w.stop();
    await opts.queue.resume();
  }
}
