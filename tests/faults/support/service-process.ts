import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PUBLIC_URL, RETELL_KEY } from '../../support/bridge';
import { ACCOUNT_SID, AUTH_TOKEN } from '../../support/twilio-signing';
import { exited, track } from './children';

const ROOT = path.resolve(__dirname, '../../..');

/**
 * One of the bridge's entry points as production runs it (configuration from the environment only),
 * started from the TypeScript sources, with everything it logs kept for the test to read.
 */
export abstract class ServiceProcess {
  /** Every line the process wrote to stdout (pino JSON) and stderr. */
  readonly lines: string[] = [];

  protected constructor(readonly child: ChildProcess) {
    this.capture(child.stdout);
    this.capture(child.stderr);
  }

  /** Spawns `entry` (e.g. src/bin/web.ts) with the test account settings plus `env`, tracked for cleanup. */
  protected static spawnEntry(entry: string, env: Record<string, string>): ChildProcess {
    const child = spawn(process.execPath, ['-r', 'tsx/cjs', entry], {
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
    return child;
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

  /** Log messages at `level` or above (pino's labels: error, fatal...). */
  messages(minLevel: 'info' | 'warn' | 'error' | 'fatal' = 'info'): string[] {
    const order = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
    return this.records()
      .filter((r) => order.indexOf(String(r.level)) >= order.indexOf(minLevel))
      .map((r) => String(r.msg));
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

  /** Resolves with how the process exited, or null if it is still running after `timeoutMs`. */
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
