/**
 * The sandbox: `npm run dev` without Twilio or Retell settings. It runs the real web and worker
 * against local stand-ins for the Twilio REST API and the Retell API (the same fakes the tests use),
 * with made-up credentials, so a whole call can be played on one machine with `npm run simulate`.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { envSchema, loadConfig, REDIS_SETTINGS, type Config } from '../config';
import { withTimeout } from '../http/timeout';
import { createLogger, type Logger } from '../observability/logger';
import { startTracing, stopTracing } from '../observability/tracing';
import { displayUrl } from '../observability/redact';
import { removeSession, writeSession, type SandboxSession } from '../tools/sandbox-session';
import { startWeb, type RunningWeb } from '../web/start';
import { startWorker, type RunningWorker } from '../worker/start';
import { FakeRetell } from './fake-retell';
import { FakeTwilioApi } from './fake-twilio';
import { ensureRedis, type LocalRedis } from './local-redis';
import { describeEvent } from '../features/events';
import { SandboxEventReceiver } from './event-receiver';
import { SampleLookupHook } from './sample-lookup-hook';
import { SANDBOX_PERSON, sandboxCallee } from './callee-rule';

/** The number the sandbox's Twilio account owns, and a caller, as in the commands the banner prints. */
export const SANDBOX_NUMBER = '+14155550100';
export const SANDBOX_CALLER = '+14155550199';
/** Whom the banner's `npm run call` example dials. */
export const SANDBOX_OUTBOUND_CALLEE = '+14155550123';

/**
 * A campaign of examples/leads.csv whose retries show within a minute: no window (open now), a retry 10 s
 * after no answer, busy or a voicemail. The callee's answer depends on the number's last digit (callee-rule.ts).
 */
export const SANDBOX_CAMPAIGN = 'npm run campaign -- create --csv examples/leads.csv --retry no_answer,busy,voicemail --max-attempts 2 --retry-delay 10s';

/** Transfer destinations unless the user's settings name their own. */
const DEFAULT_DESTINATIONS = { sales: '+14155550101', support: '+14155550102' };

/** Texts the agent can send (send_sms) unless the user's settings name their own. */
const DEFAULT_TEMPLATES = {
  booking_link: 'Hi {{name}}, book your visit here: https://example.com/book',
  directions: 'We are at 1 Main St, Springfield. Reply STOP to stop these texts.',
};

export interface StartSandboxOptions {
  /** The user's settings (environment and .env). Account settings are not expected; URLs for Twilio and Retell are replaced. */
  env: Record<string, string | undefined>;
  /** Where the session file goes, for the tools. @defaultValue the working directory */
  dir?: string;
  /** Where the banner goes. @defaultValue stderr */
  print?: (text: string) => void;
  /** @defaultValue a pino logger at the configured level, on stdout */
  logger?: Logger;
  /**
   * A JSON file of callers' numbers to `call_inbound` answers (see SampleLookupHook): when given, a local
   * lookup hook answers from it and INBOUND_WEBHOOK_URL points there.
   */
  lookupFile?: string;
}

export interface RunningSandbox {
  config: Config;
  web: RunningWeb;
  worker: RunningWorker;
  twilio: FakeTwilioApi;
  retell: FakeRetell;
  redis: LocalRedis;
  /** The local lookup hook, when started with `lookupFile`. */
  hook?: SampleLookupHook;
  /** The local receiver of events, unless the user's settings name their own EVENTS_WEBHOOK_URL. */
  events?: SandboxEventReceiver;
  close(): Promise<void>;
}

/** Something a person can act on: the port is taken, or there is no Redis. */
export class SandboxStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxStartError';
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** The settings the sandbox runs with: the user's own where they make sense, the sandbox's for the accounts. */
function sandboxEnv(
  user: Record<string, string | undefined>,
  local: { port: number; redisUrl: string; twilio: FakeTwilioApi; retell: FakeRetell; hook?: SampleLookupHook; events?: SandboxEventReceiver },
) {
  // Redis is the one found or started for the session, named by REDIS_URL alone.
  const redis = new Set<string>(REDIS_SETTINGS.filter((k) => k !== 'REDIS_PREFIX'));
  const known = new Set(Object.keys(envSchema.shape).filter((k) => !redis.has(k)));
  const mine = Object.fromEntries(Object.entries(user).filter((e): e is [string, string] => known.has(e[0]) && e[1] !== undefined && e[1].trim() !== ''));
  return {
    TRANSFER_DESTINATIONS: JSON.stringify(DEFAULT_DESTINATIONS),
    SMS_TEMPLATES: JSON.stringify(DEFAULT_TEMPLATES),
    // Outbound calls on, from the sandbox's number, so `npm run call` works too (the tools read the token
    // from the session file).
    API_TOKEN: randomBytes(16).toString('hex'),
    OUTBOUND_FROM_NUMBER: SANDBOX_NUMBER,
    // The console and Bull Board on, behind a password made for the session (the banner prints it).
    ADMIN_PASSWORD: generatedAdminPassword(),
    ...mine,
    ...(local.hook ? { INBOUND_WEBHOOK_URL: local.hook.url } : {}),
    ...(local.events ? { EVENTS_WEBHOOK_URL: local.events.url, EVENTS_WEBHOOK_SECRET: local.events.secret } : {}),
    NODE_ENV: 'development',
    PORT: String(local.port),
    PUBLIC_URL: `http://127.0.0.1:${local.port}`,
    REDIS_URL: local.redisUrl,
    // Its own keys, so a sandbox can share a Redis with a deployment and never touch the deployment's:
    // the user's REDIS_PREFIX counts only when it starts with "sandbox" (say sandbox-2 for a second
    // sandbox, or for a test run beside one, whose worker would otherwise take the other's jobs).
    REDIS_PREFIX: mine.REDIS_PREFIX?.startsWith('sandbox') ? mine.REDIS_PREFIX : 'sandbox',
    TWILIO_ACCOUNT_SID: local.twilio.accountSid,
    TWILIO_AUTH_TOKEN: local.twilio.authToken,
    TWILIO_API_BASE_URL: local.twilio.url,
    RETELL_API_KEY: local.retell.apiKey,
    RETELL_BASE_URL: local.retell.url,
    RETELL_AGENT_ID: 'agent_sandbox',
  };
}

/** A password for the admin pages of one `npm run dev` session. */
export function generatedAdminPassword(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * The banner's lines for the operator's pages: the console and Bull Board with the password (unless it is
 * the user's own ADMIN_PASSWORD, which is not echoed), and /metrics.
 */
export function operatorLines(baseUrl: string, config: Pick<Config, 'ops'>, passwordIsGenerated: boolean): string[] {
  const password = config.ops.adminPassword;
  const login = password ? (passwordIsGenerated ? `(any user name, password ${password})` : '(any user name, your ADMIN_PASSWORD)') : '';
  return [
    ...(password
      ? [`  console                ${baseUrl}/admin   ${login}`, `  Bull Board             ${baseUrl}/admin/queues`]
      : ['  console                off (ADMIN_PASSWORD is empty)']),
    `  metrics                ${baseUrl}/metrics${config.ops.metricsToken ? '   (Authorization: Bearer <your METRICS_TOKEN>)' : ''}`,
  ];
}

function banner(config: Config, s: { twilio: FakeTwilioApi; retell: FakeRetell; redis: LocalRedis; hook?: SampleLookupHook; events?: SandboxEventReceiver; userPassword: boolean }): string {
  const simulate = `npm run simulate -- --from ${SANDBOX_CALLER} --to ${SANDBOX_NUMBER}`;
  const destinations = Object.keys(config.transfer.destinations);
  const [template] = Object.values(config.sms.templates);
  const lines = [
    'SANDBOX: no Twilio or Retell settings were found, so this runs on local stand-ins, and no real call is made.',
    '',
    `  bridge (web + worker)  ${config.publicUrl}`,
    `  local Twilio REST API  ${s.twilio.url}   (number ${SANDBOX_NUMBER})`,
    `  local Retell API       ${s.retell.url}   (agent ${config.retell.defaultAgentId})`,
    `  Redis                  ${displayUrl(config.redis.url)}${s.redis.started ? ' (redis-server started for this session)' : ''}, keys under "${config.redis.prefix}:"`,
    `  transfer destinations  ${destinations.length ? destinations.join(', ') : '(none: set TRANSFER_DESTINATIONS)'}`,
    ...(s.hook ? [`  lookup hook            ${s.hook.url}   (answers from ${s.hook.file})`] : []),
    ...(s.events
      ? [`  events receiver        ${s.events.url}   (EVENTS_WEBHOOK_URL: each event is printed below as it arrives, "event …")`]
      : config.events.webhookUrl
        ? [`  events                 to ${displayUrl(config.events.webhookUrl)} (your EVENTS_WEBHOOK_URL)`]
        : []),
    ...operatorLines(config.publicUrl, config, !s.userPassword),
    '',
    'Try, in another terminal:',
    `  ${simulate} --function transfer_call --destination ${destinations[0] ?? 'sales'}`,
    `  ${simulate} --function end_call`,
    `  ${simulate} --function warm_transfer --destination ${destinations[0] ?? 'sales'}`,
    `  ${simulate} --function send_sms ${template ? `--template ${template.name}${template.variables.map((v) => ` --var ${v}=Dana`).join('')}` : '--template <a SMS_TEMPLATES name>'}`,
    `  ${simulate} --function pause_recording --hang-up   (with RECORDING=dual npm run dev: the call is recorded)`,
    '  npm run inspect -- <the CallSid simulate printed, or the out_… id npm run call printed>',
    `  npm run call -- --to ${SANDBOX_OUTBOUND_CALLEE} --var customer_name=Dana --wait`,
    `  ${SANDBOX_CAMPAIGN}   (then: npm run campaign -- status <id> --watch)`,
    ...(s.hook ? ['  (each simulated call asks the lookup hook first; edit the file to change its answers)'] : ['  (a per-caller lookup hook: npm run dev -- --lookup examples/lookup-hook.json)']),
    '',
    'For real calls, copy .env.example to .env, fill in your Twilio and Retell settings and run npm run dev again.',
  ];
  const width = Math.max(...lines.map((l) => l.length));
  const rule = '='.repeat(Math.min(width, 120));
  return [rule, ...lines, rule].join('\n');
}

/** Starts Redis (if needed), the local APIs, the web and the worker; prints the banner. */
export async function startSandbox(opts: StartSandboxOptions): Promise<RunningSandbox> {
  const print = opts.print ?? ((text: string) => void process.stderr.write(`${text}\n`));
  const port = Number(opts.env.PORT || 3000);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SandboxStartError(`PORT must be a port number (got "${opts.env.PORT}")`);
  if (!(await portFree(port))) {
    throw new SandboxStartError(`Port ${port} on 127.0.0.1 is in use (another npm run dev?). Stop what uses it, or pick another port: PORT=3001 npm run dev`);
  }

  const redis = await ensureRedis(opts.env.REDIS_URL || 'redis://127.0.0.1:6379').catch((err: Error) => {
    throw new SandboxStartError(err.message);
  });
  const twilio = await new FakeTwilioApi(`AC${randomBytes(16).toString('hex')}`, randomBytes(16).toString('hex')).start();
  // The person an outbound call (or a warm transfer) reaches picks up, presses 1 when asked to take a
  // warm transfer, talks for a while, and hangs up; numbers ending in 6-9 do not answer, are busy or are
  // answering machines (callee-rule.ts), so a campaign shows every outcome.
  twilio.callee.defaultScript = SANDBOX_PERSON;
  twilio.callee.scriptRule = sandboxCallee;
  const retell = await new FakeRetell(`key_sandbox_${randomBytes(12).toString('hex')}`).start();
  let hook: SampleLookupHook | undefined;
  // The user's backend, as far as events go: unless their settings name their own, a local receiver
  // checks each delivery's signature and prints it.
  const events = opts.env.EVENTS_WEBHOOK_URL?.trim()
    ? undefined
    : await new SandboxEventReceiver((e) => print(`event ${describeEvent(e)}${e.verified ? '' : '   ✗ signature did not verify'}`)).start();
  const stopLocal = async () => {
    await Promise.all([twilio.stop(), retell.stop(), hook?.stop(), events?.stop()]);
    await redis.stop();
  };

  let config: Config;
  let env: ReturnType<typeof sandboxEnv>;
  try {
    if (opts.lookupFile) {
      hook = await new SampleLookupHook(retell.apiKey, path.resolve(opts.lookupFile), (l) =>
        print(`lookup hook: ${l.from ?? '(no number)'} → ${l.status} ${JSON.stringify(l.answer)}`),
      )
        .start()
        .catch((err: Error) => {
          throw new SandboxStartError(`--lookup ${opts.lookupFile}: ${err.message}`);
        });
    }
    env = sandboxEnv(opts.env, { port, redisUrl: redis.url, twilio, retell, hook, events });
    config = loadConfig(env);
  } catch (err) {
    await stopLocal();
    throw err;
  }
  twilio.addNumber(SANDBOX_NUMBER, {
    voiceUrl: `${config.publicUrl}/twilio/voice`,
    voiceFallbackUrl: `${config.publicUrl}/twilio/voice`,
    statusCallback: `${config.publicUrl}/twilio/status`,
  });

  const logger = opts.logger ?? createLogger(config.logLevel);
  // With OTEL_EXPORTER_OTLP_ENDPOINT set (a local Jaeger, say), the sandbox's calls are traced too.
  if (startTracing(config.tracing, 'dev')) logger.info({ endpoint: new URL(config.tracing!.url).origin }, 'tracing on');
  const worker = startWorker({ config, logger: logger.child({ process: 'worker' }) });
  const web = await startWeb({ config, logger: logger.child({ process: 'web' }), port, host: '127.0.0.1' });

  const dir = opts.dir ?? process.cwd();
  const session: SandboxSession = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    env,
    bridgeUrl: config.publicUrl,
    twilioUrl: twilio.url,
    retellUrl: retell.url,
  };
  writeSession(session, dir);
  // Printed once the connections have logged that they are up, so the banner is what stays on screen.
  await withTimeout(web.container.redis.status === 'ready' ? Promise.resolve() : new Promise((resolve) => web.container.redis.once('ready', resolve)), 5000).catch(() => undefined);
  print(banner(config, { twilio, retell, redis, hook, events, userPassword: Boolean(opts.env.ADMIN_PASSWORD?.trim()) }));

  return {
    config,
    web,
    worker,
    twilio,
    retell,
    redis,
    hook,
    events,
    async close() {
      removeSession(process.pid, dir);
      await web.close();
      await worker.close(5000);
      await stopTracing(2000);
      await stopLocal();
    },
  };
}
