import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { freePort } from '../support/ports';
import { REPO } from '../tools/output';

/** Runs the Docker HEALTHCHECK's program with `env`; resolves with its exit code and stderr. */
function healthcheck(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-r', require.resolve('tsx/cjs'), path.join(REPO, 'src/bin/healthcheck.ts')], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('the Docker HEALTHCHECK (src/bin/healthcheck.ts)', () => {
  let server: http.Server;
  let live: number;
  beforeAll(async () => {
    server = http.createServer((req, res) => res.writeHead(req.url === '/healthz' ? 200 : 404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    live = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('when the web answers /healthz on PORT, then it exits 0', async () => {
    expect((await healthcheck({ PORT: String(live) })).code).toBe(0);
  });

  it('when only the worker answers, on WORKER_METRICS_PORT, then it exits 0', async () => {
    expect((await healthcheck({ PORT: String(await freePort()), WORKER_METRICS_PORT: String(live) })).code).toBe(0);
  });

  it('when nothing answers, then it exits 1 saying where it asked', async () => {
    const dead = await freePort();
    const result = await healthcheck({ PORT: String(dead) });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`unhealthy: nothing answered GET /healthz on 127.0.0.1 port ${dead}`);
  });
});
