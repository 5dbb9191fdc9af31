/**
 * `npm run dev`'s program (src/bin/dev.ts through tsx) as a process, the one way the tests start it.
 *
 * Each start has a Redis prefix of its own. A user may have `npm run dev` up on the same Redis, with the
 * sandbox's default prefix `sandbox`: a test sharing it would share its queues, and each worker could
 * take the other's jobs. The sandbox honours only prefixes that start with "sandbox", hence sandboxPrefix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { redisAnswers } from '../../src/sandbox/local-redis';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from './redis';

const REPO = path.resolve(__dirname, '../..');

/** A prefix no other test or sandbox uses, which the sandbox accepts (it starts with "sandbox"). */
export function sandboxPrefix(name: string): string {
  return `sandbox-${uniquePrefix(name)}`;
}

export interface DevProcess {
  child: ChildProcess;
  /** stdout and stderr, interleaved. */
  output: () => string;
  exited: Promise<number | null>;
  /** The Redis and prefix it runs with. */
  redisUrl: string;
  prefix: string;
}

/**
 * Starts the program in `cwd` (where it reads .env and writes .sandbox.json: a directory of the test's
 * own) with `env` and `args`, plus REDIS_URL (default the suite's Redis) and REDIS_PREFIX (default a new
 * sandboxPrefix). Stop it with stopDev.
 */
export function startDev(cwd: string, env: Record<string, string>, args: string[] = []): DevProcess {
  const redisUrl = env.REDIS_URL ?? TEST_REDIS_URL;
  const prefix = env.REDIS_PREFIX ?? sandboxPrefix('dev');
  // Its own process group, so a cleanup after a failure also stops a redis-server it started.
  const child = spawn(process.execPath, ['-r', require.resolve('tsx/cjs'), path.join(REPO, 'src/bin/dev.ts'), ...args], {
    cwd,
    env: { ...env, REDIS_URL: redisUrl, REDIS_PREFIX: prefix },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited, redisUrl, prefix };
}

/** Kills it (and its group) if it still runs, then deletes its keys from a Redis that still answers. */
export async function stopDev(dev: DevProcess): Promise<void> {
  if (dev.child.exitCode === null && dev.child.signalCode === null) {
    try {
      process.kill(-dev.child.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    await dev.exited;
  }
  const redis = new URL(dev.redisUrl);
  if (await redisAnswers(redis.hostname, Number(redis.port || 6379))) await deletePrefix(dev.prefix, dev.redisUrl);
}
