/**
 * How a text's segments are counted (as handsets and Twilio count them) and how a template is rendered
 * with the agent's variables.
 */
import { parseSmsTemplate } from '../../../src/config';
import { renderTemplate } from '../../../src/features/sms';
import { cleanSmsText, smsSegments, smsUnsafe } from '../../../src/formats';

describe('smsSegments', () => {
  it.each([
    ['an empty text', '', 'GSM-7', 1],
    ['160 GSM-7 characters', 'a'.repeat(160), 'GSM-7', 1],
    ['161 GSM-7 characters', 'a'.repeat(161), 'GSM-7', 2],
    ['306 GSM-7 characters', 'a'.repeat(306), 'GSM-7', 2],
    ['307 GSM-7 characters', 'a'.repeat(307), 'GSM-7', 3],
    ['80 euro signs (two septets each)', '€'.repeat(80), 'GSM-7', 1],
    ['81 euro signs', '€'.repeat(81), 'GSM-7', 2],
    // 152 septets of a, then € (2): 154 > 153, so the escape moves whole to the second segment.
    ['an escape that would straddle a segment boundary', `${'a'.repeat(152)}€${'a'.repeat(10)}`, 'GSM-7', 2],
    ['GSM-7 accents (é, ü, Ñ)', 'éüÑ'.repeat(53), 'GSM-7', 1],
    ['70 UCS-2 characters', 'ж'.repeat(70), 'UCS-2', 1],
    ['71 UCS-2 characters', 'ж'.repeat(71), 'UCS-2', 2],
    ['one emoji among GSM-7 text', `${'a'.repeat(68)}😀`, 'UCS-2', 1],
    ['134 code units with a surrogate pair that would straddle', `${'a'.repeat(66)}😀${'a'.repeat(66)}`, 'UCS-2', 3],
  ])('when the text is %s, then it is %s in %d segment(s)', (_what, text, encoding, segments) => {
    expect(smsSegments(text)).toEqual({ encoding, segments });
  });
});

describe('text cleaning', () => {
  it('when a text holds control characters or lone surrogates, then it is unsafe; a line feed only where allowed', () => {
    expect([smsUnsafe('plain'), smsUnsafe('a\u0000b'), smsUnsafe('a\u0085b'), smsUnsafe('a\ud800'), smsUnsafe('😀'), smsUnsafe('a\nb'), smsUnsafe('a\nb', true), smsUnsafe('a\rb', true)]).toEqual([
      false, true, true, true, false, true, false, true,
    ]);
  });

  it('when a text holds invisible formatting characters, then cleaning removes them, composes accents (NFC) and trims', () => {
    expect(cleanSmsText('  he\u0301llo\u200B \u202Ewor\uFEFFld\u2066  ')).toBe('héllo world');
  });
});

describe('renderTemplate', () => {
  const template = (text: string) => {
    const parsed = parseSmsTemplate('t', text);
    if (!parsed.ok) throw new Error(parsed.problem);
    return parsed.template;
  };

  it('when every variable is given, then each placeholder is filled, numbers and booleans as text, extra variables ignored', () => {
    expect(renderTemplate(template('{{n}} visits, paid: {{paid}}, for {{ name }} ({{n}})'), { n: 3, paid: false, name: 'Dana', extra: 'x' })).toEqual({
      ok: true,
      body: '3 visits, paid: false, for Dana (3)',
      encoding: 'GSM-7',
      segments: 1,
    });
  });

  it('when a variable is empty after cleaning, or null, then it counts as missing', () => {
    expect(renderTemplate(template('Hi {{name}} {{ref}}'), { name: '\u200B ', ref: null })).toEqual({ ok: false, sentence: 'The text t needs: name, ref. Ask the caller for them and try again.' });
  });

  it('when a variable is named like a property of every object (constructor), then only the agent\'s own variables are read', () => {
    expect(renderTemplate(template('Hi {{constructor}}'), {})).toMatchObject({ ok: false });
    expect(renderTemplate(template('Hi {{constructor}}'), JSON.parse('{"constructor":"Dana"}') as Record<string, unknown>)).toMatchObject({ ok: true, body: 'Hi Dana' });
  });
});
