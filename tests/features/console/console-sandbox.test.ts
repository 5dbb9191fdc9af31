/**
 * `npm run dev` in the sandbox: the console and Bull Board are on without any setting, behind a password
 * made for the session, which the banner prints with the /metrics URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDev, stopDev, type DevProcess } from '../../support/dev';
import { basic } from '../../support/console';
import { freePort } from '../../support/ports';
import { waitFor } from '../../support/wait';

jest.setTimeout(60_000);

describe('the console in the sandbox', () => {
  let dir: string;
  let dev: DevProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-console-'));
  });
  afterEach(async () => {
    if (dev) await stopDev(dev);
    rmSync(dir, { recursive: true, force: true });
  });

  it('when npm run dev starts with no settings, then the banner prints the console with a generated password and /metrics, and the password opens the pages', async () => {
    const port = await freePort();
    dev = startDev(dir, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, PORT: String(port) });
    const running = dev;
    await waitFor('the sandbox banner', () => {
      if (running.child.exitCode !== null) throw new Error(`dev exited:\n${running.output()}`);
      return running.output().includes('Try, in another terminal:');
    }, 40_000);
    const base = `http://127.0.0.1:${port}`;
    const password = new RegExp(` {2}console +${base}/admin +\\(any user name, password (\\S+)\\)`).exec(running.output())?.[1];
    expect(password).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(running.output()).toMatch(new RegExp(` {2}Bull Board +${base}/admin/queues`));
    expect(running.output()).toMatch(new RegExp(` {2}metrics +${base}/metrics`));

    expect((await fetch(`${base}/admin/calls`)).status).toBe(401);
    const page = await fetch(`${base}/admin/calls`, { headers: { authorization: basic(password!) } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<h1>Calls</h1>');
    expect((await fetch(`${base}/admin/queues`, { headers: { authorization: basic(password!) } })).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });
});
