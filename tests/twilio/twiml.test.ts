import { twiml } from 'twilio';
import { consentGatherXml, startRecordingXml } from '../../src/features/recording';
import { dialRetellTwiml, twimlDocument } from '../../src/twilio/twiml';

describe('dialRetellTwiml', () => {
  it.each([
    ['call_0123456789abcdef', 'sip.retellai.com', 'tcp', 'https://bridge.example.com/twilio/dial-action'],
    ['call_x', 'sip.eu.example.net:5061', 'tls', 'https://bridge.example.com/base/twilio/dial-action?tenant=a&b="c"<d>'],
    ['id&<>"\'\t\n\r', 'host&<>"', 'udp', 'https://x.example/a?b=\t\n\r&c=<>"\''],
  ])('when given %s, then it is byte-identical to twilio VoiceResponse', (callId, host, transport, action) => {
    const referUrl = action.replace('dial-action', 'refer');
    const expected = new twiml.VoiceResponse();
    expected.dial({ answerOnBridge: true, action, method: 'POST', referUrl, referMethod: 'POST' }).sip(`sip:${callId}@${host};transport=${transport}`);
    expect(dialRetellTwiml(callId, host, transport, action, referUrl)).toBe(expected.toString());
  });
});

describe('the recording TwiML', () => {
  it.each([
    ['dual', 'https://bridge.example.com/twilio/recording/status'],
    ['mono', 'https://x.example/a?b=\t\n\r&c=<>"\''],
  ] as const)('when written for %s channels, then <Start><Recording> is byte-identical to twilio VoiceResponse', (channels, url) => {
    const expected = new twiml.VoiceResponse();
    expected.start().recording({
      channels,
      track: 'both',
      trim: 'do-not-trim',
      recordingStatusCallback: url,
      recordingStatusCallbackMethod: 'POST',
      recordingStatusCallbackEvent: ['in-progress', 'completed', 'absent'],
    });
    expect(twimlDocument(startRecordingXml(channels, url))).toBe(expected.toString());
  });

  it('when the consent question holds XML\'s special characters, then the <Gather> is byte-identical to twilio VoiceResponse', () => {
    const question = 'Calls are recorded <for QA> & "training". Press 1 or say yes.';
    const action = 'https://bridge.example.com/twilio/recording/consent?c=call_&x<&r=dual';
    const expected = new twiml.VoiceResponse();
    expected
      .gather({ input: ['dtmf', 'speech'], numDigits: 1, timeout: 5, speechTimeout: 'auto', hints: 'yes, no', action, method: 'POST', actionOnEmptyResult: true })
      .say(question);
    expect(twimlDocument(consentGatherXml(question, action))).toBe(expected.toString());
  });
});
