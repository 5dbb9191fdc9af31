/**
 * docs/do-not-call.md: the pre-dial receiver is code users copy, so it runs here as written, as the
 * bridge's PREDIAL_WEBHOOK_URL with the real worker; the function schema is what the bridge takes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RETELL_KEY, startBridge, type TestBridge } from '../support/bridge';
import { OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForCall, waitForOutcome } from '../support/outbound';
import { freePort } from '../support/ports';
import { postRetell } from '../support/retell-signing';
import { waitFor } from '../support/wait';

const ROOT = path.resolve(__dirname, '../..');
const page = () => readFileSync(path.join(ROOT, 'docs/do-not-call.md'), 'utf8');

describe('docs/do-not-call.md', () => {
  it('when its do_not_call schema is read, then it is an object without arguments, as the bridge takes', () => {
    const section = page().split('## The agent\'s `do_not_call` function')[1]!;
    const schema = JSON.parse(/```json\n([\s\S]*?)```/.exec(section)![1]!) as unknown;
    expect(schema).toEqual({ type: 'object', properties: {} });
  });

  describe('the pre-dial receiver', () => {
    let dir: string;
    let child: ChildProcess;
    let hookUrl: string;
    let bridge: TestBridge;
    let stderr = '';

    beforeAll(async () => {
      const code = /```js\n([\s\S]*?)```/.exec(page())?.[1];
      if (!code) throw new Error('no js block in docs/do-not-call.md');
      // Inside node_modules' reach, so its imports resolve to this checkout's express and retell-sdk.
      dir = mkdtempSync(path.join(ROOT, 'node_modules', '.predial-hook-'));
      writeFileSync(path.join(dir, 'hook.mjs'), code);
      const port = await freePort();
      hookUrl = `http://127.0.0.1:${port}/bridge/predial`;
      child = spawn(process.execPath, [path.join(dir, 'hook.mjs')], {
        env: { PATH: process.env.PATH, PORT: String(port), RETELL_API_KEY: RETELL_KEY },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      await waitFor('the receiver to listen', async () => {
        if (child.exitCode !== null) throw new Error(`the receiver exited: ${stderr}`);
        return fetch(hookUrl, { method: 'POST' }).then(() => true, () => false);
      });
      bridge = await startBridge({ ...OUTBOUND_ENV, PREDIAL_WEBHOOK_URL: hookUrl, PREDIAL_WEBHOOK_TIMEOUT_MS: '5000' }, { worker: true });
      bridge.twilio.addNumber(OUR_NUMBER);
    }, 30_000);

    afterAll(async () => {
      await bridge?.close();
      child?.kill();
      rmSync(dir, { recursive: true, force: true });
    });

    const creates = () => bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));

    it('when a call goes to a number it blocks, then the call is not dialed and shows its reason', async () => {
      const id = await placeCall(bridge, { to: '+14155550123' });
      expect(await waitForOutcome(bridge, id)).toMatchObject({ outcome: 'predial_refused', error: { code: 'predial_denied', message: 'blocked in the CRM' } });
      expect(creates().filter((r) => r.form.To === '+14155550123')).toHaveLength(0);
    });

    it('when a call goes to any other number, then it is dialed', async () => {
      const id = await placeCall(bridge, { to: '+14155550199' });
      await waitForCall(bridge, id, 'answered', (v) => v.status === 'in-progress');
      expect(creates().map((r) => r.form.To)).toContain('+14155550199');
    });

    it('when a request is unsigned or signed with another key, then the receiver refuses it', async () => {
      const body = { to: '+14155550199', from: OUR_NUMBER, outbound_id: `out_${'0'.repeat(32)}` };
      expect((await postRetell(hookUrl, '', body, { signature: null })).status).toBe(401);
      expect((await postRetell(hookUrl, '', body, { apiKey: 'key_other_0123456789' })).status).toBe(401);
      expect((await postRetell(hookUrl, '', body)).status).toBe(200);
    });
  });
});
