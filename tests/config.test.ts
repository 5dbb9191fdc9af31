import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadConfig } from '../src/config';
import { testEnv } from './support/bridge';

const load = (overrides: Record<string, string | undefined>) => () => loadConfig(testEnv(overrides));

describe('loadConfig', () => {
  it('when the required settings are present, then defaults fill in the rest', () => {
    const config = loadConfig(testEnv({ NODE_ENV: undefined, PUBLIC_URL: undefined, RETELL_TIMEOUT_MS: undefined, LOG_LEVEL: undefined }));
    expect(config).toMatchObject({
      nodeEnv: 'development',
      port: 3000,
      publicUrl: 'http://localhost:3000',
      logLevel: 'info',
      redis: { prefix: 'bridge' },
      twilio: { apiBaseUrl: 'https://api.twilio.com' },
      retell: { baseUrl: 'https://api.retellai.com', sipHost: 'sip.retellai.com', sipTransport: 'tcp', timeoutMs: 4000, agentRoutes: {} },
      transfer: { destinations: {}, allowlist: [] },
      fallback: { number: undefined },
      worker: { concurrency: 10 },
      outbound: { apiToken: undefined, fromNumber: undefined, allowlist: [], webhookUrl: undefined, cps: 1, reservedConcurrency: 1 },
      inboundWebhook: { url: undefined, timeoutMs: 2500 },
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
    });
  });

  it('when a setting is empty, then it counts as unset', () => {
    expect(loadConfig(testEnv({ FALLBACK_NUMBER: '', PORT: '' })).port).toBe(3000);
  });

  it.each([
    [{ TWILIO_AUTH_TOKEN: undefined }, /^Invalid configuration: TWILIO_AUTH_TOKEN is required$/],
    [{ TWILIO_ACCOUNT_SID: 'abc' }, /TWILIO_ACCOUNT_SID must look like AC/],
    [{ RETELL_API_KEY: undefined }, /RETELL_API_KEY is required/],
    [{ RETELL_AGENT_ID: undefined }, /RETELL_AGENT_ID is required unless AGENT_ROUTES/],
    [{ AGENT_ROUTES: '{not json' }, /AGENT_ROUTES must be a JSON object/],
    [{ AGENT_ROUTES: '{"4155550100":"agent"}' }, /AGENT_ROUTES \(at 4155550100\)/],
    [{ TRANSFER_DESTINATIONS: '{"sales":"call me"}' }, /TRANSFER_DESTINATIONS \(at sales\) values must be E.164 numbers or SIP URIs/],
    [{ TRANSFER_ALLOWLIST: '+1415555*,1234' }, /TRANSFER_ALLOWLIST \(at 1\) entries must be E.164/],
    [{ PORT: 'eighty' }, /PORT must be a port number/],
    [{ REDIS_URL: 'http://localhost:6379' }, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ SIP_TRANSPORT: 'sctp' }, /SIP_TRANSPORT/],
    [{ RETELL_TIMEOUT_MS: '20000' }, /RETELL_TIMEOUT_MS must be at most 8000/],
    [{ FALLBACK_NUMBER: '555-1234' }, /FALLBACK_NUMBER must be an E.164 number/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ NODE_ENV: 'production', PUBLIC_URL: undefined }, /PUBLIC_URL is required when NODE_ENV=production/],
    [{ PUBLIC_URL: 'ftp://example.com' }, /PUBLIC_URL must be an http\(s\) URL/],
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
    [{ INBOUND_WEBHOOK_URL: 'https://crm.example.com/hook', INBOUND_WEBHOOK_TIMEOUT_MS: '50' }, /INBOUND_WEBHOOK_TIMEOUT_MS must be at least 100/],
    [{ NODE_ENV: 'production', INBOUND_WEBHOOK_URL: 'http://crm.example.com/hook' }, /INBOUND_WEBHOOK_URL must be an https URL when NODE_ENV=production/],
    [
      { INBOUND_WEBHOOK_URL: 'https://crm.example.com/hook', INBOUND_WEBHOOK_TIMEOUT_MS: '8001', RETELL_TIMEOUT_MS: '4000' },
      /INBOUND_WEBHOOK_TIMEOUT_MS must be at most 8000 with RETELL_TIMEOUT_MS=4000: .*registration keeps its full time inside Twilio's 15 s/,
    ],
    [{ INBOUND_WEBHOOK_URL: 'https://crm.example.com/hook', INBOUND_WEBHOOK_TIMEOUT_MS: '4001', RETELL_TIMEOUT_MS: '8000' }, /INBOUND_WEBHOOK_TIMEOUT_MS must be at most 4000 with RETELL_TIMEOUT_MS=8000/],
  ])('when %o, then it stops with a message naming the variable', (overrides, message) => {
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
      testEnv({ NODE_ENV: 'production', INBOUND_WEBHOOK_URL: 'https://crm.example.com/hooks/retell/?tenant=acme', INBOUND_WEBHOOK_TIMEOUT_MS: '8000', RETELL_TIMEOUT_MS: '4000' }),
    );
    expect(config.inboundWebhook).toEqual({ url: 'https://crm.example.com/hooks/retell/?tenant=acme', timeoutMs: 8000 });
    expect(loadConfig(testEnv({ INBOUND_WEBHOOK_URL: 'http://127.0.0.1:4010/' })).inboundWebhook.url).toBe('http://127.0.0.1:4010/');
  });

  it('when the lookup hook is not set, then its timeout is not held against the budget', () => {
    expect(loadConfig(testEnv({ INBOUND_WEBHOOK_TIMEOUT_MS: '9000', RETELL_TIMEOUT_MS: '8000' })).inboundWebhook).toEqual({ url: undefined, timeoutMs: 9000 });
  });

  it('when FALLBACK_MESSAGE holds a character TwiML cannot carry, then start-up stops naming it', () => {
    expect(load({ FALLBACK_MESSAGE: 'Sorry\u0007, try later' })).toThrow(/FALLBACK_MESSAGE must not contain control characters/);
  });

  it('when several settings are wrong, then all of them are named in one line', () => {
    expect(load({ TWILIO_AUTH_TOKEN: undefined, PORT: 'x' })).toThrow(/TWILIO_AUTH_TOKEN is required; PORT must be a port number|PORT must be a port number; TWILIO_AUTH_TOKEN is required/);
  });
});

describe('the web entry point', () => {
  it('when configuration is invalid, then it exits 1 after printing one line naming the variable', () => {
    const result = spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join(__dirname, '../src/bin/web.ts')], {
      env: { PATH: process.env.PATH, TWILIO_ACCOUNT_SID: 'nope' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Invalid configuration: .*TWILIO_ACCOUNT_SID must look like AC/);
  });
});
