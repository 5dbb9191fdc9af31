/**
 * The only reader of the environment. Every setting is validated once, at start-up, into a typed
 * object; a bad setting stops the process with one line naming the variable and the problem.
 */
import { z } from 'zod';
import { ACCOUNT_SID, E164, isXmlSafe } from './formats';

const e164 = z.string().regex(E164, 'must be an E.164 number such as +14155550100');
const sipUri = z.string().regex(/^sips?:[^\s@]+@[^\s]+$/i, 'must be a SIP URI such as sip:desk@pbx.example.com');

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

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development').describe('Runtime mode; production makes PUBLIC_URL required'),
  PORT: z.coerce.number({ error: 'must be a port number' }).int().min(1).max(65535).default(3000).describe('HTTP port'),
  REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .default('redis://127.0.0.1:6379')
    .describe('Redis for dedupe, call records and the job queue'),
  REDIS_CLUSTER_NODES: hostPortList('10.0.0.5:6379,10.0.0.6:6379')
    .describe('Comma-separated host:port of Redis Cluster nodes (any reachable subset): use Redis Cluster instead of REDIS_URL'),
  REDIS_SENTINELS: hostPortList('10.0.0.5:26379,10.0.0.6:26379')
    .describe('Comma-separated host:port of Redis Sentinels: use the master they name (REDIS_SENTINEL_NAME) instead of REDIS_URL'),
  REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be the master group name from the sentinels\' configuration, such as mymaster')
    .optional()
    .describe('Master group name the sentinels monitor (sentinel monitor <name> ...); required with REDIS_SENTINELS'),
  REDIS_USERNAME: z
    .string()
    .optional()
    .describe('ACL user for the Cluster nodes, or for the Sentinel-managed master and replicas (default: the default user)'),
  REDIS_PASSWORD: z
    .string()
    .optional()
    .describe('Password for the Cluster nodes, or for the Sentinel-managed master and replicas; with REDIS_URL it goes in the URL'),
  REDIS_SENTINEL_PASSWORD: z.string().optional().describe('Password of the sentinels themselves (requirepass in sentinel.conf), if they have one'),
  REDIS_TLS: trueFalse
    .optional()
    .describe('true: TLS to the Cluster nodes, or to the sentinels and the master they name (default false); with REDIS_URL use rediss://'),
  REDIS_TLS_REJECT_UNAUTHORIZED: trueFalse
    .default(true)
    .describe('Verify the Redis server certificate on rediss:// URLs and with REDIS_TLS; Heroku Redis needs false (self-signed)'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,32}$/, 'must be 1-32 letters, digits, dots, dashes or underscores')
    .default('bridge')
    .describe('Prefix of every Redis key the bridge writes, so several deployments can share one Redis'),
  PUBLIC_URL: httpUrl.optional().describe('Public origin Twilio calls; signatures are checked against it'),
  TWILIO_ACCOUNT_SID: z
    .string({ error: 'is required' })
    .regex(ACCOUNT_SID, 'must look like AC followed by 32 hex digits')
    .describe('Twilio account whose webhooks are accepted and whose REST API performs actions'),
  TWILIO_AUTH_TOKEN: z
    .string({ error: 'is required' })
    .min(16, 'looks too short to be a Twilio auth token')
    .describe('Verifies X-Twilio-Signature and authenticates REST requests'),
  TWILIO_API_BASE_URL: httpUrl.default('https://api.twilio.com').describe('Where the Twilio REST API is'),
  RETELL_API_KEY: z
    .string({ error: 'is required' })
    .min(8, 'looks too short to be a Retell API key')
    .describe('Registers calls and verifies X-Retell-Signature (the key with the webhook badge)'),
  RETELL_BASE_URL: httpUrl.default('https://api.retellai.com').describe('Where the Retell API is'),
  RETELL_AGENT_ID: z.string().min(1).optional().describe('Agent for numbers not in AGENT_ROUTES'),
  AGENT_ROUTES: jsonObject(
    z.record(e164, z.string().min(1, 'agent ids must not be empty'), { error: 'must map E.164 numbers to agent ids' }),
    '{"+14155550100":"agent_abc"}',
  ).describe('Called number (E.164) -> Retell agent id'),
  RETELL_SIP_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d+)?$/, 'must be a host name such as sip.retellai.com')
    .default('sip.retellai.com')
    .describe('Host in the SIP URI dialed for each registered call'),
  SIP_TRANSPORT: z.enum(['tcp', 'udp', 'tls']).default('tcp').describe('Appended to the SIP URI as ;transport='),
  RETELL_TIMEOUT_MS: z.coerce
    .number({ error: 'must be a number of milliseconds' })
    .int()
    .min(200)
    .max(8000, 'must be at most 8000 so the answer fits in Twilio\'s 15 s webhook budget')
    .default(4000)
    .describe('Per-request timeout for registering a call with Retell'),
  INBOUND_WEBHOOK_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .optional()
    .describe('Lookup hook asked for the agent and dynamic variables before each new inbound call is registered (Retell\'s inbound-webhook contract); off when unset'),
  INBOUND_WEBHOOK_TIMEOUT_MS: z.coerce
    .number({ error: 'must be a number of milliseconds' })
    .int()
    .min(100, 'must be at least 100')
    .default(2500)
    .describe('How long the lookup hook may take before the call goes to the agent the bridge would have used'),
  TRANSFER_DESTINATIONS: jsonObject(
    z.record(
      z.string().regex(/^[A-Za-z0-9_ .-]{1,64}$/, 'names must be 1-64 letters, digits, spaces, dots, dashes or underscores'),
      z.union([e164, sipUri], { error: 'values must be E.164 numbers or SIP URIs' }),
    ),
    '{"sales":"+14155550101","support":"sip:desk@pbx.example.com"}',
  ).describe('Destination name -> E.164 number or SIP URI'),
  TRANSFER_ALLOWLIST: allowlist.describe('E.164 numbers or prefixes ending in * that an agent may name directly'),
  FALLBACK_NUMBER: z
    .union([z.literal('').transform(() => undefined), e164])
    .optional()
    .describe('When Retell cannot take the call, dial this number instead'),
  FALLBACK_MESSAGE: z
    .string()
    .min(1)
    .max(1000)
    .default("We're sorry, our assistant can't take your call right now. Please try again later.")
    .refine(isXmlSafe, 'must not contain control characters or other characters XML cannot carry')
    .describe('Said before hanging up when Retell cannot take the call and there is no FALLBACK_NUMBER'),
  WORKER_CONCURRENCY: z.coerce.number({ error: 'must be a whole number' }).int().min(1).max(200).default(10).describe('Jobs one worker process runs at once'),
  WORKER_METRICS_PORT: z.coerce
    .number({ error: 'must be a port number' })
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe('If set, the worker serves /metrics and /healthz on this port'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level'),
  API_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters; generate one with: openssl rand -hex 32')
    .max(256, 'must be at most 256 characters')
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional()
    .describe('Bearer token of POST/GET/DELETE /calls (outbound calls); those endpoints answer 404 while it is unset'),
  OUTBOUND_FROM_NUMBER: e164.optional().describe('Caller ID of outbound calls that do not name a from number (a number of the Twilio account)'),
  OUTBOUND_ALLOWLIST: allowlist.describe('E.164 numbers or prefixes ending in * that outbound calls may dial; empty allows any number'),
  OUTBOUND_WEBHOOK_URL: httpUrl
    .optional()
    .describe('Receives each outbound call\'s status changes and outcome as signed JSON (X-Bridge-Signature, keyed with API_TOKEN)'),
  TWILIO_CPS: z.coerce
    .number({ error: 'must be a whole number of calls per second' })
    .int()
    .min(1)
    .max(1000)
    .default(1)
    .describe('Outbound calls placed per second across all workers; Twilio accounts allow 1 unless raised'),
  OUTBOUND_RESERVED_CONCURRENCY: z.coerce
    .number({ error: 'must be a whole number' })
    .int()
    .min(0)
    .max(10_000)
    .default(1)
    .describe('Retell concurrency kept free for inbound calls: outbound calls wait while fewer slots than this would be left'),
});

/**
 * Of Twilio's 15 s for answering a voice webhook, what the bridge allows itself; the rest covers the
 * network both ways and Twilio's own handling.
 */
export const ANSWER_BUDGET_MS = 13_000;

/** Kept back inside the answer budget for Redis round trips and building the TwiML. */
const ANSWER_RESERVE_MS = 1_000;

export type Env = z.input<typeof envSchema>;

export type EnvValues = z.output<typeof envSchema>;

/** The settings, grouped by what uses them. */
export type Config = ReturnType<typeof toConfig>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates `env` (process.env by default) and returns the typed configuration, or throws ConfigError. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings count as unset, as they do on most platforms' settings pages.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'configuration');
      const detail = issue.path.length > 1 ? ` (at ${issue.path.slice(1).join('.')})` : '';
      const message = cleaned[name] === undefined && issue.code === 'invalid_type' ? 'is required' : issue.message;
      return `${name}${detail} ${message}`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  if (!e.PUBLIC_URL && e.NODE_ENV === 'production') {
    throw new ConfigError('Invalid configuration: PUBLIC_URL is required when NODE_ENV=production (e.g. https://bridge.example.com)');
  }
  const redisProblem = redisTopologyProblem(e, cleaned.REDIS_URL !== undefined);
  if (redisProblem) throw new ConfigError(`Invalid configuration: ${redisProblem}`);
  if (e.OUTBOUND_WEBHOOK_URL && !e.API_TOKEN) {
    throw new ConfigError('Invalid configuration: OUTBOUND_WEBHOOK_URL needs API_TOKEN, which turns outbound calls on and signs the webhook');
  }
  if (!e.RETELL_AGENT_ID && Object.keys(e.AGENT_ROUTES).length === 0) {
    throw new ConfigError('Invalid configuration: RETELL_AGENT_ID is required unless AGENT_ROUTES routes numbers to agents');
  }
  const problem = plainHttpProblem(e) ?? lookupHookBudgetProblem(e);
  if (problem) throw new ConfigError(`Invalid configuration: ${problem}`);
  return toConfig(e);
}

/**
 * One Redis topology at a time: REDIS_URL (the default), REDIS_CLUSTER_NODES or REDIS_SENTINELS, and the
 * credential settings only where they apply (a URL carries its own).
 */
function redisTopologyProblem(e: EnvValues, urlGiven: boolean): string | undefined {
  const cluster = e.REDIS_CLUSTER_NODES !== undefined;
  const sentinel = e.REDIS_SENTINELS !== undefined;
  if (cluster && sentinel) return 'REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: keep the one your Redis is';
  if ((cluster || sentinel) && urlGiven) {
    return `REDIS_URL and ${cluster ? 'REDIS_CLUSTER_NODES' : 'REDIS_SENTINELS'} are both set: remove REDIS_URL (the bridge uses one Redis topology)`;
  }
  if (sentinel && !e.REDIS_SENTINEL_NAME) return 'REDIS_SENTINEL_NAME is required with REDIS_SENTINELS (the name in "sentinel monitor <name> ...", e.g. mymaster)';
  if (!sentinel && e.REDIS_SENTINEL_NAME) return 'REDIS_SENTINEL_NAME is set without REDIS_SENTINELS: add the sentinels\' host:port list';
  if (!sentinel && e.REDIS_SENTINEL_PASSWORD !== undefined) return 'REDIS_SENTINEL_PASSWORD applies only with REDIS_SENTINELS';
  if (!cluster && !sentinel) {
    const stray = (['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'] as const).find((k) => e[k] !== undefined);
    if (stray) return `${stray} applies only with REDIS_CLUSTER_NODES or REDIS_SENTINELS; with REDIS_URL put it in the URL (rediss://user:password@host:port)`;
  }
  return undefined;
}

/** Phone numbers and call details go to the user's hooks: in production only over TLS. */
function plainHttpProblem(e: EnvValues): string | undefined {
  if (e.NODE_ENV !== 'production') return undefined;
  const hooks: Array<[string, string | undefined, string]> = [
    ['INBOUND_WEBHOOK_URL', e.INBOUND_WEBHOOK_URL, "it receives callers' numbers"],
    ['OUTBOUND_WEBHOOK_URL', e.OUTBOUND_WEBHOOK_URL, 'it receives the numbers called and the calls\' outcomes'],
  ];
  for (const [name, url, why] of hooks) {
    if (url && new URL(url).protocol !== 'https:') return `${name} must be an https URL when NODE_ENV=production (${why})`;
  }
  return undefined;
}

/** The hook runs before the registration, so together they must fit the answer budget. */
function lookupHookBudgetProblem(e: EnvValues): string | undefined {
  const limit = ANSWER_BUDGET_MS - ANSWER_RESERVE_MS;
  if (!e.INBOUND_WEBHOOK_URL || e.INBOUND_WEBHOOK_TIMEOUT_MS + e.RETELL_TIMEOUT_MS <= limit) return undefined;
  return (
    `INBOUND_WEBHOOK_TIMEOUT_MS must be at most ${limit - e.RETELL_TIMEOUT_MS} with RETELL_TIMEOUT_MS=${e.RETELL_TIMEOUT_MS}: ` +
    `the two together may take at most ${limit} ms, so the registration keeps its full time inside Twilio's 15 s webhook budget`
  );
}

function toConfig(e: EnvValues) {
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    publicUrl: e.PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    logLevel: e.LOG_LEVEL,
    redis: {
      url: e.REDIS_URL,
      cluster: e.REDIS_CLUSTER_NODES,
      sentinel: e.REDIS_SENTINELS ? { nodes: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME ?? '', password: e.REDIS_SENTINEL_PASSWORD } : undefined,
      username: e.REDIS_USERNAME,
      password: e.REDIS_PASSWORD,
      tls: e.REDIS_TLS ?? false,
      prefix: e.REDIS_PREFIX,
      tlsRejectUnauthorized: e.REDIS_TLS_REJECT_UNAUTHORIZED,
    },
    twilio: { accountSid: e.TWILIO_ACCOUNT_SID, authToken: e.TWILIO_AUTH_TOKEN, apiBaseUrl: e.TWILIO_API_BASE_URL },
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
    worker: { concurrency: e.WORKER_CONCURRENCY, metricsPort: e.WORKER_METRICS_PORT },
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
