/**
 * The benchmark's own Redis: a redis-server on a free loopback port with persistence off, so key counts
 * are exactly the bridge's, and nothing is left behind when it stops.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, spawnPinned, type Spawned } from './proc';

export interface BenchRedis {
  url: string;
  proc: Spawned;
  client: Redis;
  stop(): Promise<void>;
}

export async function startRedis(cpus: string | undefined, nice?: number): Promise<BenchRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-redis-'));
  const proc = spawnPinned(
    'redis-server',
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'],
    { cpus, quiet: true, nice },
  );
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  // Refused connections are expected until the server is up; the loop below reports a real failure.
  client.on('error', () => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if (client.status !== 'ready') await client.connect();
      await client.ping();
      break;
    } catch (err) {
      if (Date.now() > deadline || proc.child.exitCode !== null) {
        await proc.stop();
        throw new Error(`redis-server did not start on ${url}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    proc,
    client,
    async stop() {
      client.disconnect();
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface KeyStats {
  /** Keys in db 0. */
  keys: number;
  /** Of those, keys with a TTL. */
  expiring: number;
  usedMemory: number;
}

/** Key counts from INFO (exact and O(1), unlike a SCAN). */
export async function keyStats(client: Redis): Promise<KeyStats> {
  const [keyspace, mem] = await Promise.all([client.info('keyspace'), client.info('memory')]);
  const db0 = /db0:keys=(\d+),expires=(\d+)/.exec(keyspace);
  const used = /used_memory:(\d+)/.exec(mem);
  return { keys: Number(db0?.[1] ?? 0), expiring: Number(db0?.[2] ?? 0), usedMemory: Number(used?.[1] ?? 0) };
}

/** PTTL of up to `n` random keys, in ms (-1: no TTL). */
export async function samplePttl(client: Redis, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const key = await client.randomkey();
    if (!key) break;
    out.push(await client.pttl(key));
  }
  return out;
}

/** Every key whose PTTL is -1 (no expiry), by SCAN; bounded by the size of the keyspace. */
export async function keysWithoutTtl(client: Redis): Promise<string[]> {
  let cursor = '0';
  const found: string[] = [];
  do {
    const [next, keys] = await client.scan(cursor, 'COUNT', 1000);
    cursor = next;
    if (keys.length) {
      const pipeline = client.pipeline();
      for (const k of keys) pipeline.pttl(k);
      const replies = (await pipeline.exec()) ?? [];
      replies.forEach(([, ttl], i) => {
        if (ttl === -1) found.push(keys[i]!);
      });
    }
  } while (cursor !== '0');
  return found;
}
