import type { ChildProcess } from 'node:child_process';
import type { TestBridge } from '../../support/bridge';
import { namesRedisTopology } from '../../support/redis';
import { waitFor } from './ports';
import { ServiceProcess } from './service-process';

/**
 * The worker process as production runs it (src/bin/worker.ts: its own Redis connections and Twilio
 * client, SIGTERM drain), started from the TypeScript sources.
 */
export class WorkerProcess extends ServiceProcess {
  private constructor(child: ChildProcess) {
    super(child);
  }

  /**
   * A worker for `bridge`'s queue and fake Twilio API, reaching Redis at `redisUrl` (default: the
   * bridge's), or through `env`'s REDIS_CLUSTER_NODES or REDIS_SENTINELS.
   */
  static forBridge(bridge: TestBridge, opts: { redisUrl?: string; concurrency?: number; env?: Record<string, string> } = {}): Promise<WorkerProcess> {
    return WorkerProcess.start({
      ...(namesRedisTopology(opts.env ?? {}) ? {} : { REDIS_URL: opts.redisUrl ?? bridge.config.redis.url }),
      REDIS_PREFIX: bridge.config.redis.prefix,
      TWILIO_API_BASE_URL: bridge.twilio.url,
      ...(opts.concurrency ? { WORKER_CONCURRENCY: String(opts.concurrency) } : {}),
      ...opts.env,
    });
  }

  /**
   * Starts `src/bin/worker.ts` with the test settings plus `env` (REDIS_URL, REDIS_PREFIX and
   * TWILIO_API_BASE_URL at least), and waits until its job connection has reached Redis, unless
   * `waitForRedis` is false (a worker started while Redis is away).
   */
  static async start(env: Record<string, string>, opts: { waitForRedis?: boolean } = {}): Promise<WorkerProcess> {
    const child = ServiceProcess.spawnEntry('src/bin/worker.ts', env);
    const worker = new WorkerProcess(child);
    try {
      await waitFor(
        'the worker process to start',
        () => {
          if (!worker.alive) throw new Error(`worker process exited during start-up:\n${worker.lines.join('\n')}`);
          const started = worker.messages().includes('worker started');
          if (opts.waitForRedis === false) return started;
          return started && worker.records().some((r) => r.msg === 'redis connected' && r.role === 'blocking');
        },
        45_000,
      );
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return worker;
  }
}
