import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PUBLIC_URL, RETELL_KEY } from '../../support/bridge';
import { ACCOUNT_SID, AUTH_TOKEN } from '../../support/twilio-signing';
import { exited, track } from './children';
import { freePort, waitFor } from './ports';

const ROOT = path.resolve(__dirname, '../../..');

/**
 * The web process as production runs it (src/server.ts: configuration from the environment, its own
 * Redis connection and Retell client, signal handling), started from the TypeScript sources.
 */
export class WebProcess {
  /** Every line the process wrote to stdout (pino JSON) and stderr. */
  readonly lines: string[] = [];
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /** Starts `src/server.ts` with the test settings plus `env`, and waits until /healthz answers. */
  static async start(env: Record<string, string>): Promise<WebProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, ['-r', 'tsx/cjs', 'src/server.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        NODE_ENV: 'test',
        PORT: String(port),
        PUBLIC_URL,
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        RETELL_API_KEY: RETELL_KEY,
        RETELL_AGENT_ID: 'agent_default',
        RETELL_TIMEOUT_MS: '1000',
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    const web = new WebProcess(child, port);
    web.capture(child.stdout);
    web.capture(child.stderr);
    try {
      await waitFor(
        'the web process to answer /healthz',
        async () => {
          if (!web.alive) throw new Error(`web process exited during start-up:\n${web.lines.join('\n')}`);
          return (await fetch(`${web.url}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined))?.status === 200;
        },
        20_000,
      );
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return web;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
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

  /** Resolves with how the process exited, or null if it is still running after `timeoutMs`. */
  exited(timeoutMs: number): ReturnType<typeof exited> {
    return exited(this.child, timeoutMs);
  }

  /** Ends the process whatever its state (afterAll). */
  async dispose(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await exited(this.child, 5000);
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
