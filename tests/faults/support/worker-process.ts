import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PUBLIC_URL, RETELL_KEY } from '../../support/bridge';
import { ACCOUNT_SID, AUTH_TOKEN } from '../../support/twilio-signing';
import { exited, track } from './children';
import { waitFor } from './ports';

const ROOT = path.resolve(__dirname, '../../..');

/**
 * The worker process as production runs it (src/worker.ts: configuration from the environment, its
 * own Redis connections and Twilio client, SIGTERM drain), started from the TypeScript sources.
 */
export class WorkerProcess {
  /** Every line the process wrote to stdout (pino JSON) and stderr. */
  readonly lines: string[] = [];
  private constructor(readonly child: ChildProcess) {}

  /**
   * Starts `src/worker.ts` with the test settings plus `env` (REDIS_URL, REDIS_PREFIX and
   * TWILIO_API_BASE_URL at least), and waits until its job connection has reached Redis, unless
   * `waitForRedis` is false (a worker started while Redis is away).
   */
  static async start(env: Record<string, string>, opts: { waitForRedis?: boolean } = {}): Promise<WorkerProcess> {
    const child = spawn(process.execPath, ['-r', 'tsx/cjs', 'src/worker.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        NODE_ENV: 'test',
        PUBLIC_URL,
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        RETELL_API_KEY: RETELL_KEY,
        RETELL_AGENT_ID: 'agent_default',
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    const worker = new WorkerProcess(child);
    worker.capture(child.stdout);
    worker.capture(child.stderr);
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

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Parsed log records (lines that are not JSON are skipped). */
  records(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.lines) {
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // stderr text, e.g. a stack trace
      }
    }
    return out;
  }

  messages(): string[] {
    return this.records().map((r) => String(r.msg));
  }

  /** Sends SIGTERM, as the platform does before stopping a process. */
  terminate(): void {
    this.child.kill('SIGTERM');
  }

  /** Sudden death, as an out-of-memory kill or a lost machine. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await exited(this.child, 5000);
  }

  exited(timeoutMs: number): ReturnType<typeof exited> {
    return exited(this.child, timeoutMs);
  }

  /** Ends the process whatever its state (afterEach/afterAll). */
  async dispose(): Promise<void> {
    await this.kill();
  }

  private capture(stream: NodeJS.ReadableStream | null): void {
    let partial = '';
    stream?.on('data', (d: Buffer) => {
      partial += d.toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) this.lines.push(line);
    });
  }
}
