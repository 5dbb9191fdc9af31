import { twiml } from 'twilio';
import { dialRetellTwiml } from '../../src/twilio/twiml';

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
