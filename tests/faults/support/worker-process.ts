import type { ChildProcess } from 'node:child_process';
import { waitFor } from './ports';
import { ServiceProcess } from './service-process';

/**
 * The worker process as production runs it (src/worker.ts: its own Redis connections and Twilio
 * client, SIGTERM drain), started from the TypeScript sources.
 */
export class WorkerProcess extends ServiceProcess {
  private constructor(child: ChildProcess) {
    super(child);
  }

  /**
   * Starts `src/worker.ts` with the test settings plus `env` (REDIS_URL, REDIS_PREFIX and
   * TWILIO_API_BASE_URL at least), and waits until its job connection has reached Redis, unless
   * `waitForRedis` is false (a worker started while Redis is away).
   */
  static async start(env: Record<string, string>, opts: { waitForRedis?: boolean } = {}): Promise<WorkerProcess> {
    const child = ServiceProcess.spawnEntry('src/worker.ts', env);
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
        20_000,
      );
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return worker;
  }
}
