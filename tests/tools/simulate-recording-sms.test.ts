/**
 * npm run simulate with recording and texts: the consent question answered (by the local Twilio in the
 * sandbox, by the tool against a deployment), send_sms and pause_recording played and followed to the
 * worker's request, and --hang-up waiting for the recording to complete.
 */
import { parseSimulateArgs, simulate, type SimulateOptions } from '../../src/tools/simulate';
import { startBridge, type TestBridge } from '../support/bridge';
import { MemoryOutput } from './output';

const CALLER = '+14155550199';
const NUMBER = '+14155550100';
const ENV = { RECORDING: 'dual', RECORDING_CONSENT: 'ask', SMS_TEMPLATES: JSON.stringify({ booking: 'Hi {{name}}, book here: https://example.com/book' }) };

describe('npm run simulate, recording and texts', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge(ENV, { worker: true });
    bridge.twilio.addNumber(NUMBER);
    bridge.twilio.recordings.processingMs = 300;
    bridge.twilio.messages.stepMs = 5;
  });
  afterEach(() => bridge.close());

  async function run(args: string[], local = true) {
    const out = new MemoryOutput();
    const options = parseSimulateArgs(['--url', bridge.url, '--from', CALLER, '--to', NUMBER, ...args]) as SimulateOptions;
    const code = await simulate(bridge.config, options, out, local ? { twilioUrl: bridge.twilio.url, retellUrl: bridge.retell.url } : undefined);
    return { code, out, callSid: options.callSid };
  }

  it('when the sandbox plays a call whose caller allows recording, sends a text and hangs up, then each step is shown and the recording completes', async () => {
    const { code, out, callSid } = await run(['--function', 'send_sms', '--template', 'booking', '--var', 'name=Dana', '--hang-up']);
    expect({ code, stderr: out.stderr }).toEqual({ code: 0, stderr: '' });
    const text = out.stdout;
    expect(text).toContain("The bridge asks the caller's consent to record; the caller presses 1 (--consent)");
    expect(text).toContain('✓ the call is recorded: <Start><Recording channels="dual"> before the agent answers');
    expect(text).toContain(`Job send_sms-${callSid}-1`);
    expect(text).toContain(`/Messages.json  (Basic auth as ${bridge.config.twilio.accountSid})`);
    expect(text).toContain('  Body=Hi Dana, book here: https://example.com/book');
    expect(text).toMatch(/✓ recording RE[0-9a-f]{32} completed after [\d.]+ s: \d+ s, 2 channel\(s\)/);
    expect(text).toContain('✓ Every step worked.');
    expect(bridge.twilio.messages.to(CALLER)).toHaveLength(1);
    expect(bridge.twilio.recordings.of(callSid).map((r) => r.status)).toEqual(['completed']);
  });

  it('when the sandbox caller presses 2 and the agent pauses, then the call goes on unrecorded and the pause is refused', async () => {
    const { code, out, callSid } = await run(['--consent', '2', '--function', 'pause_recording']);
    expect(code).toBe(1);
    expect(out.stdout).toContain('✓ the caller did not allow recording: the agent is dialed, and nothing is recorded');
    expect(out.stdout).toMatch(/← 422 Unprocessable Entity/);
    expect(bridge.twilio.recordings.of(callSid)).toEqual([]);
  });

  it('when played against a deployment (no sandbox), then the tool answers the consent question itself, signed, and the answer records the call', async () => {
    const { code, out, callSid } = await run(['--consent', 'yes please'], false);
    expect({ code, stderr: out.stderr }).toEqual({ code: 0, stderr: '' });
    expect(out.stdout).toContain('Consent to record: the caller says "yes please" (--consent)');
    expect(out.stdout).toContain('✓ the call is recorded');
    expect(await bridge.calls.get(callSid)).toMatchObject({ recordingConsent: 'given' });
  });

  it.each([
    [['--function', 'send_sms'], '--function send_sms needs --template'],
    [['--template', 'booking'], '--template, --var and --sms-to only go with --function send_sms'],
    [['--function', 'send_sms', '--template', 'booking', '--var', 'novalue'], '--var "novalue" must be name=value'],
  ])('when given %j, then it stops with a usage error', (args, message) => {
    expect(() => parseSimulateArgs(['--from', CALLER, '--to', NUMBER, ...args])).toThrow(message);
  });
});
