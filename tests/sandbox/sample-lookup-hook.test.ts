import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readLookupFile, SampleLookupHook } from '../../src/sandbox/sample-lookup-hook';
import { PUBLIC_URL, RETELL_KEY, startBridge, type TestBridge } from '../support/bridge';
import { postRetell } from '../support/retell-signing';
import { postSigned, voiceParams } from '../support/twilio-signing';

const EXAMPLE = path.resolve(__dirname, '../../examples/lookup-hook.json');

describe('the sample lookup hook', () => {
  let dir: string;
  let file: string;
  let hook: SampleLookupHook;
  let bridge: TestBridge;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lookup-'));
    file = path.join(dir, 'lookup.json');
    copyFileSync(EXAMPLE, file);
    hook = await new SampleLookupHook(RETELL_KEY, file).start();
    bridge = await startBridge({ INBOUND_WEBHOOK_URL: hook.url, INBOUND_WEBHOOK_TIMEOUT_MS: '1000' });
  });
  afterEach(async () => {
    await bridge.close();
    await hook.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (from: string) => {
    const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', voiceParams({ From: from, Caller: from }));
    return res.text();
  };

  it('when a caller in the example file calls, then the bridge registers them with the agent and variables the file gives', async () => {
    expect(await call('+14155550199')).toContain('<Sip>');
    expect(bridge.retell.registrations[0]!.body).toMatchObject({
      agent_id: 'agent_vip',
      retell_llm_dynamic_variables: { customer_name: 'Dana', order_id: '1182', open_orders: '2', caller_number: '+14155550199' },
      metadata: { crm_id: 'cus_1182' },
    });
    expect(hook.lookups).toEqual([{ from: '+14155550199', status: 200, answer: { call_inbound: expect.objectContaining({ override_agent_id: 'agent_vip' }) } }]);
  });

  it('when the file says reject, then the caller is rejected', async () => {
    expect(await call('+14155550666')).toContain('<Reject/>');
    expect(bridge.retell.registrations).toHaveLength(0);
  });

  it('when the caller is not in the file, then the number\'s own agent takes the call', async () => {
    await call('+14155550777');
    expect(bridge.retell.registrations[0]!.body.agent_id).toBe('agent_default');
    expect(hook.lookups[0]!.answer).toEqual({ call_inbound: {} });
  });

  it('when the file is edited, then the next call uses the edit; when it becomes invalid, the hook answers 500 and the default agent takes the call', async () => {
    writeFileSync(file, JSON.stringify({ '+14155550777': { override_agent_id: 'agent_new' } }));
    await call('+14155550777');
    expect(bridge.retell.registrations[0]!.body.agent_id).toBe('agent_new');

    writeFileSync(file, '{ "+14155550777": ');
    await call('+14155550777');
    expect(bridge.retell.registrations[1]!.body.agent_id).toBe('agent_default');
    expect(hook.lookups[1]).toMatchObject({ status: 500, answer: { error: expect.stringContaining('not JSON') } });
  });

  it('when a request is not signed with the key, then it is refused 401, as a real hook must', async () => {
    const body = { event: 'call_inbound', call_inbound: { from_number: '+14155550199', to_number: '+14155550100' } };
    expect((await postRetell(hook.url, '/', body, { signature: null })).status).toBe(401);
    expect((await postRetell(hook.url, '/', body, { apiKey: 'key_other_0123456789' })).status).toBe(401);
    expect((await postRetell(hook.url, '/', body)).status).toBe(200);
  });
});

describe('readLookupFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'lookup-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (text: string) => {
    const file = path.join(dir, 'lookup.json');
    writeFileSync(file, text);
    return file;
  };

  it('when the file is the example, then it is accepted', () => {
    expect(Object.keys(readLookupFile(EXAMPLE))).toEqual(['+14155550199', '+14155550123', '+14155550666']);
  });

  it.each([
    ['missing', null, /no such file/],
    ['not JSON', '{', /not JSON/],
    ['a list', '[]', /must be a JSON object mapping callers' numbers/],
    ['an entry the bridge would refuse', '{"+14155550199": {"dynamic_variables": {"order": {"id": 1}}}}', /entry for \+14155550199 .*dynamic_variables\.order/],
    ['an entry that is not an object', '{"+14155550199": "agent_vip"}', /entry for \+14155550199/],
  ])('when the file is %s, then it is refused with the file named and the reason', (_what, text, reason) => {
    const file = text === null ? path.join(dir, 'absent.json') : write(text);
    expect(() => readLookupFile(file)).toThrow(reason);
    expect(() => readLookupFile(file)).toThrow(file);
  });

  it('when the hook is started with a bad file, then start fails before listening', async () => {
    await expect(new SampleLookupHook(RETELL_KEY, write('[]')).start()).rejects.toThrow(/must be a JSON object/);
  });
});
