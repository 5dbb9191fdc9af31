import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { ConfigError, envSchema, loadConfig, noAccountSettings, parseSettings, placeholderAccountSettings } from '../src/config';
import { PRODUCTION_PUBLIC_URL, testEnv } from './support/bridge';

const ROOT = path.join(__dirname, '..');
const load = (overrides: Record<string, string | undefined>) => () => loadConfig(testEnv(overrides));

/** The problems loadConfig reports for `env`, or [] when it accepts it. */
function problems(env: Record<string, string | undefined>) {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [...err.problems];
  }
}

describe('loadConfig', () => {
  it('when the required settings are present, then defaults fill in the rest', () => {
    const config = loadConfig(testEnv({ NODE_ENV: undefined, PUBLIC_URL: undefined, RETELL_TIMEOUT_MS: undefined, LOG_LEVEL: undefined }));
    expect(config).toMatchObject({
      nodeEnv: 'development',
      port: 3000,
      publicUrl: 'http://localhost:3000',
      publicUrlSource: 'default',
      logLevel: 'info',
      redis: { prefix: 'bridge' },
      twilio: { apiBaseUrl: 'https://api.twilio.com' },
      retell: { baseUrl: 'https://api.retellai.com', sipHost: 'sip.retellai.com', sipTransport: 'tcp', timeoutMs: 4000, agentRoutes: {} },
      transfer: { destinations: {}, allowlist: [] },
      fallback: { number: undefined },
      worker: { concurrency: 10 },
      ops: { metricsToken: undefined, adminPassword: undefined },
      outbound: { apiToken: undefined, fromNumber: undefined, allowlist: [], webhookUrl: undefined, cps: 1, reservedConcurrency: 1 },
      lookupHook: { url: undefined, timeoutMs: 2500 },
    });
    expect(config.fallback.message).toMatch(/sorry/i);
  });

  it('when JSON and list settings are given, then they are parsed', () => {
    const config = loadConfig(
      testEnv({
        AGENT_ROUTES: '{"+14155550100":"agent_a"}',
        TRANSFER_DESTINATIONS: '{"sales":"+14155550101","desk":"sip:desk@pbx.example.com"}',
        TRANSFER_ALLOWLIST: '+14155550102, +1646*',
        PUBLIC_URL: 'https://bridge.example.com/',
      }),
    );
    expect(config.retell.agentRoutes).toEqual({ '+14155550100': 'agent_a' });
    expect(config.transfer.destinations).toEqual({ sales: '+14155550101', desk: 'sip:desk@pbx.example.com' });
    expect(config.transfer.allowlist).toEqual(['+14155550102', '+1646*']);
    expect(config.publicUrl).toBe('https://bridge.example.com');
    expect(config.publicUrlSource).toBe('PUBLIC_URL');
  });

  it('when the outbound settings are given, then they are parsed', () => {
    const config = loadConfig(
      testEnv({
        API_TOKEN: 'a'.repeat(32),
        OUTBOUND_FROM_NUMBER: '+14155550100',
        OUTBOUND_ALLOWLIST: '+1415*, +442071234567',
        OUTBOUND_WEBHOOK_URL: 'https://crm.example.com/hooks/calls/',
        TWILIO_CPS: '5',
        OUTBOUND_RESERVED_CONCURRENCY: '0',
      }),
    );
    expect(config.outbound).toEqual({
      apiToken: 'a'.repeat(32),
      fromNumber: '+14155550100',
      allowlist: ['+1415*', '+442071234567'],
      webhookUrl: 'https://crm.example.com/hooks/calls',
      cps: 5,
      reservedConcurrency: 0,
      predial: { url: undefined, timeoutMs: 2000 },
      campaignRetentionMs: 30 * 24 * 3600 * 1000,
    });
    expect(loadConfig(testEnv({ CAMPAIGN_RETENTION_DAYS: '7' })).outbound.campaignRetentionMs).toBe(7 * 24 * 3600 * 1000);
    expect(() => loadConfig(testEnv({ CAMPAIGN_RETENTION_DAYS: '0' }))).toThrow(/CAMPAIGN_RETENTION_DAYS/);
  });

  it('when the warm transfer settings are given, then they are parsed; unset, the defaults apply', () => {
    expect(loadConfig(testEnv({})).warmTransfer).toEqual({ ringTimeoutS: 20, acceptDigit: '1', holdMessage: undefined });
    expect(loadConfig(testEnv({ WARM_TRANSFER_RING_TIMEOUT_S: '45', WARM_TRANSFER_ACCEPT_DIGIT: '#', WARM_TRANSFER_HOLD_MESSAGE: ' Connecting you now. ' })).warmTransfer).toEqual({
      ringTimeoutS: 45,
      acceptDigit: '#',
      holdMessage: 'Connecting you now.',
    });
  });

  it('when a setting is empty, then it counts as unset', () => {
    expect(loadConfig(testEnv({ FALLBACK_NUMBER: '', PORT: '' })).port).toBe(3000);
  });

  it.each([
    [{ TWILIO_AUTH_TOKEN: undefined }, /TWILIO_AUTH_TOKEN is required/],
    [{ TWILIO_ACCOUNT_SID: 'abc' }, /TWILIO_ACCOUNT_SID must look like AC/],
    [{ RETELL_API_KEY: undefined }, /RETELL_API_KEY is required/],
    [{ RETELL_AGENT_ID: undefined }, /RETELL_AGENT_ID is required unless AGENT_ROUTES/],
    [{ AGENT_ROUTES: '{not json' }, /AGENT_ROUTES must be a JSON object/],
    [{ AGENT_ROUTES: '{"4155550100":"agent"}' }, /AGENT_ROUTES \(at 4155550100\)/],
    [{ TRANSFER_DESTINATIONS: '{"sales":"call me"}' }, /TRANSFER_DESTINATIONS \(at sales\) values must be E.164 numbers or SIP URIs/],
    [{ TRANSFER_DESTINATIONS: '{"desk":"sip:desk\\u0001@pbx.example.com"}' }, /TRANSFER_DESTINATIONS \(at desk\) values must be E.164 numbers or SIP URIs/],
    [{ TRANSFER_ALLOWLIST: '+1415555*,1234' }, /TRANSFER_ALLOWLIST \(at 1\) entries must be E.164/],
    [{ PORT: 'eighty' }, /PORT must be a port number/],
    [{ REDIS_URL: 'http://localhost:6379' }, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ SIP_TRANSPORT: 'sctp' }, /SIP_TRANSPORT must be one of tcp, udp, tls \(got "sctp"\)/],
    [{ RETELL_TIMEOUT_MS: '20000' }, /RETELL_TIMEOUT_MS must be at most 8000/],
    [{ FALLBACK_NUMBER: '555-1234' }, /FALLBACK_NUMBER must be an E.164 number/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of fatal, error/],
    [{ NODE_ENV: 'staging' }, /NODE_ENV must be one of development, production, test \(got "staging"\); e\.g\. NODE_ENV=production/],
    [{ NODE_ENV: 'production', PUBLIC_URL: undefined }, /PUBLIC_URL is required when NODE_ENV=production/],
    [{ NODE_ENV: 'production', PUBLIC_URL: 'http://bridge.example.com' }, /PUBLIC_URL must be https when NODE_ENV=production.*; e\.g\. PUBLIC_URL=https:\/\/bridge\.example\.com/],
    [{ NODE_ENV: 'production', PUBLIC_URL: undefined, RENDER_EXTERNAL_URL: 'http://x.onrender.com' }, /RENDER_EXTERNAL_URL must be https when NODE_ENV=production/],
    [{ PUBLIC_URL: 'ftp://example.com' }, /PUBLIC_URL must be an http\(s\) URL/],
    [{ PUBLIC_URL: 'https://x.example.com/twilio/voice' }, /PUBLIC_URL must be the origin only, without the path \/twilio\/voice: use https:\/\/x\.example\.com/],
    [{ PUBLIC_URL: 'https://x.example.com/?token=1' }, /PUBLIC_URL must be the origin only, without the query \?token=1/],
    [{ METRICS_TOKEN: 'short' }, /METRICS_TOKEN looks too short/],
    [{ ADMIN_PASSWORD: 'admin' }, /ADMIN_PASSWORD looks too short/],
    [{ ADMIN_PASSWORD: 'changeme' }, /ADMIN_PASSWORD/],
    [{ API_TOKEN: 'short' }, /API_TOKEN must be at least 16 characters; generate one with: openssl rand -hex 32/],
    [{ API_TOKEN: 'has a space in it somewhere' }, /API_TOKEN must be printable ASCII without spaces/],
    [{ OUTBOUND_FROM_NUMBER: '4155550100' }, /OUTBOUND_FROM_NUMBER must be an E.164 number/],
    [{ OUTBOUND_ALLOWLIST: '+1415*,44*' }, /OUTBOUND_ALLOWLIST \(at 1\) entries must be E.164/],
    [{ OUTBOUND_WEBHOOK_URL: 'crm.example.com', API_TOKEN: 'a'.repeat(32) }, /OUTBOUND_WEBHOOK_URL must be an http\(s\) URL/],
    [{ OUTBOUND_WEBHOOK_URL: 'https://crm.example.com/hooks' }, /OUTBOUND_WEBHOOK_URL needs API_TOKEN/],
    [{ NODE_ENV: 'production', API_TOKEN: 'a'.repeat(32), OUTBOUND_WEBHOOK_URL: 'http://crm.example.com/hooks' }, /OUTBOUND_WEBHOOK_URL must be an https URL when NODE_ENV=production/],
    [{ TWILIO_CPS: '0' }, /TWILIO_CPS/],
    [{ TWILIO_CPS: 'fast' }, /TWILIO_CPS must be a whole number of calls per second/],
    [{ OUTBOUND_RESERVED_CONCURRENCY: '-1' }, /OUTBOUND_RESERVED_CONCURRENCY/],
    [{ INBOUND_WEBHOOK_URL: 'crm.example.com/hook' }, /INBOUND_WEBHOOK_URL must be an http\(s\) URL/],
    [{ WARM_TRANSFER_RING_TIMEOUT_S: '3' }, /WARM_TRANSFER_RING_TIMEOUT_S must be at least 5 \(Twilio's shortest ring time\) \(got "3"\); e\.g\. WARM_TRANSFER_RING_TIMEOUT_S=20/],
    [{ WARM_TRANSFER_RING_TIMEOUT_S: '601' }, /WARM_TRANSFER_RING_TIMEOUT_S must be at most 600/],
    [{ WARM_TRANSFER_RING_TIMEOUT_S: 'long' }, /WARM_TRANSFER_RING_TIMEOUT_S must be a whole number of seconds/],
    [{ WARM_TRANSFER_ACCEPT_DIGIT: '12' }, /WARM_TRANSFER_ACCEPT_DIGIT must be one key of a phone keypad: 0-9, \* or #/],
    [{ WARM_TRANSFER_ACCEPT_DIGIT: 'a' }, /WARM_TRANSFER_ACCEPT_DIGIT must be one key/],
    [{ WARM_TRANSFER_HOLD_MESSAGE: 'Hold\u0007on' }, /WARM_TRANSFER_HOLD_MESSAGE must not contain control characters/],
    [{ WARM_TRANSFER_HOLD_MESSAGE: 'x'.repeat(501) }, /WARM_TRANSFER_HOLD_MESSAGE must be at most 500 characters/],
    [{ INBOUND_WEBHOOK_URL: 'https://crm.example.com/hook', INBOUND_WEBHOOK_TIMEOUT_MS: '50' }, /INBOUND_WEBHOOK_TIMEOUT_MS must be at least 100/],
    [{ NODE_ENV: 'production', INBOUND_WEBHOOK_URL: 'http://crm.example.com/hook' }, /INBOUND_WEBHOOK_URL must be an https URL when NODE_ENV=production/],
    [
      { INBOUND_WEBHOOK_URL: 'https://crm.example.com/hook', INBOUND_WEBHOOK_TIMEOUT_MS: '8001', RETELL_TIMEOUT_MS: '4000' },
      /INBOUND_WEBHOOK_TIMEOUT_MS must be at most 8000 with RETELL_TIMEOUT_MS=4000: .*registration keeps its full time inside Twilio's 15 s/,
    ],
    [{ INBOUND_WEBHOOK_URL: 'https://crm.example.com/hook', INBOUND_WEBHOOK_TIMEOUT_MS: '4001', RETELL_TIMEOUT_MS: '8000' }, /INBOUND_WEBHOOK_TIMEOUT_MS must be at most 4000 with RETELL_TIMEOUT_MS=8000/],
  ])('when %o, then it stops with a message naming the variable and what is wrong', (overrides, message) => {
    expect(load(overrides)).toThrow(ConfigError);
    expect(load(overrides)).toThrow(message);
  });

  it('when REDIS_CLUSTER_NODES is set instead of REDIS_URL, then the nodes and their credentials are parsed', () => {
    const config = loadConfig(
      testEnv({ REDIS_URL: undefined, REDIS_CLUSTER_NODES: 'redis-a.internal:6379, 10.0.0.6:6380,[::1]:7000', REDIS_PASSWORD: 's3cret', REDIS_TLS: 'true' }),
    );
    expect(config.redis).toMatchObject({
      cluster: [
        { host: 'redis-a.internal', port: 6379 },
        { host: '10.0.0.6', port: 6380 },
        { host: '::1', port: 7000 },
      ],
      sentinel: undefined,
      password: 's3cret',
      tls: true,
    });
  });

  it('when REDIS_SENTINELS and REDIS_SENTINEL_NAME are set instead of REDIS_URL, then the sentinels, name and passwords are parsed', () => {
    const config = loadConfig(
      testEnv({ REDIS_URL: undefined, REDIS_SENTINELS: '10.0.0.5:26379,10.0.0.6:26379', REDIS_SENTINEL_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: 'sp', REDIS_PASSWORD: 'rp' }),
    );
    expect(config.redis).toMatchObject({
      cluster: undefined,
      sentinel: { nodes: [{ host: '10.0.0.5', port: 26379 }, { host: '10.0.0.6', port: 26379 }], name: 'mymaster', password: 'sp' },
      password: 'rp',
      tls: false,
    });
  });

  it.each([
    [{ REDIS_URL: undefined, REDIS_CLUSTER_NODES: '10.0.0.5' }, /REDIS_CLUSTER_NODES \(at 0\) entries must be host:port/],
    [{ REDIS_URL: undefined, REDIS_CLUSTER_NODES: '10.0.0.5:6379,10.0.0.6:99999' }, /REDIS_CLUSTER_NODES \(at 1\) entries must be host:port/],
    [{ REDIS_URL: undefined, REDIS_CLUSTER_NODES: ' , ' }, /REDIS_CLUSTER_NODES must list at least one host:port/],
    [{ REDIS_CLUSTER_NODES: '10.0.0.5:6379' }, /REDIS_URL and REDIS_CLUSTER_NODES are both set: remove REDIS_URL/],
    [{ REDIS_SENTINELS: '10.0.0.5:26379', REDIS_SENTINEL_NAME: 'm' }, /REDIS_URL and REDIS_SENTINELS are both set/],
    [{ REDIS_URL: undefined, REDIS_CLUSTER_NODES: '10.0.0.5:6379', REDIS_SENTINELS: '10.0.0.5:26379' }, /REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set/],
    [{ REDIS_URL: undefined, REDIS_SENTINELS: '10.0.0.5:26379' }, /REDIS_SENTINEL_NAME is required with REDIS_SENTINELS/],
    [{ REDIS_SENTINEL_NAME: 'mymaster' }, /REDIS_SENTINEL_NAME is set without REDIS_SENTINELS/],
    [{ REDIS_URL: undefined, REDIS_CLUSTER_NODES: '10.0.0.5:6379', REDIS_SENTINEL_PASSWORD: 'x' }, /REDIS_SENTINEL_PASSWORD applies only with REDIS_SENTINELS/],
    [{ REDIS_PASSWORD: 'x' }, /REDIS_PASSWORD applies only with REDIS_CLUSTER_NODES or REDIS_SENTINELS; with REDIS_URL put it in the URL/],
    [{ REDIS_URL: undefined, REDIS_CLUSTER_NODES: '10.0.0.5:6379', REDIS_TLS: 'yes' }, /REDIS_TLS must be true or false/],
  ])('when the Redis topology is %o, then it stops with a message naming the variable', (overrides, message) => {
    expect(load(overrides)).toThrow(ConfigError);
    expect(load(overrides)).toThrow(message);
  });

  it('when the lookup hook is set, then its URL is kept as given and its timeout may take what Retell leaves of the budget', () => {
    const config = loadConfig(
      testEnv({
        NODE_ENV: 'production',
        PUBLIC_URL: PRODUCTION_PUBLIC_URL,
        INBOUND_WEBHOOK_URL: 'https://crm.example.com/hooks/retell/?tenant=acme',
        INBOUND_WEBHOOK_TIMEOUT_MS: '8000',
        RETELL_TIMEOUT_MS: '4000',
      }),
    );
    expect(config.lookupHook).toEqual({ url: 'https://crm.example.com/hooks/retell/?tenant=acme', timeoutMs: 8000 });
    expect(loadConfig(testEnv({ INBOUND_WEBHOOK_URL: 'http://127.0.0.1:4010/' })).lookupHook.url).toBe('http://127.0.0.1:4010/');
  });

  it('when the lookup hook is not set, then its timeout is not held against the budget', () => {
    expect(loadConfig(testEnv({ INBOUND_WEBHOOK_TIMEOUT_MS: '9000', RETELL_TIMEOUT_MS: '8000' })).lookupHook).toEqual({ url: undefined, timeoutMs: 9000 });
  });

  it('when FALLBACK_MESSAGE holds a character TwiML cannot carry, then start-up stops naming it', () => {
    expect(load({ FALLBACK_MESSAGE: 'Sorry\u0007, try later' })).toThrow(/FALLBACK_MESSAGE must not contain control characters/);
  });

  it('when every refused setting comes with an example, then each problem names its variable and a good value', () => {
    const found = problems(testEnv({ NODE_ENV: 'staging', PORT: 'x', PUBLIC_URL: 'https://x.example.com/a', TWILIO_AUTH_TOKEN: undefined }));
    expect(found.map((p) => p.variable).sort()).toEqual(['NODE_ENV', 'PORT', 'PUBLIC_URL', 'TWILIO_AUTH_TOKEN']);
    for (const p of found) expect(p.example).toBeTruthy();
  });

  it('when several settings are wrong, then every one is reported at once, one per line', () => {
    let message = '';
    try {
      loadConfig(testEnv({ TWILIO_AUTH_TOKEN: undefined, PORT: 'x', LOG_LEVEL: 'loud', AGENT_ROUTES: '[', RETELL_AGENT_ID: undefined }));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')[0]).toBe('Invalid configuration (4 problems):');
    for (const name of ['TWILIO_AUTH_TOKEN', 'PORT', 'LOG_LEVEL', 'AGENT_ROUTES']) expect(message).toMatch(new RegExp(`^  - ${name} `, 'm'));
    // The agent rule depends on AGENT_ROUTES, which is itself wrong: no second-hand complaint.
    expect(message).not.toContain('RETELL_AGENT_ID');
  });

  it('when nothing is set, then it says to copy .env.example to .env', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({});
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error?.nothingSet).toBe(true);
    expect(error?.message).toContain('copy .env.example to .env');
    expect(noAccountSettings({ PORT: '3000', TWILIO_AUTH_TOKEN: ' ' })).toBe(true);
    expect(noAccountSettings({ TWILIO_AUTH_TOKEN: 'x' })).toBe(false);
  });

  it('when .env.example is copied unchanged, then its placeholders are refused, each named (PUBLIC_URL\'s example domain too), and the secrets are not echoed', () => {
    const example = parseDotenv(readFileSync(path.join(ROOT, '.env.example')));
    const found = problems(example);
    expect(found.map((p) => p.variable).sort()).toEqual(['PUBLIC_URL', 'RETELL_AGENT_ID', 'RETELL_API_KEY', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN']);
    expect(found.find((p) => p.variable === 'PUBLIC_URL')?.problem).toMatch(/placeholder .*bridge\.example\.com is a reserved example domain/);
    expect(placeholderAccountSettings(example, example)).toEqual(['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'RETELL_API_KEY', 'RETELL_AGENT_ID']);
    expect(found.find((p) => p.variable === 'TWILIO_AUTH_TOKEN')?.problem).toMatch(/placeholder/);
    expect(found.find((p) => p.variable === 'RETELL_API_KEY')?.problem).toMatch(/placeholder/);
    expect(found.find((p) => p.variable === 'RETELL_AGENT_ID')?.problem).toMatch(/placeholder/);
    const text = found.map((p) => p.problem).join('\n');
    expect(text).not.toContain(example.TWILIO_AUTH_TOKEN);
    expect(text).not.toContain(example.RETELL_API_KEY);
  });

  it.each([
    ['production', 'PUBLIC_URL', 'https://bridge.example.com'],
    ['development', 'PUBLIC_URL', 'https://bridge.example.org'],
    ['production', 'PUBLIC_URL', 'https://EXAMPLE.NET'],
    ['development', 'PUBLIC_URL', 'https://bridge.test'],
    ['production', 'PUBLIC_URL', 'https://calls.invalid:8443'],
    ['production', 'PUBLIC_URL', 'https://bridge.example'],
    ['production', 'RENDER_EXTERNAL_URL', 'https://my-bridge.example.com'],
  ])('when NODE_ENV=%s and %s is %s, a reserved example domain, then it is refused as a placeholder Twilio cannot reach', (nodeEnv, variable, url) => {
    const env = testEnv({ NODE_ENV: nodeEnv, PUBLIC_URL: undefined, [variable]: url });
    const found = problems(env);
    expect(found.map((p) => p.variable)).toEqual([variable]);
    expect(found[0]!.problem).toMatch(/is still a placeholder \(as in \.env\.example\): \S+ is a reserved example domain, which Twilio cannot reach/);
    expect(found[0]!.example).toBe('https://my-bridge.herokuapp.com');
  });

  it('when a domain only looks like an example one, or NODE_ENV=test (the suite\'s bridges never meet Twilio), then PUBLIC_URL is accepted', () => {
    for (const url of ['https://myexample.com', 'https://example.com.my-bridge.net', 'https://bridge.testing.io', 'https://bridge.examples.org']) {
      expect(loadConfig(testEnv({ NODE_ENV: 'production', PUBLIC_URL: url })).publicUrl).toBe(url);
    }
    expect(loadConfig(testEnv({ NODE_ENV: 'test', PUBLIC_URL: 'https://bridge.example.com' })).publicUrl).toBe('https://bridge.example.com');
    expect(loadConfig(testEnv({ NODE_ENV: 'development', PUBLIC_URL: undefined })).publicUrl).toBe('http://localhost:3000');
  });

  it('when every Twilio and Retell setting that is set is still a placeholder, then placeholderAccountSettings names them; one real value among them, or none set, gives none', () => {
    const example = { TWILIO_ACCOUNT_SID: 'AC_from_the_example', RETELL_API_KEY: 'key_from_the_example' };
    expect(placeholderAccountSettings({ TWILIO_ACCOUNT_SID: 'AC_from_the_example', RETELL_API_KEY: 'key_xxxxxxxxxxxx' }, example)).toEqual(['TWILIO_ACCOUNT_SID', 'RETELL_API_KEY']);
    expect(placeholderAccountSettings({ TWILIO_AUTH_TOKEN: 'your_twilio_auth_token', RETELL_AGENT_ID: '<agent id>' })).toEqual(['TWILIO_AUTH_TOKEN', 'RETELL_AGENT_ID']);
    expect(placeholderAccountSettings({ TWILIO_ACCOUNT_SID: 'AC_from_the_example', RETELL_API_KEY: 'key_0123456789abcdef' }, example)).toEqual([]);
    expect(placeholderAccountSettings({ PORT: '3000', TWILIO_AUTH_TOKEN: ' ' }, example)).toEqual([]);
  });

  it('when a secret is refused, then its value is never part of the message', () => {
    expect(load({ TWILIO_AUTH_TOKEN: 'shortsecret' })).toThrow(/TWILIO_AUTH_TOKEN looks too short/);
    expect(load({ TWILIO_AUTH_TOKEN: 'shortsecret' })).not.toThrow(/shortsecret/);
  });

  it('when PUBLIC_URL is unset and Render sets RENDER_EXTERNAL_URL, then that is the public URL, in production too', () => {
    const config = loadConfig(testEnv({ NODE_ENV: 'production', PUBLIC_URL: undefined, RENDER_EXTERNAL_URL: 'https://my-bridge.onrender.com' }));
    expect(config).toMatchObject({ publicUrl: 'https://my-bridge.onrender.com', publicUrlSource: 'RENDER_EXTERNAL_URL' });
    const both = loadConfig(testEnv({ PUBLIC_URL: 'https://calls.example.com', RENDER_EXTERNAL_URL: 'https://my-bridge.onrender.com' }));
    expect(both.publicUrl).toBe('https://calls.example.com');
  });

  it('when only some settings are asked for, then the others are neither demanded nor checked', () => {
    expect(parseSettings({ REDIS_URL: 'redis://10.0.0.1:6379', PORT: 'nonsense' }, ['REDIS_URL', 'REDIS_PREFIX'])).toEqual({
      REDIS_URL: 'redis://10.0.0.1:6379',
      REDIS_PREFIX: 'bridge',
    });
  });

  it('describes every setting and gives an example of it, so every problem can be explained', () => {
    for (const [name, schema] of Object.entries(envSchema.shape)) {
      // On the outermost schema: .meta() (or .describe()) is written last.
      const meta = (z.globalRegistry.get(schema as z.ZodType) ?? {}) as Record<string, unknown>;
      expect({ name, description: typeof meta.description, example: typeof meta.example }).toEqual({ name, description: 'string', example: 'string' });
    }
  });
});

describe('the compiled entry points (npm start, npm run worker)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const runWeb = () =>
    spawnSync(process.execPath, ['-r', require.resolve('tsx/cjs'), path.join(ROOT, 'src/bin/web.ts')], {
      cwd: dir,
      env: { PATH: process.env.PATH, TWILIO_ACCOUNT_SID: 'nope', PORT: 'x' },
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('when configuration is invalid, then it exits 1 listing every problem', () => {
    const result = runWeb();
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^Invalid configuration \(\d+ problems\):$/);
    expect(result.stderr).toMatch(/^ {2}- PORT must be a port number/m);
    expect(result.stderr).toMatch(/^ {2}- TWILIO_ACCOUNT_SID must look like AC/m);
    expect(result.stderr).toMatch(/^ {2}- TWILIO_AUTH_TOKEN is required/m);
    expect(result.stderr).not.toContain('.env');
  });

  it('when a .env is in the working directory, then the error says this process does not read it and how to run with it', () => {
    writeFileSync(path.join(dir, '.env'), 'TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef\n');
    const result = runWeb();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('TWILIO_AUTH_TOKEN is required');
    expect(result.stderr).toContain('not from .env');
    expect(result.stderr).toContain('node --env-file=.env dist/bin/web.js');
  });
});
