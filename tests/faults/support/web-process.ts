import type { ChildProcess } from 'node:child_process';
import { freePort, waitFor } from './ports';
import { ServiceProcess } from './service-process';

/**
 * The web process as production runs it (src/bin/web.ts: its own Redis connection and Retell client,
 * signal handling), started from the TypeScript sources.
 */
export class WebProcess extends ServiceProcess {
  private constructor(
    child: ChildProcess,
    readonly port: number,
  ) {
    super(child);
  }

  /** Starts `src/bin/web.ts` with the test settings plus `env`, and waits until /healthz answers. */
  static async start(env: Record<string, string>): Promise<WebProcess> {
    const port = await freePort();
    const child = ServiceProcess.spawnEntry('src/bin/web.ts', { PORT: String(port), RETELL_TIMEOUT_MS: '1000', ...env });
    const web = new WebProcess(child, port);
    try {
      await waitFor(
        'the web process to answer /healthz',
        async () => {
          if (!web.alive) throw new Error(`web process exited during start-up:\n${web.lines.join('\n')}`);
          return (await fetch(`${web.url}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined))?.status === 200;
        },
        45_000,
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
}
