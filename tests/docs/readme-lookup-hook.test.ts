/**
 * The lookup-hook handler in docs/lookup-hook.md is code users copy: it runs here as written, as the bridge's hook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PUBLIC_URL, RETELL_KEY, startBridge, type TestBridge } from '../support/bridge';
import { freePort } from '../support/ports';
import { postRetell } from '../support/retell-signing';
import { waitFor } from '../support/wait';
import { postSigned, voiceParams } from '../support/twilio-signing';

const ROOT = path.resolve(__dirname, '../..');

function readmeHandler(): string {
  const page = readFileSync(path.join(ROOT, 'docs/lookup-hook.md'), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(page)?.[1];
  if (!code) throw new Error('no js block in docs/lookup-hook.md');
  return code;
}

describe('the README\'s lookup hook handler', () => {
  let dir: string;
  let child: ChildProcess;
  let hookUrl: string;
  let bridge: TestBridge;
  let stderr = '';

  beforeAll(async () => {
    const code = readmeHandler();
    expect(code.split('\n').filter((l) => l.trim()).length).toBeLessThanOrEqual(17);
    // Inside node_modules' reach, so its imports resolve to this checkout's express and retell-sdk.
    dir = mkdtempSync(path.join(ROOT, 'node_modules', '.readme-hook-'));
    writeFileSync(path.join(dir, 'hook.mjs'), code);
    const port = await freePort();
    hookUrl = `http://127.0.0.1:${port}/retell/inbound`;
    child = spawn(process.execPath, [path.join(dir, 'hook.mjs')], {
      env: { PATH: process.env.PATH, PORT: String(port), RETELL_API_KEY: RETELL_KEY },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor('the README handler to listen', async () => {
      if (child.exitCode !== null) throw new Error(`the README handler exited: ${stderr}`);
      return fetch(hookUrl, { method: 'POST' }).then(() => true, () => false);
    });
    bridge = await startBridge({ INBOUND_WEBHOOK_URL: hookUrl });
  }, 30_000);

  afterAll(async () => {
    await bridge?.close();
    child?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when a known customer calls, then the bridge registers them with the handler\'s agent and variables', async () => {
    const params = voiceParams({ From: '+14155550199', Caller: '+14155550199' });
    const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', params);
    expect(await res.text()).toContain('<Sip>');
    const registration = bridge.retell.registrations.find((r) => (r.body.metadata as { twilio_call_sid: string }).twilio_call_sid === params.CallSid);
    expect(registration?.body).toMatchObject({ agent_id: 'agent_vip', retell_llm_dynamic_variables: { customer_name: 'Dana', order_id: '1182' } });
    expect(await bridge.metrics.prometheus.getSingleMetricAsString('bridge_inbound_webhook_total')).toContain('result="ok"');
  });

  it('when an unknown caller calls, then the number\'s own agent takes the call', async () => {
    const params = voiceParams({ From: '+14155550777', Caller: '+14155550777' });
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', params);
    const registration = bridge.retell.registrations.find((r) => (r.body.metadata as { twilio_call_sid: string }).twilio_call_sid === params.CallSid);
    expect(registration?.body.agent_id).toBe('agent_default');
  });

  it('when a request is unsigned or signed with another key, then the handler refuses it', async () => {
    const body = { event: 'call_inbound', call_inbound: { from_number: '+14155550199', to_number: '+14155550100' } };
    expect((await postRetell(hookUrl, '', body, { signature: null })).status).toBe(401);
    expect((await postRetell(hookUrl, '', body, { apiKey: 'key_other_0123456789' })).status).toBe(401);
    expect((await postRetell(hookUrl, '', body)).status).toBe(200);
  });
});
