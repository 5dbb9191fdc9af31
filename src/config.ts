/**
 * The only reader of the environment. Every setting is validated once, at start-up, into a typed
 * object. Each setting is validated on its own, so a bad start reports every problem at once, each
 * naming the variable, what is wrong and an example of a good value (the `example` in its metadata).
 */
import { z } from 'zod';
import { ACCOUNT_SID, E164, isXmlSafe } from './formats';

/** What a setting's metadata may say besides its description. */
interface SettingMeta {
  description?: string;
  /** A good value, printed after a problem as `NAME=<example>`. */
  example?: string;
  /** Never echo the value in a message. */
  secret?: boolean;
}

const e164 = z.string().regex(E164, 'must be an E.164 number such as +14155550100');
// Dialed through TwiML's <Sip>, so nothing XML cannot carry (a control character would fail every transfer there).
const sipUri = z
  .string()
  .regex(/^sips?:[^\s@]+@[^\s]+$/i, 'must be a SIP URI such as sip:desk@pbx.example.com')
  .refine(isXmlSafe, 'must not contain control characters or other characters XML cannot carry');

/** Parses a JSON-valued variable, then validates the parsed value with `schema`. */
function jsonObject<T extends z.ZodType>(schema: T, example: string) {
  return z
    .string()
    .default('{}')
    .transform((raw, ctx) => {
      try {
        return JSON.parse(raw === '' ? '{}' : raw) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be a JSON object, e.g. ${example}` });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

const allowlistEntry = z
  .string()
  .refine(
    (s) => (s.endsWith('*') ? /^\+[1-9]\d{0,14}\*$/ : E164).test(s),
    'entries must be E.164 numbers, or prefixes ending in * such as +1415*',
  );

/** `host:port` (IPv6 in brackets), as Redis Cluster and Sentinel addresses are written. */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** A comma-separated list of `host:port` addresses, parsed into `{host, port}`. */
function hostPortList(example: string) {
  const entry = z.string().transform((s, ctx) => {
    const match = HOST_PORT.exec(s);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `entries must be host:port, e.g. ${example}` });
      return z.NEVER;
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
  return z
    .string()
    .transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))
    .pipe(z.array(entry).min(1, `must list at least one host:port, e.g. ${example}`))
    .optional();
}

const trueFalse = z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true');

/** A comma-separated list of allow-list entries (TRANSFER_ALLOWLIST, OUTBOUND_ALLOWLIST). */
const allowlist = z
  .string()
  .default('')
  .transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))
  .pipe(z.array(allowlistEntry));

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .transform((s) => s.replace(/\/+$/, ''));

/**
 * A public origin: scheme, host and port only. Twilio signs the full URL it calls, and the bridge
 * appends its own paths (`/twilio/voice`), so a path or query here breaks every signature check.
 */
const origin = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .superRefine((s, ctx) => {
    const url = new URL(s);
    const extra = [url.pathname !== '/' && `the path ${url.pathname}`, url.search && `the query ${url.search}`, url.hash && `the fragment ${url.hash}`].filter(Boolean);
    if (extra.length) ctx.addIssue({ code: 'custom', message: `must be the origin only, without ${extra.join(' and ')}: use ${url.origin}` });
  })
  // Credentials stay: Twilio supports basic auth in webhook URLs.
  .transform((s) => {
    const url = new URL(s);
    const credentials = url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : '';
    return `${url.protocol}//${credentials}${url.host}`;
  });

/** Values from .env.example and the like that were never replaced with the real thing. */
const PLACEHOLDER = /x{8,}|^your[_-]|^<.*>$|^(changeme|change-me|placeholder|todo|secret|password)$/i;

/** Whether `value` is still a placeholder such as those in .env.example. */
function isPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value);
}

/**
 * Whether `host` is a name reserved for documentation and testing, which no one can reach: example.com,
 * example.net, example.org and their subdomains (RFC 2606), and the .example, .test and .invalid
 * top-level domains (RFC 2606, RFC 6761). `.localhost` is left out: it is this machine, a real place.
 */
function isReservedExampleHost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return /(^|\.)example\.(com|net|org)$/.test(name) || /\.(example|test|invalid)$/.test(name) || ['example', 'test', 'invalid'].includes(name);
}

/** A credential: at least `min` characters, not a placeholder. */
function credential(min: number, what: string) {
  return z
    .string({ error: 'is required' })
    .min(min, `looks too short to be ${what}`)
    .refine((s) => !PLACEHOLDER.test(s), 'is still a placeholder (as in .env.example): put the real value here');
}

const port = z.coerce.number({ error: 'must be a port number' }).int().min(1).max(65535);

export const envSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'])
    .default('development')
    .meta({ description: 'Runtime mode; production requires an https PUBLIC_URL', example: 'production' }),
  PORT: port.default(3000).meta({ description: 'HTTP port', example: '3000' }),
  REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .default('redis://127.0.0.1:6379')
    .meta({ description: 'Redis for dedupe, call records and the job queue', example: 'redis://127.0.0.1:6379' }),
  REDIS_CLUSTER_NODES: hostPortList('10.0.0.5:6379,10.0.0.6:6379').meta({
    description: 'Comma-separated host:port of Redis Cluster nodes (any reachable subset): use Redis Cluster instead of REDIS_URL',
    example: '10.0.0.5:6379,10.0.0.6:6379',
  }),
  REDIS_SENTINELS: hostPortList('10.0.0.5:26379,10.0.0.6:26379').meta({
    description: 'Comma-separated host:port of Redis Sentinels: use the master they name (REDIS_SENTINEL_NAME) instead of REDIS_URL',
    example: '10.0.0.5:26379,10.0.0.6:26379',
  }),
  REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be the master group name from the sentinels\' configuration, such as mymaster')
    .optional()
    .meta({ description: 'Master group name the sentinels monitor (sentinel monitor <name> ...); required with REDIS_SENTINELS', example: 'mymaster' }),
  REDIS_USERNAME: z
    .string()
    .optional()
    .meta({ description: 'ACL user for the Cluster nodes, or for the Sentinel-managed master and replicas (default: the default user)', example: 'bridge' }),
  REDIS_PASSWORD: z.string().optional().meta({
    description: 'Password for the Cluster nodes, or for the Sentinel-managed master and replicas; with REDIS_URL it goes in the URL',
    example: '<the Redis password>',
    secret: true,
  }),
  REDIS_SENTINEL_PASSWORD: z
    .string()
    .optional()
    .meta({ description: 'Password of the sentinels themselves (requirepass in sentinel.conf), if they have one', example: '<the sentinels\' password>', secret: true }),
  REDIS_TLS: trueFalse.optional().meta({
    description: 'true: TLS to the Cluster nodes, or to the sentinels and the master they name (default false); with REDIS_URL use rediss://',
    example: 'true',
  }),
  REDIS_TLS_REJECT_UNAUTHORIZED: trueFalse.default(true).meta({
    description: 'Verify the Redis server certificate on rediss:// URLs and with REDIS_TLS; Heroku Redis needs false (self-signed)',
    example: 'false',
  }),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,32}$/, 'must be 1-32 letters, digits, dots, dashes or underscores')
    .default('bridge')
    .meta({ description: 'Prefix of every Redis key the bridge writes, so several deployments can share one Redis', example: 'bridge' }),
  PUBLIC_URL: origin.optional().meta({
    description: 'Public origin Twilio calls; signatures are checked against it (default on Render: RENDER_EXTERNAL_URL)',
    example: 'https://my-bridge.herokuapp.com',
  }),
  RENDER_EXTERNAL_URL: origin.optional().meta({ description: 'Set by Render on web services: the default for PUBLIC_URL', example: 'https://my-bridge.onrender.com' }),
  TWILIO_ACCOUNT_SID: z
    .string({ error: 'is required' })
    .regex(ACCOUNT_SID, 'must look like AC followed by 32 hex digits')
    .meta({ description: 'Twilio account whose webhooks are accepted and whose REST API performs actions', example: 'AC0123456789abcdef0123456789abcdef (Twilio Console > Account Info)' }),
  TWILIO_AUTH_TOKEN: credential(16, 'a Twilio auth token').meta({
    description: 'Verifies X-Twilio-Signature and authenticates REST requests',
    example: '<the 32-character Auth Token from Twilio Console > Account Info>',
    secret: true,
  }),
  TWILIO_API_BASE_URL: httpUrl.default('https://api.twilio.com').meta({ description: 'Where the Twilio REST API is', example: 'https://api.twilio.com' }),
  RETELL_API_KEY: credential(8, 'a Retell API key').meta({
    description: 'Registers calls and verifies X-Retell-Signature (the key with the webhook badge)',
    example: '<the key with the webhook badge, Retell dashboard > API Keys>',
    secret: true,
  }),
  RETELL_BASE_URL: httpUrl.default('https://api.retellai.com').meta({ description: 'Where the Retell API is', example: 'https://api.retellai.com' }),
  RETELL_AGENT_ID: z
    .string()
    .min(1)
    .refine((s) => !PLACEHOLDER.test(s), 'is still a placeholder (as in .env.example): put the real agent id here')
    .optional()
    .meta({ description: 'Agent for numbers not in AGENT_ROUTES', example: 'agent_<id from the Retell dashboard>' }),
  AGENT_ROUTES: jsonObject(
    z.record(e164, z.string().min(1, 'agent ids must not be empty'), { error: 'must map E.164 numbers to agent ids' }),
    '{"+14155550100":"agent_abc"}',
  ).meta({ description: 'Called number (E.164) -> Retell agent id', example: '{"+14155550100":"agent_abc"}' }),
  RETELL_SIP_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d+)?$/, 'must be a host name such as sip.retellai.com')
    .default('sip.retellai.com')
    .meta({ description: 'Host in the SIP URI dialed for each registered call', example: 'sip.retellai.com' }),
  SIP_TRANSPORT: z.enum(['tcp', 'udp', 'tls']).default('tcp').meta({ description: 'Appended to the SIP URI as ;transport=', example: 'tcp' }),
  RETELL_TIMEOUT_MS: z.coerce
    .number({ error: 'must be a number of milliseconds' })
    .int()
    .min(200, 'must be at least 200')
    .max(8000, 'must be at most 8000 so the answer fits in Twilio\'s 15 s webhook budget')
    .default(4000)
    .meta({ description: 'Per-request timeout for registering a call with Retell', example: '4000' }),
  INBOUND_WEBHOOK_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .optional()
    .meta({
      description: 'Lookup hook asked for the agent and dynamic variables before each new inbound call is registered (Retell\'s inbound-webhook contract); off when unset',
      example: 'https://crm.example.com/retell/inbound',
    }),
  INBOUND_WEBHOOK_TIMEOUT_MS: z.coerce
    .number({ error: 'must be a number of milliseconds' })
    .int()
    .min(100, 'must be at least 100')
    .default(2500)
    .meta({ description: 'How long the lookup hook may take before the call goes to the agent the bridge would have used', example: '2500' }),
  TRANSFER_DESTINATIONS: jsonObject(
    z.record(
      z.string().regex(/^[A-Za-z0-9_ .-]{1,64}$/, 'names must be 1-64 letters, digits, spaces, dots, dashes or underscores'),
      z.union([e164, sipUri], { error: 'values must be E.164 numbers or SIP URIs' }),
    ),
    '{"sales":"+14155550101","support":"sip:desk@pbx.example.com"}',
  ).meta({ description: 'Destination name -> E.164 number or SIP URI', example: '{"sales":"+14155550101"}' }),
  TRANSFER_ALLOWLIST: allowlist.meta({ description: 'E.164 numbers or prefixes ending in * that an agent may name directly', example: '+14155550102,+1646*' }),
  WARM_TRANSFER_RING_TIMEOUT_S: z.coerce
    .number({ error: 'must be a whole number of seconds' })
    .int('must be a whole number of seconds')
    .min(5, 'must be at least 5 (Twilio\'s shortest ring time)')
    .max(600, 'must be at most 600 (Twilio\'s longest ring time)')
    .default(20)
    .meta({ description: 'How long the person taking a warm transfer is rung before the agent is told nobody answered', example: '20' }),
  WARM_TRANSFER_ACCEPT_DIGIT: z
    .string()
    .regex(/^[0-9*#]$/, 'must be one key of a phone keypad: 0-9, * or #')
    .default('1')
    .meta({ description: 'The key the person presses to take a warm transfer; any other key, or none, declines it', example: '1' }),
  WARM_TRANSFER_HOLD_MESSAGE: z
    .string()
    .max(500, 'must be at most 500 characters')
    .refine(isXmlSafe, 'must not contain control characters or other characters XML cannot carry')
    .optional()
    .transform((s) => (s?.trim() ? s.trim() : undefined))
    .meta({ description: 'Said to the caller while being joined with the person who took a warm transfer; nothing when unset', example: 'Connecting you now.' }),
  FALLBACK_NUMBER: z
    .union([z.literal('').transform(() => undefined), e164])
    .optional()
    .meta({ description: 'When Retell cannot take the call, dial this number instead', example: '+14155550123' }),
  FALLBACK_MESSAGE: z
    .string()
    .min(1)
    .max(1000, 'must be at most 1000 characters')
    .default("We're sorry, our assistant can't take your call right now. Please try again later.")
    .refine(isXmlSafe, 'must not contain control characters or other characters XML cannot carry')
    .meta({ description: 'Said before hanging up when Retell cannot take the call and there is no FALLBACK_NUMBER', example: 'Sorry, please call back later.' }),
  WORKER_CONCURRENCY: z.coerce
    .number({ error: 'must be a whole number' })
    .int()
    .min(1)
    .max(200)
    .default(10)
    .meta({ description: 'Jobs one worker process runs at once', example: '10' }),
  WORKER_METRICS_PORT: port.optional().meta({ description: 'If set, the worker serves /metrics and /healthz on this port', example: '9100' }),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .meta({ description: 'pino log level', example: 'info' }),
  METRICS_TOKEN: credential(16, 'a bearer token (use 16 or more random characters)')
    .optional()
    .meta({ description: 'When set, /metrics requires Authorization: Bearer <token>', example: '<openssl rand -hex 24>', secret: true }),
  ADMIN_PASSWORD: credential(12, 'a password for the admin pages (use 12 or more characters)')
    .optional()
    .meta({ description: 'When set, Bull Board is served at /admin/queues behind HTTP basic auth with this password', example: '<openssl rand -base64 18>', secret: true }),
  API_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters; generate one with: openssl rand -hex 32')
    .max(256, 'must be at most 256 characters')
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .refine((s) => !PLACEHOLDER.test(s), 'is still a placeholder (as in .env.example): put the real value here')
    .optional()
    .meta({
      description: 'Bearer token of POST/GET/DELETE /calls (outbound calls); those endpoints answer 404 while it is unset',
      example: '<openssl rand -hex 32>',
      secret: true,
    }),
  OUTBOUND_FROM_NUMBER: e164
    .optional()
    .meta({ description: 'Caller ID of outbound calls that do not name a from number (a number of the Twilio account)', example: '+14155550100' }),
  OUTBOUND_ALLOWLIST: allowlist.meta({ description: 'E.164 numbers or prefixes ending in * that outbound calls may dial; empty allows any number', example: '+1415*,+14155550102' }),
  OUTBOUND_WEBHOOK_URL: httpUrl.optional().meta({
    description: 'Receives each outbound call\'s status changes and outcome as signed JSON (X-Bridge-Signature, keyed with API_TOKEN)',
    example: 'https://crm.example.com/calls/events',
  }),
  TWILIO_CPS: z.coerce
    .number({ error: 'must be a whole number of calls per second' })
    .int()
    .min(1)
    .max(1000)
    .default(1)
    .meta({ description: 'Outbound calls placed per second across all workers; Twilio accounts allow 1 unless raised', example: '1' }),
  OUTBOUND_RESERVED_CONCURRENCY: z.coerce
    .number({ error: 'must be a whole number' })
    .int()
    .min(0)
    .max(10_000)
    .default(1)
    .meta({ description: 'Retell concurrency kept free for inbound calls: outbound calls wait while fewer slots than this would be left', example: '1' }),
});

/**
 * Of Twilio's 15 s for answering a voice webhook, what the bridge allows itself; the rest covers the
 * network both ways and Twilio's own handling.
 */
export const ANSWER_BUDGET_MS = 13_000;

/** Kept back inside the answer budget for Redis round trips and building the TwiML. */
const ANSWER_RESERVE_MS = 1_000;

type Settings = typeof envSchema.shape;
export type EnvKey = keyof Settings;

export type Env = z.input<typeof envSchema>;

export type EnvValues = z.output<typeof envSchema>;

/** The settings that tie the bridge to real Twilio and Retell accounts. With none of them, `npm run dev` runs the sandbox. */
export const ACCOUNT_SETTINGS = ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'RETELL_API_KEY', 'RETELL_AGENT_ID'] as const satisfies readonly EnvKey[];

/** One thing wrong with the configuration. */
export interface ConfigProblem {
  variable: string;
  problem: string;
  example?: string;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  /** True when none of ACCOUNT_SETTINGS was set: the user has not configured anything yet. */
  readonly nothingSet: boolean;

  constructor(problems: readonly ConfigProblem[] | string, opts: { nothingSet?: boolean } = {}) {
    const list = typeof problems === 'string' ? [] : problems;
    super(typeof problems === 'string' ? problems : describeProblems(list, opts.nothingSet ?? false));
    this.name = 'ConfigError';
    this.problems = list;
    this.nothingSet = opts.nothingSet ?? false;
  }
}

function describeProblems(problems: readonly ConfigProblem[], nothingSet: boolean): string {
  const lines = [`Invalid configuration (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}):`];
  for (const p of problems) lines.push(`  - ${p.variable} ${p.problem}${p.example ? `; e.g. ${p.variable}=${p.example}` : ''}`);
  if (nothingSet) {
    lines.push('No Twilio or Retell settings are set: copy .env.example to .env and fill in your values (or set them as environment variables).');
  }
  return lines.join('\n');
}

/**
 * A check across settings. It runs only when every setting it reads was asked for and is valid, so it
 * never repeats a problem already reported for one of them.
 */
interface Rule {
  reads: readonly EnvKey[];
  /** `set` is the environment as given (empty values dropped), for a rule that must tell a default from a choice. */
  check(e: EnvValues, set: Readonly<Record<string, string>>): ConfigProblem[];
}

const RULES: readonly Rule[] = [
  {
    // One Redis topology at a time, and the credential settings only where they apply (a URL carries its own).
    reads: ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'],
    check(e, set) {
      const cluster = e.REDIS_CLUSTER_NODES !== undefined;
      const sentinel = e.REDIS_SENTINELS !== undefined;
      const problem = (variable: string, text: string, example?: string): ConfigProblem[] => [{ variable, problem: text, example }];
      if (cluster && sentinel) return problem('REDIS_CLUSTER_NODES', 'and REDIS_SENTINELS are both set: keep the one your Redis is');
      if ((cluster || sentinel) && set.REDIS_URL !== undefined) {
        return problem('REDIS_URL', `and ${cluster ? 'REDIS_CLUSTER_NODES' : 'REDIS_SENTINELS'} are both set: remove REDIS_URL (the bridge uses one Redis topology)`);
      }
      if (sentinel && !e.REDIS_SENTINEL_NAME) return problem('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS (the name in "sentinel monitor <name> ...")', 'mymaster');
      if (!sentinel && e.REDIS_SENTINEL_NAME) return problem('REDIS_SENTINEL_NAME', 'is set without REDIS_SENTINELS: add the sentinels\' host:port list');
      if (!sentinel && e.REDIS_SENTINEL_PASSWORD !== undefined) return problem('REDIS_SENTINEL_PASSWORD', 'applies only with REDIS_SENTINELS');
      if (!cluster && !sentinel) {
        const stray = (['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'] as const).find((k) => e[k] !== undefined);
        if (stray) return problem(stray, 'applies only with REDIS_CLUSTER_NODES or REDIS_SENTINELS; with REDIS_URL put it in the URL (rediss://user:password@host:port)');
      }
      return [];
    },
  },
  {
    reads: ['NODE_ENV', 'PUBLIC_URL', 'RENDER_EXTERNAL_URL'],
    check(e) {
      if (e.NODE_ENV !== 'production') return [];
      const url = e.PUBLIC_URL ?? e.RENDER_EXTERNAL_URL;
      if (!url) return [{ variable: 'PUBLIC_URL', problem: 'is required when NODE_ENV=production', example: 'https://my-bridge.herokuapp.com' }];
      if (url.startsWith('http:')) {
        return [{
          variable: e.PUBLIC_URL ? 'PUBLIC_URL' : 'RENDER_EXTERNAL_URL',
          problem: 'must be https when NODE_ENV=production: over http, call details and signatures cross the internet unencrypted (for a local try, use NODE_ENV=development)',
          example: url.replace(/^http:/, 'https:'),
        }];
      }
      return [];
    },
  },
  {
    // Twilio calls PUBLIC_URL and every signature is checked against it: an example domain (as in
    // .env.example) would fail every webhook. The test suite's bridges (NODE_ENV=test) never meet Twilio.
    reads: ['NODE_ENV', 'PUBLIC_URL', 'RENDER_EXTERNAL_URL'],
    check(e) {
      if (e.NODE_ENV === 'test') return [];
      const variable = e.PUBLIC_URL ? 'PUBLIC_URL' : 'RENDER_EXTERNAL_URL';
      const url = e.PUBLIC_URL ?? e.RENDER_EXTERNAL_URL;
      if (!url || !isReservedExampleHost(new URL(url).hostname)) return [];
      return [{
        variable,
        problem: `is still a placeholder (as in .env.example): ${new URL(url).hostname} is a reserved example domain, which Twilio cannot reach; put the public address of this bridge here`,
        example: metaOf(envSchema.shape.PUBLIC_URL).example,
      }];
    },
  },
  {
    reads: ['RETELL_AGENT_ID', 'AGENT_ROUTES'],
    check(e) {
      if (e.RETELL_AGENT_ID || Object.keys(e.AGENT_ROUTES).length > 0) return [];
      return [{ variable: 'RETELL_AGENT_ID', problem: 'is required unless AGENT_ROUTES routes numbers to agents', example: metaOf(envSchema.shape.RETELL_AGENT_ID).example }];
    },
  },
  {
    // Phone numbers and call details go to the user's hooks: in production only over TLS.
    reads: ['NODE_ENV', 'INBOUND_WEBHOOK_URL', 'OUTBOUND_WEBHOOK_URL'],
    check(e) {
      if (e.NODE_ENV !== 'production') return [];
      const hooks: Array<[EnvKey, string | undefined, string]> = [
        ['INBOUND_WEBHOOK_URL', e.INBOUND_WEBHOOK_URL, "it receives callers' numbers"],
        ['OUTBOUND_WEBHOOK_URL', e.OUTBOUND_WEBHOOK_URL, 'it receives the numbers called and the calls\' outcomes'],
      ];
      return hooks
        .filter(([, url]) => url && new URL(url).protocol !== 'https:')
        .map(([variable, url, why]) => ({ variable, problem: `must be an https URL when NODE_ENV=production (${why})`, example: url!.replace(/^http:/, 'https:') }));
    },
  },
  {
    reads: ['OUTBOUND_WEBHOOK_URL', 'API_TOKEN'],
    check(e) {
      if (!e.OUTBOUND_WEBHOOK_URL || e.API_TOKEN) return [];
      return [{ variable: 'OUTBOUND_WEBHOOK_URL', problem: 'needs API_TOKEN, which turns outbound calls on and signs the webhook', example: metaOf(envSchema.shape.OUTBOUND_WEBHOOK_URL).example }];
    },
  },
  {
    // The hook runs before the registration, so together they must fit the answer budget.
    reads: ['INBOUND_WEBHOOK_URL', 'INBOUND_WEBHOOK_TIMEOUT_MS', 'RETELL_TIMEOUT_MS'],
    check(e) {
      const limit = ANSWER_BUDGET_MS - ANSWER_RESERVE_MS;
      if (!e.INBOUND_WEBHOOK_URL || e.INBOUND_WEBHOOK_TIMEOUT_MS + e.RETELL_TIMEOUT_MS <= limit) return [];
      return [{
        variable: 'INBOUND_WEBHOOK_TIMEOUT_MS',
        problem:
          `must be at most ${limit - e.RETELL_TIMEOUT_MS} with RETELL_TIMEOUT_MS=${e.RETELL_TIMEOUT_MS}: the two together may take at most ${limit} ms, ` +
          'so the registration keeps its full time inside Twilio\'s 15 s webhook budget',
        example: String(Math.min(2500, limit - e.RETELL_TIMEOUT_MS)),
      }];
    },
  },
];

/** A setting's metadata, looking through the optional/default/pipe wrappers it may sit in. */
function metaOf(schema: z.ZodType): SettingMeta {
  let found: SettingMeta = {};
  let current: z.ZodType | undefined = schema;
  for (let depth = 0; current && depth < 10; depth++) {
    found = { ...(z.globalRegistry.get(current) as SettingMeta | undefined), ...found };
    const def: { innerType?: z.ZodType; in?: z.ZodType } = (current as unknown as { _zod: { def: { innerType?: z.ZodType; in?: z.ZodType } } })._zod.def;
    current = def.innerType ?? def.in;
  }
  return found;
}

/** Messages for zod's own issues, worded for a person editing an environment variable. */
const friendlyIssue: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map(String).join(', ')}`;
  if (issue.code === 'too_small' && issue.origin === 'number') return `must be at least ${String(issue.minimum)}`;
  if (issue.code === 'too_big' && issue.origin === 'number') return `must be at most ${String(issue.maximum)}`;
  if (issue.code === 'too_small' && issue.origin === 'string') return 'must not be empty';
  return undefined;
};

/** Empty strings count as unset, as they do on most platforms' settings pages. */
function cleaned(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1].trim() !== ''));
}

/** True when none of the account settings is set in `env`. */
export function noAccountSettings(env: Record<string, string | undefined>): boolean {
  const set = cleaned(env);
  return ACCOUNT_SETTINGS.every((key) => set[key] === undefined);
}

/**
 * The account settings set in `env`, when every one of them is still a placeholder: the value of the
 * same setting in `example` (.env.example's), or one that looks like a placeholder. Empty when none is
 * set, or when any of them holds a real-looking value (the user is filling them in).
 */
export function placeholderAccountSettings(env: Record<string, string | undefined>, example: Readonly<Record<string, string>> = {}): EnvKey[] {
  const set = cleaned(env);
  const given = ACCOUNT_SETTINGS.filter((key) => set[key] !== undefined);
  const placeholders = given.filter((key) => set[key] === example[key] || isPlaceholder(set[key]!));
  return placeholders.length === given.length ? placeholders : [];
}

/**
 * Validates the settings named in `keys` (and the rules among them) and returns their values, or
 * throws one ConfigError listing every problem. Callers that need only part of the configuration
 * (the setup tools) ask only for that part, so they do not demand settings they never use.
 */
export function parseSettings<K extends EnvKey>(env: Record<string, string | undefined>, keys: readonly K[]): Pick<EnvValues, K> {
  const set = cleaned(env);
  const values: Partial<Record<EnvKey, unknown>> = {};
  const invalid = new Set<EnvKey>();
  const problems: ConfigProblem[] = [];
  for (const key of keys) {
    const schema = envSchema.shape[key] as z.ZodType;
    const result = schema.safeParse(set[key], { error: friendlyIssue });
    if (result.success) {
      values[key] = result.data;
      continue;
    }
    invalid.add(key);
    const meta = metaOf(schema);
    const raw = set[key];
    const shown = raw !== undefined && !meta.secret ? ` (got ${JSON.stringify(raw.length > 60 ? `${raw.slice(0, 57)}...` : raw)})` : '';
    const messages = [...new Set(result.error.issues.map((issue) => (issue.path.length ? `(at ${issue.path.join('.')}) ` : '') + issue.message))];
    problems.push({ variable: key, problem: `${messages.join('; ')}${raw !== undefined ? shown : ''}`, example: meta.example });
  }
  const asked = new Set<EnvKey>(keys);
  for (const rule of RULES) {
    if (rule.reads.every((key) => asked.has(key) && !invalid.has(key))) problems.push(...rule.check(values as EnvValues, set));
  }
  if (problems.length) throw new ConfigError(problems, { nothingSet: noAccountSettings(env) });
  return values as Pick<EnvValues, K>;
}

const ALL_SETTINGS = Object.keys(envSchema.shape) as EnvKey[];

/** The settings, grouped by what uses them. */
export type Config = ReturnType<typeof toConfig>;

/**
 * The process's environment, the one place it is read: entry points and tools take their settings from
 * here (with `.env` loaded into it first where they read one) and validate them with the functions above.
 */
export function processEnv(): Record<string, string | undefined> {
  return process.env;
}

/** Validates `env` (the process's environment by default) and returns the typed configuration, or throws ConfigError. */
export function loadConfig(env: Record<string, string | undefined> = processEnv()): Config {
  return toConfig(parseSettings(env, ALL_SETTINGS));
}

/** Where `publicUrl` came from: set, Render's default, or the local default nobody chose. */
export type PublicUrlSource = 'PUBLIC_URL' | 'RENDER_EXTERNAL_URL' | 'default';

export function publicUrlOf(e: Pick<EnvValues, 'PUBLIC_URL' | 'RENDER_EXTERNAL_URL' | 'PORT'>): { publicUrl: string; publicUrlSource: PublicUrlSource } {
  if (e.PUBLIC_URL) return { publicUrl: e.PUBLIC_URL, publicUrlSource: 'PUBLIC_URL' };
  if (e.RENDER_EXTERNAL_URL) return { publicUrl: e.RENDER_EXTERNAL_URL, publicUrlSource: 'RENDER_EXTERNAL_URL' };
  return { publicUrl: `http://localhost:${e.PORT}`, publicUrlSource: 'default' };
}

export function twilioOf(e: Pick<EnvValues, 'TWILIO_ACCOUNT_SID' | 'TWILIO_AUTH_TOKEN' | 'TWILIO_API_BASE_URL'>) {
  return { accountSid: e.TWILIO_ACCOUNT_SID, authToken: e.TWILIO_AUTH_TOKEN, apiBaseUrl: e.TWILIO_API_BASE_URL };
}

/** The settings that say where Redis is and how to reach it; every process and tool that uses Redis reads all of them. */
export const REDIS_SETTINGS = [
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_TLS',
  'REDIS_TLS_REJECT_UNAUTHORIZED',
  'REDIS_PREFIX',
] as const satisfies readonly EnvKey[];

export function redisOf(e: Pick<EnvValues, (typeof REDIS_SETTINGS)[number]>) {
  return {
    url: e.REDIS_URL,
    cluster: e.REDIS_CLUSTER_NODES,
    sentinel: e.REDIS_SENTINELS ? { nodes: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME ?? '', password: e.REDIS_SENTINEL_PASSWORD } : undefined,
    username: e.REDIS_USERNAME,
    password: e.REDIS_PASSWORD,
    tls: e.REDIS_TLS ?? false,
    prefix: e.REDIS_PREFIX,
    tlsRejectUnauthorized: e.REDIS_TLS_REJECT_UNAUTHORIZED,
  };
}

function toConfig(e: EnvValues) {
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    ...publicUrlOf(e),
    logLevel: e.LOG_LEVEL,
    redis: redisOf(e),
    twilio: twilioOf(e),
    retell: {
      apiKey: e.RETELL_API_KEY,
      baseUrl: e.RETELL_BASE_URL,
      defaultAgentId: e.RETELL_AGENT_ID,
      agentRoutes: e.AGENT_ROUTES as Readonly<Record<string, string>>,
      sipHost: e.RETELL_SIP_HOST,
      sipTransport: e.SIP_TRANSPORT,
      timeoutMs: e.RETELL_TIMEOUT_MS,
    },
    inboundWebhook: { url: e.INBOUND_WEBHOOK_URL, timeoutMs: e.INBOUND_WEBHOOK_TIMEOUT_MS },
    transfer: { destinations: e.TRANSFER_DESTINATIONS as Readonly<Record<string, string>>, allowlist: e.TRANSFER_ALLOWLIST as readonly string[] },
    fallback: { number: e.FALLBACK_NUMBER, message: e.FALLBACK_MESSAGE },
    warmTransfer: { ringTimeoutS: e.WARM_TRANSFER_RING_TIMEOUT_S, acceptDigit: e.WARM_TRANSFER_ACCEPT_DIGIT, holdMessage: e.WARM_TRANSFER_HOLD_MESSAGE },
    worker: { concurrency: e.WORKER_CONCURRENCY, metricsPort: e.WORKER_METRICS_PORT },
    ops: { metricsToken: e.METRICS_TOKEN, adminPassword: e.ADMIN_PASSWORD },
    outbound: {
      apiToken: e.API_TOKEN,
      fromNumber: e.OUTBOUND_FROM_NUMBER,
      allowlist: e.OUTBOUND_ALLOWLIST as readonly string[],
      webhookUrl: e.OUTBOUND_WEBHOOK_URL,
      cps: e.TWILIO_CPS,
      reservedConcurrency: e.OUTBOUND_RESERVED_CONCURRENCY,
    },
  };
}
