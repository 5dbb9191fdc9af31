import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitFor } from './ports';
import { RedisServer } from './redis-server';

const run = promisify(execFile);

/** A master starts a replica's first sync at once, instead of waiting 5 s for more replicas to batch. */
const REPLICATION_ARGS = ['--repl-diskless-sync-delay', '0'];

/** Runs `redis-cli` against one server and returns its (trimmed) output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 20_000 });
  return stdout.trim();
}

/** One field of an INFO section, e.g. `info(port, 'replication', 'role')`. */
export async function infoField(port: number, section: string, field: string): Promise<string | undefined> {
  const text = await redisCli(port, 'INFO', section).catch(() => '');
  return new RegExp(`^${field}:(.*)$`, 'm').exec(text)?.[1]?.trim();
}

/**
 * A Redis deployment of several servers a test can start, point the bridge at (`env`), break and
 * watch heal. Every process is a RedisServer, so each is killed when the test process ends.
 */
export interface RedisTopology {
  /** What the bridge's processes are configured with (no REDIS_URL). */
  env: Record<string, string>;
  /** The port of the master that serves `key` now. */
  masterFor(key: string): Promise<number>;
  /** SIGKILLs the master serving `key`; resolves once another server has taken its place. */
  failOver(key: string, timeoutMs: number): Promise<{ killed: number; promoted: number }>;
  dispose(): Promise<void>;
}

/**
 * Redis Cluster on loopback: `masters` servers with `--cluster-enabled yes`, joined with
 * `redis-cli --cluster create` (no replicas), plus replicas added later with `addReplica`.
 * `nodeTimeoutMs` is `cluster-node-timeout`: how long a silent master takes to be failed over.
 */
export class RedisClusterTopology implements RedisTopology {
  private constructor(
    private readonly servers: RedisServer[],
    private readonly dir: string,
    private readonly nodeTimeoutMs: number,
  ) {}

  static async start(opts: { masters?: number; nodeTimeoutMs?: number } = {}): Promise<RedisClusterTopology> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-cluster-'));
    const topology = new RedisClusterTopology([], dir, opts.nodeTimeoutMs ?? 1500);
    try {
      for (let i = 0; i < (opts.masters ?? 3); i++) await topology.startNode();
      const [first] = topology.servers;
      await run('redis-cli', ['--cluster', 'create', ...topology.servers.map((s) => s.address), '--cluster-replicas', '0', '--cluster-yes'], {
        timeout: 30_000,
      });
      await topology.waitHealthy();
      // A cluster of one machine's ports announces 127.0.0.1 to clients, which is what they reach.
      if (!(await redisCli(first!.port, 'CLUSTER', 'SLOTS')).includes('127.0.0.1')) throw new Error('cluster announces no loopback address');
    } catch (err) {
      await topology.dispose();
      throw err;
    }
    return topology;
  }

  get env(): Record<string, string> {
    return { REDIS_CLUSTER_NODES: this.servers.filter((s) => s.running).map((s) => s.address).join(',') };
  }

  /** The running nodes, by port, with their pids (for CPU accounting). */
  get nodes(): Array<{ port: number; pid: number }> {
    return this.servers.filter((s) => s.running && s.pid !== undefined).map((s) => ({ port: s.port, pid: s.pid! }));
  }

  private async startNode(): Promise<RedisServer> {
    // Each node rewrites its own cluster configuration file: one directory per node.
    const dir = path.join(this.dir, `node-${this.servers.length}`);
    mkdirSync(dir);
    const server = await RedisServer.start({
      args: [
        '--dir', dir,
        ...REPLICATION_ARGS,
        '--cluster-enabled', 'yes',
        // Not port + 10000, the default, which a free port high in the ephemeral range would push past 65535.
        '--cluster-port', String(await freePort()),
        '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', String(this.nodeTimeoutMs),
        // A replica may take over however long it has been cut off: the test kills masters on purpose.
        '--cluster-replica-validity-factor', '0',
      ],
    });
    this.servers.push(server);
    return server;
  }

  /** Adds a replica of the master on `masterPort` and waits until it has synced and every node knows it. */
  async addReplica(masterPort: number): Promise<RedisServer> {
    const replica = await this.startNode();
    const masterId = await redisCli(masterPort, 'CLUSTER', 'MYID');
    await run(
      'redis-cli',
      ['--cluster', 'add-node', replica.address, `127.0.0.1:${masterPort}`, '--cluster-slave', '--cluster-master-id', masterId],
      { timeout: 30_000 },
    );
    await waitFor('the replica to sync with its master', async () => (await infoField(replica.port, 'replication', 'master_link_status')) === 'up', 20_000);
    await this.waitHealthy();
    return replica;
  }

  /** Waits until every running node reports the cluster ok and knows every other running node. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const running = () => this.servers.filter((s) => s.running);
    await waitFor(
      'the cluster to be ok on every node',
      async () => {
        for (const s of running()) {
          if (!(await redisCli(s.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
          const known = (await redisCli(s.port, 'CLUSTER', 'NODES')).split('\n').filter((l) => !l.includes('fail')).length;
          if (known < running().length) return false;
        }
        return true;
      },
      timeoutMs,
      100,
    );
  }

  async masterFor(key: string): Promise<number> {
    const [any] = this.servers.filter((s) => s.running);
    const slot = Number(await redisCli(any!.port, 'CLUSTER', 'KEYSLOT', key));
    for (const s of this.servers.filter((x) => x.running)) {
      if ((await infoField(s.port, 'replication', 'role')) !== 'master') continue;
      const nodes = await redisCli(s.port, 'CLUSTER', 'NODES');
      const mine = nodes.split('\n').find((l) => l.includes('myself'));
      const ranges = (mine ?? '').split(' ').slice(8);
      if (ranges.some((r) => (r.includes('-') ? slot >= Number(r.split('-')[0]) && slot <= Number(r.split('-')[1]) : Number(r) === slot))) return s.port;
    }
    throw new Error(`no master serves slot ${slot} (key ${key})`);
  }

  async failOver(key: string, timeoutMs: number): Promise<{ killed: number; promoted: number }> {
    const killed = await this.masterFor(key);
    await this.servers.find((s) => s.port === killed)!.kill();
    let promoted = killed;
    await waitFor(
      'a replica to take over the killed master\'s slots',
      async () => {
        promoted = await this.masterFor(key).catch(() => killed);
        return promoted !== killed;
      },
      timeoutMs,
      100,
    );
    await this.waitHealthy(timeoutMs);
    return { killed, promoted };
  }

  async dispose(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.dispose()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Sentinel on loopback: a master, a replica of it, and one `redis-server --sentinel` watching them
 * (quorum 1) with its configuration in a temporary directory. `downAfterMs` is how long the master
 * may be silent before the sentinel promotes the replica.
 */
export class RedisSentinelTopology implements RedisTopology {
  static readonly NAME = 'bridge-master';

  private constructor(
    private readonly servers: RedisServer[],
    private readonly sentinel: RedisServer,
    private readonly dir: string,
  ) {}

  static async start(opts: { downAfterMs?: number } = {}): Promise<RedisSentinelTopology> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-sentinel-'));
    const started: RedisServer[] = [];
    try {
      const master = await RedisServer.start({ args: ['--dir', dir, ...REPLICATION_ARGS] });
      started.push(master);
      const replica = await RedisServer.start({ args: ['--dir', dir, '--replicaof', '127.0.0.1', String(master.port)] });
      started.push(replica);
      await waitFor('the replica to sync with the master', async () => (await infoField(replica.port, 'replication', 'master_link_status')) === 'up', 20_000);

      const name = RedisSentinelTopology.NAME;
      const configFile = path.join(dir, 'sentinel.conf');
      writeFileSync(
        configFile,
        [
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
          `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const sentinel = await RedisServer.start({ configFile, args: ['--sentinel', '--dir', dir] });
      started.push(sentinel);
      const topology = new RedisSentinelTopology([master, replica], sentinel, dir);
      // Until the sentinel has seen the replica (through the master's INFO) it has nobody to promote.
      await waitFor(
        'the sentinel to know the replica',
        async () => (await redisCli(sentinel.port, 'SENTINEL', 'REPLICAS', name)).includes(String(replica.port)),
        20_000,
        100,
      );
      return topology;
    } catch (err) {
      await Promise.all(started.map((s) => s.dispose()));
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get env(): Record<string, string> {
    return { REDIS_SENTINELS: this.sentinel.address, REDIS_SENTINEL_NAME: RedisSentinelTopology.NAME };
  }

  /** The master the sentinel names (one master serves every key). */
  async masterFor(): Promise<number> {
    const reply = await redisCli(this.sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', RedisSentinelTopology.NAME);
    return Number(reply.split('\n')[1]);
  }

  async failOver(_key: string, timeoutMs: number): Promise<{ killed: number; promoted: number }> {
    const killed = await this.masterFor();
    await this.servers.find((s) => s.port === killed)!.kill();
    let promoted = killed;
    await waitFor(
      'the sentinel to promote the replica',
      async () => {
        promoted = await this.masterFor();
        return promoted !== killed && (await infoField(promoted, 'replication', 'role')) === 'master';
      },
      timeoutMs,
      100,
    );
    return { killed, promoted };
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.servers, this.sentinel].map((s) => s.dispose()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The two failovers the fault suite puts the bridge through, as a `describe.each` table: Sentinel
 * promoting the replica of a killed master, and a Cluster whose master serving `queueKey` (the job
 * queue's hash tag) is killed and its replica takes over.
 */
export function failoverTopologies(queueKey: string): Array<[string, () => Promise<RedisTopology>]> {
  return [
    ['Sentinel: the master is killed and the sentinel promotes its replica', () => RedisSentinelTopology.start()],
    [
      'Redis Cluster: the master serving the job queue is killed and its replica takes over',
      async () => {
        const cluster = await RedisClusterTopology.start();
        await cluster.addReplica(await cluster.masterFor(queueKey));
        return cluster;
      },
    ],
  ];
}
