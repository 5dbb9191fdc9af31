import { spawn } from 'node:child_process';
import path from 'node:path';
import { FakeRetell } from '../../src/sandbox/fake-retell';
import { PUBLIC_URL, RETELL_KEY, testEnv } from '../support/bridge';
import { waitFor } from '../support/calls';
import { freePort } from '../support/ports';
import { deletePrefix, uniquePrefix } from '../support/redis';
import { postSigned, voiceParams } from '../support/twilio-signing';

describe('web process shutdown', () => {
  it('when SIGTERM arrives while a webhook waits on Retell, then that webhook is answered, new connections are refused, and the process exits 0', async () => {
    const retell = await new FakeRetell(RETELL_KEY).start();
    retell.behaviour = { kind: 'ok', delayMs: 1500 };
    const prefix = uniquePrefix('shutdown');
    const port = await freePort();
    const child = spawn(process.execPath, ['-r', 'tsx/cjs', path.join(__dirname, '../../src/bin/web.ts')], {
      env: { PATH: process.env.PATH, ...testEnv({ PORT: String(port), REDIS_PREFIX: prefix, RETELL_BASE_URL: retell.url, RETELL_TIMEOUT_MS: '4000', LOG_LEVEL: 'info' }) } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor('web to listen', async () => out.includes('web listening'), 20_000);
      await waitFor('redis ready', async () => (await fetch(`${base}/readyz`)).status === 200);

      const inFlight = postSigned(base, PUBLIC_URL, '/twilio/voice', voiceParams());
      await waitFor('the webhook to be waiting on Retell', async () => retell.received === 1);
      child.kill('SIGTERM');
      await waitFor('shutdown to begin', async () => out.includes('shutting down web'));
      expect(retell.registrations).toHaveLength(0);

      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/<Sip>sip:call_[0-9a-f]+@sip\.retellai\.com;transport=tcp<\/Sip>/);
      expect(await exited).toBe(0);
      await expect(fetch(`${base}/healthz`)).rejects.toThrow();
      expect(out).toContain('shutting down web');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await retell.stop();
      await deletePrefix(prefix);
    }
  }, 40_000);
});
