/**
 * `npm run dev` with real settings (here: plausible ones) but no Redis: one line that says where Redis
 * was looked for and what to do, not a flood, and a clean stop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RETELL_KEY } from '../support/bridge';
import { startDev, stopDev } from '../support/dev';
import { freePort } from '../support/ports';
import { ACCOUNT_SID, AUTH_TOKEN } from '../support/twilio-signing';
import { waitFor } from '../support/wait';

describe('npm run dev without Redis', () => {
  it('when Redis is unreachable, then one line names the URL and what to do, and SIGTERM stops it cleanly', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-dev-'));
    const redisUrl = `redis://127.0.0.1:${await freePort()}`;
    const dev = startDev(dir, {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PORT: String(await freePort()),
      REDIS_URL: redisUrl,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      RETELL_API_KEY: RETELL_KEY,
      RETELL_AGENT_ID: 'agent_default',
    });
    const { child, exited } = dev;
    const out = () => dev.output();
    try {
      await waitFor('the web to listen', () => out().includes('web listening'), 20_000);
      // Every connection (web, queue, worker) retries every 2 s at most; watch several rounds of it.
      await new Promise((r) => setTimeout(r, 5000));
      // npm run dev writes one readable line per record: time, level, message, then the fields.
      const errors = out()
        .split('\n')
        .filter((l) => / ERROR: /.test(l))
        .map((l) => l.replace(/^\[[\d:.]+\] ERROR: /, ''));
      expect(errors).toEqual([
        `worker: redis unreachable at ${redisUrl}: start Redis there (redis-server) or set REDIS_URL to a running one; retrying {"redis":"${redisUrl}","code":"ECONNREFUSED"}`,
      ]);
      expect(out().split('\n').some((l) => l.startsWith('{'))).toBe(false);

      // Exit 0 is a shutdown that finished by itself: one that hangs on the missing Redis is ended by the
      // process's deadline with exit 1.
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      await stopDev(dev);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
