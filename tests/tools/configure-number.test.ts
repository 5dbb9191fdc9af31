import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../../src/config';
import { configureNumberSettings, parseConfigureNumberArgs, runConfigureNumber } from '../../src/tools/configure-number';
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';
import { PUBLIC_URL, RETELL_KEY, testEnv } from '../support/bridge';
import { ACCOUNT_SID, AUTH_TOKEN } from '../support/twilio-signing';
import { MemoryOutput, runToolProcess } from './output';

const NUMBER = '+14155550100';

describe('npm run configure-number', () => {
  let twilio: FakeTwilioApi;
  /** Everything every run in this file printed, checked for secrets at the end. */
  const printed: string[] = [];

  beforeEach(async () => {
    twilio = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
  });
  afterEach(() => twilio.stop());
  afterAll(() => {
    const all = printed.join('\n');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(AUTH_TOKEN);
    expect(all).not.toContain(RETELL_KEY);
  });

  const env = (overrides: Record<string, string | undefined> = {}) => testEnv({ TWILIO_API_BASE_URL: twilio.url, ...overrides });

  async function run(args: string[], overrides: Record<string, string | undefined> = {}) {
    const out = new MemoryOutput();
    const code = await runConfigureNumber(args, out, () => configureNumberSettings(env(overrides)));
    printed.push(out.all);
    return { code, out };
  }

  const numberUpdates = () => twilio.requests.filter((r) => r.method === 'POST' && r.path.includes('/IncomingPhoneNumbers/'));

  it('when the number exists, then its voice URL, fallback URL and status callback point at PUBLIC_URL and each change is printed', async () => {
    const number = twilio.addNumber(NUMBER, { voiceUrl: 'https://old.example.com/voice', voiceMethod: 'GET' });

    const { code, out } = await run([NUMBER]);

    expect(code).toBe(0);
    expect(twilio.numbers.get(number.sid)).toMatchObject({
      voiceUrl: `${PUBLIC_URL}/twilio/voice`,
      voiceMethod: 'POST',
      voiceFallbackUrl: `${PUBLIC_URL}/twilio/voice`,
      voiceFallbackMethod: 'POST',
      statusCallback: `${PUBLIC_URL}/twilio/status`,
      statusCallbackMethod: 'POST',
    });
    const [update] = numberUpdates();
    expect(update!.auth).toBe(`${ACCOUNT_SID}:${AUTH_TOKEN}`);
    expect(update!.path).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/IncomingPhoneNumbers/${number.sid}.json`);
    expect(out.stdout).toContain(`Twilio number ${NUMBER} (${number.sid})`);
    expect(out.stdout).toMatch(/voice URL\s+https:\/\/old\.example\.com\/voice \(GET\)\n\s+→ https:\/\/bridge\.example\.com\/twilio\/voice \(POST\)/);
    expect(out.stdout).toMatch(/fallback URL\s+\(none\)\n\s+→ https:\/\/bridge\.example\.com\/twilio\/voice \(POST\)/);
    expect(out.stdout).toMatch(/status callback\s+\(none\)\n\s+→ https:\/\/bridge\.example\.com\/twilio\/status \(POST\)/);
    expect(out.stdout).toContain('Updated voice URL, fallback URL, status callback.');
    expect(out.stderr).toBe('');
  });

  it('when the number already points at the bridge, then nothing is sent and it says so', async () => {
    twilio.addNumber(NUMBER);
    expect((await run([NUMBER])).code).toBe(0);
    const before = numberUpdates().length;

    const { code, out } = await run([NUMBER]);

    expect(code).toBe(0);
    expect(numberUpdates()).toHaveLength(before);
    expect(out.stdout).toContain('nothing changed');
    expect(out.stdout).toContain('(unchanged)');
  });

  it('when only one setting differs, then only that one is shown as changed', async () => {
    twilio.addNumber(NUMBER, {
      voiceUrl: `${PUBLIC_URL}/twilio/voice`,
      voiceFallbackUrl: `${PUBLIC_URL}/twilio/voice`,
      statusCallback: 'https://old.example.com/status',
    });
    const { code, out } = await run([NUMBER]);
    expect(code).toBe(0);
    expect(out.stdout).toMatch(/voice URL\s+https:\/\/bridge\.example\.com\/twilio\/voice \(POST\)\s+\(unchanged\)/);
    expect(out.stdout).toContain('Updated status callback.');
  });

  it('when --dry-run is given, then the plan is printed and the number is left alone', async () => {
    const number = twilio.addNumber(NUMBER);
    const { code, out } = await run([NUMBER, '--dry-run']);
    expect(code).toBe(0);
    expect(numberUpdates()).toHaveLength(0);
    expect(twilio.numbers.get(number.sid)!.voiceUrl).toBe('https://demo.twilio.com/welcome/voice/');
    expect(out.stdout).toContain('→ https://bridge.example.com/twilio/voice (POST)');
    expect(out.stdout).toContain('Dry run: would change voice URL, fallback URL, status callback; nothing was changed.');
  });

  it('when a TwiML app is attached (it would override the voice URL), then it is detached and that is printed', async () => {
    const number = twilio.addNumber(NUMBER, { voiceApplicationSid: 'AP' + 'b'.repeat(32) });
    const { code, out } = await run([NUMBER]);
    expect(code).toBe(0);
    expect(numberUpdates()[0]!.form.VoiceApplicationSid).toBe('');
    expect(twilio.numbers.get(number.sid)!.voiceApplicationSid).toBe('');
    expect(out.stdout).toMatch(new RegExp(`TwiML app\\s+AP${'b'.repeat(32)}\\n\\s+→ \\(none\\)`));
  });

  it('when the number belongs to an Elastic SIP Trunk, then it refuses and explains, changing nothing', async () => {
    twilio.addNumber(NUMBER, { trunkSid: 'TK' + 'c'.repeat(32) });
    const { code, out } = await run([NUMBER]);
    expect(code).toBe(1);
    expect(numberUpdates()).toHaveLength(0);
    expect(out.stderr).toContain(`belongs to the Elastic SIP Trunk TK${'c'.repeat(32)}`);
  });

  it('when the account has no such number, then it exits 1 with a clear message and changes nothing', async () => {
    twilio.addNumber('+14155550111');
    const { code, out } = await run([NUMBER]);
    expect(code).toBe(1);
    expect(numberUpdates()).toHaveLength(0);
    expect(out.stderr).toContain(`${NUMBER} is not a phone number of the Twilio account in TWILIO_ACCOUNT_SID.`);
    const lookup = twilio.requests.find((r) => r.method === 'GET');
    expect(lookup!.query.get('PhoneNumber')).toBe(NUMBER);
  });

  it('when Twilio refuses the credentials, then it names the settings to check and the Twilio error, not the token', async () => {
    twilio.addNumber(NUMBER);
    const wrongToken = 'e'.repeat(32);
    const { code, out } = await run([NUMBER], { TWILIO_AUTH_TOKEN: wrongToken });
    expect(code).toBe(1);
    expect(out.stderr).toContain('Twilio answered 401 (Twilio error 20003)');
    expect(out.stderr).toContain('TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN were not accepted');
    expect(out.all).not.toContain(wrongToken);
  });

  it('when the Twilio API cannot be reached, then it says where it tried', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const { code, out } = await run([NUMBER], { TWILIO_API_BASE_URL: deadUrl });
    expect(code).toBe(1);
    expect(out.stderr).toContain(`could not reach the Twilio API at ${deadUrl}`);
  });

  describe('PUBLIC_URL Twilio cannot use', () => {
    it.each([
      ['http://localhost:3000', 'is this machine or a private network'],
      ['https://127.0.0.1:8443', 'is this machine or a private network'],
      ['https://10.1.2.3', 'is this machine or a private network'],
      ['http://bridge.example.com', 'is not https'],
    ])('when PUBLIC_URL is %s, then it refuses and changes nothing', async (publicUrl, reason) => {
      twilio.addNumber(NUMBER);
      const { code, out } = await run([NUMBER], { PUBLIC_URL: publicUrl });
      expect(code).toBe(1);
      expect(out.stderr).toContain(reason);
      expect(out.stderr).toContain('--allow-insecure');
      expect(twilio.requests).toHaveLength(0);
    });

    it('when PUBLIC_URL is unset outside production, then it says PUBLIC_URL is not set rather than naming the local default', async () => {
      twilio.addNumber(NUMBER);
      const { code, out } = await run([NUMBER], { PUBLIC_URL: undefined });
      expect(code).toBe(1);
      expect(out.stderr).toContain('PUBLIC_URL is not set');
      expect(out.stderr).not.toContain('localhost');
      expect(twilio.requests).toHaveLength(0);
    });

    it('when PUBLIC_URL is unset on Render, then RENDER_EXTERNAL_URL is used', async () => {
      const number = twilio.addNumber(NUMBER);
      const { code } = await run([NUMBER], { PUBLIC_URL: undefined, RENDER_EXTERNAL_URL: 'https://my-bridge.onrender.com' });
      expect(code).toBe(0);
      expect(twilio.numbers.get(number.sid)!.voiceUrl).toBe('https://my-bridge.onrender.com/twilio/voice');
    });

    it('when only the Twilio settings and PUBLIC_URL are set, then it runs without any Retell setting', async () => {
      const number = twilio.addNumber(NUMBER);
      const res = await runToolProcess('configure-number', [NUMBER], env({ RETELL_API_KEY: undefined, RETELL_AGENT_ID: undefined }));
      printed.push(res.stdout, res.stderr);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(twilio.numbers.get(number.sid)!.voiceUrl).toBe(`${PUBLIC_URL}/twilio/voice`);
    });

    it('when --allow-insecure is given, then it warns and goes ahead', async () => {
      const number = twilio.addNumber(NUMBER);
      const { code, out } = await run([NUMBER, '--allow-insecure'], { PUBLIC_URL: 'http://127.0.0.1:3000' });
      expect(code).toBe(0);
      expect(out.stderr).toContain('warning: PUBLIC_URL http://127.0.0.1:3000');
      expect(twilio.numbers.get(number.sid)!.voiceUrl).toBe('http://127.0.0.1:3000/twilio/voice');
    });

    it('when PUBLIC_URL carries a password, then the password is never printed', async () => {
      twilio.addNumber(NUMBER);
      const { code, out } = await run([NUMBER], { PUBLIC_URL: 'https://user:s3cret-pass@bridge.example.com' });
      expect(code).toBe(0);
      expect(out.all).toContain('https://user:***@bridge.example.com/twilio/voice');
      expect(out.all).not.toContain('s3cret-pass');
    });
  });

  describe('arguments', () => {
    it.each([
      [[], 'which number?'],
      [['4155550100'], '"4155550100" is not an E.164 number'],
      [['415 555 0100'], 'did you mean +14155550100?'],
      [['+1415'], 'is not an E.164 number'],
      [[NUMBER, '+14155550101'], 'one number at a time'],
      [[NUMBER, '--force'], "Unknown option '--force'"],
    ])('when the arguments are %j, then it exits 2 with "%s" and contacts nobody', async (args, message) => {
      twilio.addNumber(NUMBER);
      const { code, out } = await run(args);
      expect(code).toBe(2);
      expect(out.stderr).toContain(message);
      expect(out.stderr).toContain('--help');
      expect(twilio.requests).toHaveLength(0);
    });

    it('when --help is given, then usage is printed even without any configuration', async () => {
      const out = new MemoryOutput();
      const code = await runConfigureNumber(['--help'], out, () => {
        throw new Error('configuration must not be read for --help');
      });
      expect(code).toBe(0);
      expect(out.stdout).toContain('Usage: npm run configure-number -- <E.164 number>');
      expect(out.stdout).toContain('POST {PUBLIC_URL}/twilio/status');
    });

    it('parses the options', () => {
      expect(parseConfigureNumberArgs([NUMBER])).toEqual({ phoneNumber: NUMBER, dryRun: false, allowInsecure: false });
      expect(parseConfigureNumberArgs(['--dry-run', NUMBER, '--allow-insecure'])).toEqual({ phoneNumber: NUMBER, dryRun: true, allowInsecure: true });
      expect(parseConfigureNumberArgs(['-h'])).toBe('help');
    });
  });

  it('when the configuration is invalid, then it prints the configuration error and exits 1', async () => {
    const out = new MemoryOutput();
    const code = await runConfigureNumber([NUMBER], out, () => {
      throw new ConfigError('Invalid configuration: TWILIO_AUTH_TOKEN is required');
    });
    printed.push(out.all);
    expect(code).toBe(1);
    expect(out.stderr).toContain('Invalid configuration: TWILIO_AUTH_TOKEN is required');
  });

  describe('as a process (npm run configure-number)', () => {
    it('when run with a number, then it updates it and exits 0', async () => {
      const number = twilio.addNumber(NUMBER);
      const res = await runToolProcess('configure-number', [NUMBER], env());
      printed.push(res.stdout, res.stderr);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(`Twilio number ${NUMBER} (${number.sid})`);
      expect(twilio.numbers.get(number.sid)!.statusCallback).toBe(`${PUBLIC_URL}/twilio/status`);
    });

    it('when the argument is not E.164, then it exits 2 with the reason on stderr', async () => {
      const res = await runToolProcess('configure-number', ['4155550100'], env());
      printed.push(res.stdout, res.stderr);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('"4155550100" is not an E.164 number');
      expect(res.stdout).toBe('');
    });

    it('when a required setting is missing, then it exits 1 naming it', async () => {
      const res = await runToolProcess('configure-number', [NUMBER], env({ TWILIO_AUTH_TOKEN: undefined }));
      printed.push(res.stdout, res.stderr);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('TWILIO_AUTH_TOKEN is required');
    });
  });
});
