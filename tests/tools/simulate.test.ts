import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config';
import { callIdFromTwiml, parseSimulateArgs, runSimulate } from '../../src/tools/simulate';
import { PUBLIC_URL, RETELL_KEY, startBridge, testEnv, type TestBridge } from '../support/bridge';
import { HookServer } from '../support/hook-server';
import { AUTH_TOKEN } from '../support/twilio-signing';
import { MemoryOutput, runToolProcess } from './output';

const CALLER = '+14155550199';
const NUMBER = '+14155550100';
const ENV = { TRANSFER_DESTINATIONS: JSON.stringify({ sales: '+14155550101' }) };
const WRONG_TOKEN = 'd'.repeat(32);
const WRONG_KEY = 'key_wrong_0123456789';

describe('npm run simulate', () => {
  let bridge: TestBridge;
  const printed: string[] = [];

  beforeEach(async () => {
    bridge = await startBridge(ENV);
  });
  afterEach(() => bridge.close());
  afterAll(() => {
    const all = printed.join('\n');
    expect(all.length).toBeGreaterThan(0);
    for (const secret of [AUTH_TOKEN, RETELL_KEY, WRONG_TOKEN, WRONG_KEY]) expect(all).not.toContain(secret);
  });

  /** Runs the tool with the bridge's own configuration (or that changed by `overrides`), against the bridge. */
  async function run(args: string[], overrides: Record<string, string | undefined> = {}) {
    const out = new MemoryOutput();
    const config = Object.keys(overrides).length
      ? loadConfig(testEnv({ ...ENV, RETELL_BASE_URL: bridge.retell.url, TWILIO_API_BASE_URL: bridge.twilio.url, ...overrides }))
      : bridge.config;
    const code = await runSimulate(['--url', bridge.url, ...args], out, () => config);
    printed.push(out.all);
    return { code, out };
  }

  const jobs = () => bridge.queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);

  it('when the secrets match, then the voice webhook is answered with TwiML dialing Retell, and status, time and body are printed', async () => {
    const callSid = 'CA' + '1'.repeat(32);
    const { code, out } = await run(['--from', CALLER, '--to', NUMBER, '--call-sid', callSid]);

    expect(code).toBe(0);
    expect(bridge.retell.registrations).toHaveLength(1);
    const registration = bridge.retell.registrations[0]!;
    expect(registration.body).toMatchObject({ from_number: CALLER, to_number: NUMBER, metadata: { twilio_call_sid: callSid } });
    expect(out.stdout).toContain(`Bridge:       ${bridge.url}`);
    expect(out.stdout).toContain(`Signed for:   ${PUBLIC_URL}/twilio/voice (PUBLIC_URL)`);
    expect(out.stdout).toContain(`→ GET ${bridge.url}/readyz`);
    expect(out.stdout).toMatch(/← 200 OK in \d+ ms \(application\/json\)\n\s+\{"status":"ready"/);
    expect(out.stdout).toContain(`→ POST ${bridge.url}/twilio/voice`);
    expect(out.stdout).toMatch(/← 200 OK in \d+ ms \(text\/xml\)/);
    expect(out.stdout).toContain(`<Sip>sip:${registration.callId}@sip.retellai.com;transport=tcp</Sip>`);
    expect(out.stdout).toContain(`✓ the bridge registered the call with Retell: call_id ${registration.callId}`);
    expect(out.stdout).toContain('✓ Every answer was 2xx.');
    expect(out.stderr).toBe('');
  });

  it('when --repeat 3 is given, then the same webhook is sent three times, the answers are identical and Retell sees one registration', async () => {
    const { code, out } = await run(['--from', CALLER, '--to', NUMBER, '--repeat', '3']);
    expect(code).toBe(0);
    expect(bridge.retell.registrations).toHaveLength(1);
    expect(out.stdout).toContain('Voice webhook (3 of 3)');
    expect(out.stdout).toContain('✓ all 3 answers are identical');
  });

  it('when --function transfer_call --destination sales is given, then a signed function call queues the transfer for the call in the TwiML', async () => {
    const callSid = 'CA' + '2'.repeat(32);
    const { code, out } = await run(['--from', CALLER, '--to', NUMBER, '--call-sid', callSid, '--function', 'transfer_call', '--destination', 'sales']);

    expect(code).toBe(0);
    expect(out.stdout).toContain(`→ POST ${bridge.url}/retell/functions/transfer_call`);
    expect(out.stdout).toContain(`"job_id":"transfer-${callSid}-1"`);
    expect(out.stdout).toContain('Transferring the call to sales now.');
    const [job] = await jobs();
    expect(job!.data).toMatchObject({ kind: 'transfer', callSid, target: '+14155550101', callerId: CALLER });
  });

  it('when --function warm_transfer --destination sales --summary is given, then the warm transfer is queued with that summary', async () => {
    const callSid = 'CA' + '4'.repeat(32);
    const { code, out } = await run(['--from', CALLER, '--to', NUMBER, '--call-sid', callSid, '--function', 'warm_transfer', '--destination', 'sales', '--summary', 'Ada wants a refund.']);
    expect(code).toBe(0);
    expect(out.stdout).toContain(`"job_id":"warm_transfer-${callSid}-1"`);
    expect(out.stdout).toContain('Calling sales now');
    const [job] = await jobs();
    expect(job!.data).toMatchObject({ kind: 'warm_transfer', callSid, target: '+14155550101', summary: 'Ada wants a refund.' });
  });

  it('when --function end_call is given, then the hang-up is queued', async () => {
    const callSid = 'CA' + '3'.repeat(32);
    const { code, out } = await run(['--from', CALLER, '--to', NUMBER, '--call-sid', callSid, '--function', 'end_call']);
    expect(code).toBe(0);
    expect(out.stdout).toContain('Ending the call now.');
    const [job] = await jobs();
    expect(job!.data).toMatchObject({ kind: 'end_call', callSid });
  });

  it('when the destination is not allowed, then the 422 is printed and it exits 1', async () => {
    const { code, out } = await run(['--from', CALLER, '--to', NUMBER, '--function', 'transfer_call', '--destination', 'the moon']);
    expect(code).toBe(1);
    expect(out.stdout).toMatch(/← 422 Unprocessable Entity in \d+ ms/);
    expect(out.stdout).toContain('I can transfer to: sales.');
    expect(await jobs()).toHaveLength(0);
  });

  it('when the auth token differs from the deployment\'s, then the 403 is printed with what to check and it exits 1', async () => {
    const { code, out } = await run(['--from', CALLER, '--to', NUMBER], { TWILIO_AUTH_TOKEN: WRONG_TOKEN });
    expect(code).toBe(1);
    expect(out.stdout).toMatch(/← 403 Forbidden in \d+ ms/);
    expect(out.stderr).toContain('The bridge refused the Twilio signature');
    expect(out.stderr).toContain('same TWILIO_AUTH_TOKEN and the same PUBLIC_URL');
    expect(bridge.retell.registrations).toHaveLength(0);
  });

  it('when PUBLIC_URL differs from the deployment\'s, then the signature does not match either', async () => {
    const { code, out } = await run(['--from', CALLER, '--to', NUMBER], { PUBLIC_URL: 'https://other.example.com' });
    expect(code).toBe(1);
    expect(out.stdout).toContain('Signed for:   https://other.example.com/twilio/voice');
    expect(out.stdout).toMatch(/← 403 Forbidden/);
  });

  it('when the Retell key differs from the deployment\'s, then the voice webhook passes and the function call\'s 401 is explained', async () => {
    const { code, out } = await run(['--from', CALLER, '--to', NUMBER, '--function', 'end_call'], { RETELL_API_KEY: WRONG_KEY });
    expect(code).toBe(1);
    expect(out.stdout).toMatch(/← 200 OK in \d+ ms \(text\/xml\)/);
    expect(out.stdout).toMatch(/← 401 Unauthorized in \d+ ms/);
    expect(out.stderr).toContain("the deployment's RETELL_API_KEY differs");
  });

  it('when Retell refuses the registration, then the fallback answer is called out and no function call is attempted', async () => {
    bridge.retell.behaviour = { kind: 'status', status: 500 };
    const { code, out } = await run(['--from', CALLER, '--to', NUMBER, '--function', 'end_call']);
    expect(code).toBe(1);
    expect(out.stdout).toContain('<Say>');
    expect(out.stderr).toContain('the bridge answered its fallback');
    expect(out.stderr).toContain('Skipping end_call');
    expect(out.stdout).not.toContain('/retell/functions/');
  });

  it('when nothing answers at --url, then it says so and exits 1', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const out = new MemoryOutput();
    const code = await runSimulate(['--url', deadUrl, '--from', CALLER, '--to', NUMBER], out, () => bridge.config);
    printed.push(out.all);
    expect(code).toBe(1);
    expect(out.stderr).toContain(`✗ no answer from ${deadUrl}/readyz: ECONNREFUSED`);
    expect(out.stderr).toContain('is the bridge running there?');
  });

  describe('with a lookup hook (INBOUND_WEBHOOK_URL)', () => {
    let hook: HookServer;
    beforeEach(async () => {
      hook = await new HookServer().start();
      await bridge.close();
      bridge = await startBridge({ ...ENV, INBOUND_WEBHOOK_URL: `${hook.url}/lookup` });
    });
    afterEach(() => hook.stop());

    it('when the hook chooses an agent and variables, then its answer and what the bridge will do with it are printed, and the bridge does it', async () => {
      hook.behaviour = { kind: 'answer', body: { call_inbound: { override_agent_id: 'agent_vip', override_agent_version: 2, dynamic_variables: { customer_name: 'Dana', order_id: '1182' } } } };
      const { code, out } = await run(['--from', CALLER, '--to', NUMBER]);

      expect(code).toBe(0);
      expect(out.stdout).toContain('Lookup hook (INBOUND_WEBHOOK_URL)');
      expect(out.stdout).toContain(`→ POST ${hook.url}/lookup`);
      expect(out.stdout).toMatch(/← 200 in \d+ ms\n  \{"call_inbound":\{"override_agent_id":"agent_vip"/);
      expect(out.stdout).toContain('→ the bridge will register the call with agent agent_vip version 2');
      expect(out.stdout).toContain('dynamic variables from the hook: customer_name, order_id; metadata: none');
      // Asked once by the tool, once by the bridge.
      expect(hook.requests).toHaveLength(2);
      expect(bridge.retell.registrations[0]!.body).toMatchObject({ agent_id: 'agent_vip', agent_version: 2 });
    });

    it('when the hook rejects the caller, then the tool says so and accepts the bridge\'s <Reject/>', async () => {
      hook.behaviour = { kind: 'answer', body: { call_inbound: { reject: true } } };
      const { code, out } = await run(['--from', CALLER, '--to', NUMBER]);
      expect(out.stdout).toContain('→ the bridge will reject this caller (<Reject/>) and register nothing');
      expect(out.stdout).toContain('<Response><Reject/></Response>');
      expect(out.stdout).toContain('✓ the bridge rejected the call (<Reject/>), as its lookup hook asked');
      expect(code).toBe(0);
    });

    it('when the hook fails, then the reason is printed, the bridge still connects the call to the default agent, and the tool exits 1', async () => {
      hook.behaviour = { kind: 'answer', status: 500, body: { error: 'crm down' } };
      const { code, out } = await run(['--from', CALLER, '--to', NUMBER]);
      expect(code).toBe(1);
      expect(out.stdout).toContain('← 500 in');
      expect(out.stderr).toContain('✗ the lookup hook gave no usable answer (http_error: the hook answered HTTP 500); the bridge will use agent agent_default, as without a hook.');
      expect(out.stdout).toContain('✓ the bridge registered the call with Retell');
      expect(bridge.retell.registrations[0]!.body.agent_id).toBe('agent_default');
    });
  });

  describe('arguments', () => {
    it.each([
      [[], '--from is required'],
      [['--from', CALLER], '--to is required'],
      [['--from', '555-0199', '--to', NUMBER], '--from "555-0199" is neither an E.164 number'],
      [['--from', CALLER, '--to', '4155550100'], '--to "4155550100" is not an E.164 number'],
      [['--from', CALLER, '--to', NUMBER, '--url', 'bridge.example.com'], '--url "bridge.example.com" is not a URL'],
      [['--from', CALLER, '--to', NUMBER, '--url', 'ftp://bridge.example.com'], '--url must be an http or https URL'],
      [['--from', CALLER, '--to', NUMBER, '--call-sid', 'CA123'], '--call-sid "CA123" is not a CallSid'],
      [['--from', CALLER, '--to', NUMBER, '--repeat', '0'], '--repeat "0" must be a whole number from 1 to 20'],
      [['--from', CALLER, '--to', NUMBER, '--repeat', 'x'], '--repeat "x" must be a whole number'],
      [['--from', CALLER, '--to', NUMBER, '--function', 'hang_up'], '--function must be transfer_call, end_call, warm_transfer, send_sms, pause_recording, resume_recording or do_not_call'],
      [['--from', CALLER, '--to', NUMBER, '--function', 'warm_transfer'], '--function warm_transfer needs --destination'],
      [['--from', CALLER, '--to', NUMBER, '--function', 'transfer_call', '--destination', 'sales', '--summary', 'x'], '--summary only goes with --function warm_transfer'],
      [['--from', CALLER, '--to', NUMBER, '--function', 'transfer_call'], '--function transfer_call needs --destination'],
      [['--from', CALLER, '--to', NUMBER, '--destination', 'sales'], '--destination only goes with --function transfer_call'],
      [['--from', CALLER, '--to', NUMBER, '--function', 'transfer_call', '--destination', 'sales', '--caller-id', 'me'], '--caller-id must be caller or business'],
      [['--from', CALLER, '--to', NUMBER, '--verbose'], "Unknown option '--verbose'"],
      [['--from', CALLER, '--to', NUMBER, 'extra'], "Unexpected argument 'extra'"],
    ])('when the arguments are %j, then it exits 2 with "%s" and sends nothing', async (args, message) => {
      const out = new MemoryOutput();
      const code = await runSimulate(args, out, () => bridge.config);
      printed.push(out.all);
      expect(code).toBe(2);
      expect(out.stderr).toContain(message);
      expect(out.stderr).toContain('--help');
      expect(bridge.retell.registrations).toHaveLength(0);
    });

    it('when --help is given, then usage is printed, explaining which URL is signed, without reading configuration', async () => {
      const out = new MemoryOutput();
      const code = await runSimulate(['--help'], out, () => {
        throw new Error('configuration must not be read for --help');
      });
      expect(code).toBe(0);
      expect(out.stdout).toContain('The Twilio signature always covers {PUBLIC_URL}/twilio/voice');
      expect(out.stdout).toContain('registers a real Retell call');
    });

    it('fills in a random CallSid and keeps the options', () => {
      const parsed = parseSimulateArgs(['--from', 'Anonymous', '--to', NUMBER, '--url', 'https://b.example.com/', '--function', 'transfer_call', '--destination', ' sales ', '--caller-id', 'business']);
      expect(parsed).toMatchObject({ url: 'https://b.example.com', from: 'Anonymous', to: NUMBER, repeat: 1, fn: 'transfer_call', destination: 'sales', callerId: 'business' });
      expect((parsed as { callSid: string }).callSid).toMatch(/^CA[0-9a-f]{32}$/);
    });

    it('finds the call id in the TwiML', () => {
      expect(callIdFromTwiml('<Response><Dial answerOnBridge="true"><Sip>sip:call_abc123@sip.retellai.com;transport=tcp</Sip></Dial></Response>')).toBe('call_abc123');
      expect(callIdFromTwiml('<Response><Say>Sorry</Say><Hangup/></Response>')).toBeUndefined();
    });
  });

  describe('as a process (npm run simulate)', () => {
    const processEnv = () =>
      testEnv({ ...ENV, RETELL_BASE_URL: bridge.retell.url, TWILIO_API_BASE_URL: bridge.twilio.url, REDIS_PREFIX: bridge.config.redis.prefix });

    it('when the deployment answers 2xx, then it exits 0', async () => {
      const res = await runToolProcess('simulate', ['--url', bridge.url, '--from', CALLER, '--to', NUMBER, '--function', 'end_call'], processEnv());
      printed.push(res.stdout, res.stderr);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.stdout).toContain('✓ Every answer was 2xx.');
    });

    it('when the signature is refused, then it exits 1', async () => {
      const res = await runToolProcess('simulate', ['--url', bridge.url, '--from', CALLER, '--to', NUMBER], { ...processEnv(), TWILIO_AUTH_TOKEN: WRONG_TOKEN });
      printed.push(res.stdout, res.stderr);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('The bridge refused the Twilio signature');
    });

    it('when an argument is bad, then it exits 2', async () => {
      const res = await runToolProcess('simulate', ['--from', CALLER], processEnv());
      printed.push(res.stdout, res.stderr);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('--to is required');
    });
  });
});
