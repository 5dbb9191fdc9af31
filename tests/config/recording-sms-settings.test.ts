/**
 * The recording and text settings: what they parse into, and how a bad value stops start-up naming the
 * variable. SMS_TEMPLATES is parsed once here, so a template the agent could never send refuses to start.
 */
import { loadConfig } from '../../src/config';
import { configProblems as problems, testEnv } from '../support/bridge';

describe('recording settings', () => {
  it('when none is set, then calls are not recorded and consent is announced', () => {
    expect(loadConfig(testEnv()).recording).toEqual({ mode: 'off', disclosure: undefined, consent: 'announce' });
  });

  it('when they are set, then they are parsed, the disclosure trimmed', () => {
    const config = loadConfig(testEnv({ RECORDING: 'dual', RECORDING_DISCLOSURE: '  This call is recorded.  ', RECORDING_CONSENT: 'ask' }));
    expect(config.recording).toEqual({ mode: 'dual', disclosure: 'This call is recorded.', consent: 'ask' });
  });

  it.each([
    [{ RECORDING: 'stereo' }, /^RECORDING must be one of off, mono, dual/],
    [{ RECORDING_CONSENT: 'maybe' }, /^RECORDING_CONSENT must be one of announce, ask/],
    [{ RECORDING_DISCLOSURE: 'Recorded\u0007.' }, /^RECORDING_DISCLOSURE must not contain control characters/],
    [{ RECORDING_DISCLOSURE: 'x'.repeat(1001) }, /^RECORDING_DISCLOSURE must be at most 1000 characters/],
  ])('when %j, then start-up stops naming the variable', (env, message) => {
    expect(problems(env)).toEqual([expect.stringMatching(message)]);
  });
});

describe('text settings', () => {
  it('when none is set, then there are no templates, the number of the call sends, and only the other party may be texted', () => {
    expect(loadConfig(testEnv()).sms).toEqual({ templates: {}, from: undefined, messagingServiceSid: undefined, allowlist: [] });
  });

  it('when templates are given, then each is parsed into its fixed parts and variables, cleaned of invisible characters and CRLF', () => {
    const config = loadConfig(
      testEnv({
        SMS_TEMPLATES: JSON.stringify({ booking: 'Hi {{ name }}, book here:\r\nhttps://example.com/b?r={{ref}} ({{name}})\u200B', plain: 'Thanks for calling.' }),
        SMS_ALLOWLIST: '+14155550102, +1646*',
        TWILIO_MESSAGING_SERVICE_SID: 'MG' + 'ab'.repeat(16),
      }),
    );
    expect(config.sms.templates.booking).toEqual({
      name: 'booking',
      text: 'Hi {{ name }}, book here:\nhttps://example.com/b?r={{ref}} ({{name}})',
      parts: ['Hi ', { variable: 'name' }, ', book here:\nhttps://example.com/b?r=', { variable: 'ref' }, ' (', { variable: 'name' }, ')'],
      variables: ['name', 'ref'],
    });
    expect(config.sms.templates.plain).toMatchObject({ parts: ['Thanks for calling.'], variables: [] });
    expect(config.sms).toMatchObject({ allowlist: ['+14155550102', '+1646*'], messagingServiceSid: 'MG' + 'ab'.repeat(16) });
  });

  it.each([
    ['not JSON', { SMS_TEMPLATES: '{booking: hi}' }, /^SMS_TEMPLATES must be a JSON object/],
    ['a bad name', { SMS_TEMPLATES: '{"book ing":"hi"}' }, /^SMS_TEMPLATES template names must be 1-64 letters/],
    ['an empty template', { SMS_TEMPLATES: '{"a":"  \\u200b "}' }, /template "a" is empty/],
    ['a control character', { SMS_TEMPLATES: '{"a":"hi\\u0007"}' }, /template "a" contains control characters/],
    ['a lone surrogate', { SMS_TEMPLATES: '{"a":"hi \\ud83d"}' }, /template "a" contains control characters/],
    ['a bad placeholder', { SMS_TEMPLATES: '{"a":"hi {{1st}}"}' }, /\{\{1st\}\} is not a placeholder/],
    ['a stray brace', { SMS_TEMPLATES: '{"a":"hi {{name}"}' }, /has a \{\{ or \}\} that does not belong/],
    ['a template over 10 segments', { SMS_TEMPLATES: JSON.stringify({ a: 'é'.repeat(1531) }) }, /template "a" takes 11 SMS segments/],
    ['SMS_FROM that is not E.164', { SMS_FROM: '4155550100' }, /^SMS_FROM must be an E.164 number/],
    ['a Messaging Service SID of another kind', { TWILIO_MESSAGING_SERVICE_SID: 'PN' + '0'.repeat(32) }, /^TWILIO_MESSAGING_SERVICE_SID must be a Messaging Service SID/],
    ['both senders', { SMS_FROM: '+14155550100', TWILIO_MESSAGING_SERVICE_SID: 'MG' + '0'.repeat(32) }, /^SMS_FROM is set together with TWILIO_MESSAGING_SERVICE_SID/],
    ['a bad allow-list entry', { SMS_ALLOWLIST: '+1415*,4155550102' }, /^SMS_ALLOWLIST .*entries must be E.164 numbers/],
  ])('when SMS settings hold %s, then start-up stops naming the variable', (_what, env, message) => {
    expect(problems(env)).toEqual([expect.stringMatching(message)]);
  });
});
