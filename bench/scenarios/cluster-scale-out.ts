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
import { CALL_ACTIONS_QUEUE, queuePrefix } from '../../src/jobs/queues';
import { RedisClusterTopology } from '../../tests/faults/support/redis-topology';
import type { WebTarget } from '../lib/harness';
import { measure, type Measurement } from '../lib/measure';
import { fmt, median, type Section } from '../lib/report';
import { DESTINATIONS, drainBatch, drainSection, type DrainResult } from './function-calls';
import { anomalies } from './voice';
import type { Scenario, ScenarioContext } from './types';

/** Function calls queued per worker measurement, and before it (not measured) to warm the workers up. */
const JOBS = 1000;
const WARMUP_JOBS = 100;

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
  const drains: Array<DrainResult & { bridge: string }> = [];
  try {
    for (let round = 0; round < flags.rounds; round++) {
      for (const n of round % 2 === 0 ? [1, 2] : [2, 1]) {
        const workers: WebTarget[] = [];
        try {
          for (let i = 0; i < n; i++) workers.push(await env.startWorker({ prefix, cpus, name: `cluster-worker-${i + 1}`, env: fnEnv }));
          await drainBatch(env, { web, workers, queue, redisPid, n: WARMUP_JOBS });
          const d = await drainBatch(env, { web, workers, queue, redisPid, n: JOBS });
          drains.push({ ...d, bridge: label(n) });
          ctx.log(
            `cluster scale-out round ${round + 1}, ${label(n)}: ${fmt.int(d.jobsPerSecond)} jobs/s, ${fmt.us(d.workerCpuUs)}/job, workers ${d.cores.workers.toFixed(2)} cores, ` +
              `queue's Redis ${d.cores.redis.toFixed(2)}, fake Twilio ${d.cores.twilio.toFixed(2)}, machine ${d.cores.machine.toFixed(2)}, ${d.correct}/${JOBS} correct`,
          );
        } finally {
          for (const w of workers) await w.stop();
        }
      }
    }
  } finally {
    await queue.close();
    connection.disconnect();
    await web.stop();
  }
  const of = (n: number) => drains.filter((d) => d.bridge === label(n));
  const perRound = of(2).map((d, i) => d.jobsPerSecond / of(1)[i]!.jobsPerSecond);
  const section = drainSection(
    `Scale-out on a Redis Cluster (3 masters): 1 vs 2 worker processes draining ${JOBS.toLocaleString('en-US')} queued function calls, nothing pinned, median of ${flags.rounds} rounds`,
    drains,
    JOBS,
  );
  section.header[0] = 'workers';
  section.header[4] = "queue's Redis cores";
  section.notes.unshift(`2 ÷ 1 worker processes: **${fmt.x(median(perRound))}** jobs/s (per round ${perRound.map(fmt.x).join(' / ')}) on ${os.cpus().length} cores; each WORKER_CONCURRENCY=10`);
  return section;
}

const label = (n: number) => `${n} worker process${n > 1 ? 'es' : ''}`;
