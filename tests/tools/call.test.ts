import { loadConfig } from '../../src/config';
import { parseCallArgs, runCall } from '../../src/tools/call';
import { startBridge, testEnv, type TestBridge } from '../support/bridge';
import { API_TOKEN, CALLEE, OUR_NUMBER, OUTBOUND_ENV } from '../support/outbound';
import { AUTH_TOKEN } from '../support/twilio-signing';
import { MemoryOutput, runToolProcess } from './output';

describe('npm run call: argument checks', () => {
  it('when the arguments are complete, then they become the POST /calls body', () => {
    expect(
      parseCallArgs([
        '--to', CALLEE, '--from', OUR_NUMBER, '--agent', 'agent_x', '--agent-version', '2', '--var', 'first_name=Ada', '--var', 'note=a=b',
        '--voicemail', 'message', '--message', 'Call us back', '--ring-timeout', '45', '--idempotency-key', 'k1', '--wait',
      ]),
    ).toEqual({
      url: undefined,
      body: {
        to: CALLEE,
        from: OUR_NUMBER,
        agent_id: 'agent_x',
        agent_version: 2,
        dynamic_variables: { first_name: 'Ada', note: 'a=b' },
        voicemail: 'message',
        voicemail_message: 'Call us back',
        ring_timeout_s: 45,
      },
      idempotencyKey: 'k1',
      wait: true,
      intervalMs: 1000,
    });
  });

  it.each([
    [[], /--to is required/],
    [['--to', '4155550199'], /--to "4155550199" is not an E.164 number/],
    [['--to', CALLEE, '--var', 'novalue'], /--var "novalue" must be name=value/],
    [['--to', CALLEE, '--voicemail', 'maybe'], /--voicemail must be hangup, message, continue/],
    [['--to', CALLEE, '--voicemail', 'message'], /needs --message/],
    [['--to', CALLEE, '--message', 'hi'], /--message only goes with --voicemail message/],
    [['--to', CALLEE, '--ring-timeout', '2'], /--ring-timeout "2" must be a whole number from 5 to 600/],
    [['--to', CALLEE, '--url', 'ftp://x'], /--url "ftp:\/\/x" is not an http\(s\) URL/],
  ])('when the arguments are %j, then a usage error says what to fix', (argv, message) => {
    expect(() => parseCallArgs(argv)).toThrow(message);
  });

  it('when run as npm runs it with a bad argument, then it exits 2 with the reason and a pointer to --help', async () => {
    const { code, stderr } = await runToolProcess('call', ['--to', 'nope'], testEnv(OUTBOUND_ENV));
    expect(code).toBe(2);
    expect(stderr).toContain('call: --to "nope" is not an E.164 number');
    expect(stderr).toContain('npm run call -- --help');
  });
});

describe('npm run call against a running bridge', () => {
  let bridge: TestBridge;
  const printed: string[] = [];
  beforeEach(async () => {
    bridge = await startBridge(OUTBOUND_ENV, { worker: true });
    bridge.twilio.addNumber(OUR_NUMBER);
  });
  afterEach(() => bridge.close());
  afterAll(() => {
    const all = printed.join('\n');
    expect(all.length).toBeGreaterThan(0);
    for (const secret of [API_TOKEN, AUTH_TOKEN]) expect(all).not.toContain(secret);
  });

  async function run(args: string[], env: Record<string, string | undefined> = OUTBOUND_ENV) {
    const out = new MemoryOutput();
    const config = loadConfig(testEnv({ ...env, RETELL_BASE_URL: bridge.retell.url, TWILIO_API_BASE_URL: bridge.twilio.url }));
    const code = await runCall(['--url', bridge.url, ...args], out, () => config);
    printed.push(out.all);
    return { code, out };
  }

  it('when --wait is given, then it prints the id, each change, and the outcome, and exits 0', async () => {
    bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 600 };
    const { code, out } = await run(['--to', CALLEE, '--var', 'first_name=Ada', '--wait', '--interval', '100']);
    expect(code).toBe(0);
    expect(out.stdout).toMatch(/^\d\d:\d\d:\d\d queued: out_[0-9a-f]{32} \(to \+14155550199\)$/m);
    expect(out.stdout).toMatch(/ in-progress, answered by human, CA[0-9a-f]{32}$/m);
    expect(out.stdout).toMatch(/ ended, outcome completed, answered by human, \d+ s, CA[0-9a-f]{32}$/m);
    expect(bridge.retell.registrations[0]!.body.retell_llm_dynamic_variables).toEqual({ first_name: 'Ada' });
  });

  it('when the call fails to dial, then it prints Twilio\'s reason and exits 1', async () => {
    bridge.twilio.callee.refusals.set(CALLEE, { status: 400, code: 21215, message: 'Account not authorized to call +14155550199.' });
    const { code, out } = await run(['--to', CALLEE, '--wait', '--interval', '100']);
    expect(code).toBe(1);
    expect(out.stdout).toMatch(/ended, outcome dial_failed, Twilio 21215 Account not authorized to call \+14155550199\./);
  });

  it('when the bridge refuses the request, then its reason is printed and it exits 1', async () => {
    const wrong = await run(['--to', CALLEE], { ...OUTBOUND_ENV, API_TOKEN: 'another-token-0123456789abcdef' });
    expect(wrong.code).toBe(1);
    expect(wrong.out.stderr).toContain('The bridge refused the call (HTTP 401)');
    expect(wrong.out.stderr).toContain('API_TOKEN here differs from the deployment\'s.');
  });

  it('when API_TOKEN is not set here, then it says so and exits 1 without sending anything', async () => {
    const { code, out } = await run(['--to', CALLEE], { OUTBOUND_FROM_NUMBER: OUR_NUMBER });
    expect(code).toBe(1);
    expect(out.stderr).toMatch(/API_TOKEN is not set/);
    expect(await bridge.outboundQueue.getJobCounts('waiting', 'completed')).toEqual({ waiting: 0, completed: 0 });
  });
});
