/**
 * npm run inspect on a recorded call where the agent paused the recording and sent a text: the recording
 * (consent, Twilio's recording once completed, the pause and its job) and each text (template, number,
 * body, Twilio's status, its job).
 */
import { runInspect } from '../../src/tools/inspect';
import { PUBLIC_URL, startBridge, type TestBridge } from '../support/bridge';
import { liveCall, waitFor } from '../support/calls';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { ACCOUNT_SID, postSigned } from '../support/twilio-signing';
import { MemoryOutput } from './output';

describe('npm run inspect, recording and texts', () => {
  let bridge: TestBridge;
  let call: { callSid: string; callId: string };

  beforeAll(async () => {
    bridge = await startBridge({ RECORDING: 'dual', SMS_TEMPLATES: JSON.stringify({ directions: 'We are at 1 Main St.' }) }, { worker: true });
    bridge.twilio.addNumber('+14155550100');
    bridge.twilio.messages.stepMs = 5;
    bridge.twilio.recordings.processingMs = 10;
    call = await liveCall(bridge);
    const post = (fn: string, args: Record<string, unknown> = {}) => postRetell(bridge.url, `/retell/functions/${fn}`, functionCallBody(fn, call.callId, args));
    await post('pause_recording');
    await post('send_sms', { template: 'directions' });
    await waitFor('the pause and the text', async () => (await bridge.calls.recordingControl(call.callSid))?.status === 'done' && bridge.twilio.messages.to('+14155550199')[0]?.status === 'delivered');
    // Twilio's callbacks go to PUBLIC_URL, which this test does not serve: the test delivers the ones it needs.
    for (const w of bridge.twilio.callee.webhooks.filter((x) => x.kind === 'message')) await postSigned(bridge.url, PUBLIC_URL, w.url.slice(PUBLIC_URL.length), w.params);
    const recording = bridge.twilio.recordings.of(call.callSid)[0]!;
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/recording/status', {
      AccountSid: ACCOUNT_SID,
      CallSid: call.callSid,
      RecordingSid: recording.sid,
      RecordingStatus: 'completed',
      RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings/${recording.sid}`,
      RecordingDuration: '37',
      RecordingChannels: '2',
    });
  }, 30_000);
  afterAll(() => bridge.close());

  async function run(args: string[]) {
    const out = new MemoryOutput();
    const code = await runInspect(args, out, () => ({ redis: bridge.config.redis }));
    return { code, out };
  }

  it('when given the CallSid, then it prints the recording with its pause, and the text with its status and job', async () => {
    const { code, out } = await run([call.callSid]);
    expect(code).toBe(0);
    const text = out.stdout;
    expect(text).toContain('Recording: dual, consent announced');
    expect(text).toMatch(/^ {2}Twilio's {8}RE[0-9a-f]{32}: completed, 37 s, 2 channels$/m);
    expect(text).toContain(`  url             https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings/RE`);
    expect(text).toMatch(/^ {2}last pause {6}done \(asked /m);
    expect(text).toContain(`job             pause_recording-${call.callSid}-1: completed, 1 of 6 attempts, returned "done"`);
    expect(text).toContain('Text #1: directions to +14155550199, done, Twilio: delivered');
    expect(text).toContain('  body            "We are at 1 Main St."');
    expect(text).toContain('  segments        1 (GSM-7)');
    expect(text).toContain(`job             send_sms-${call.callSid}-1: completed, 1 of 6 attempts, returned "sent"`);
  });

  it('when asked for JSON, then the texts are in it', async () => {
    const { code, out } = await run([call.callSid, '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(out.stdout) as { texts: Array<{ text: { template: string; twilioStatus: string } }>; record: { recordingStatus: string } };
    expect(report.texts.map((t) => [t.text.template, t.text.twilioStatus])).toEqual([['directions', 'delivered']]);
    expect(report.record.recordingStatus).toBe('completed');
  });
});
