/**
 * `npm run simulate -- --from +1… --to +1…`: plays the requests Twilio and Retell would send against a
 * running bridge, signed with this configuration's secrets, and prints every answer. A deployment whose
 * secrets or PUBLIC_URL do not match the ones here answers 403 or 401 instead of 200.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ParseArgsOptionsConfig } from 'node:util';
import { sign } from 'retell-sdk';
import { getExpectedTwilioSignature } from 'twilio';
import { parseSettings, publicUrlOf, REDIS_SETTINGS, redisOf, twilioOf, type Config } from '../config';
import { CALL_SID, E164 } from '../formats';
import { joinJobId } from '../features/warm-transfer';
import { createCallActionQueue } from '../jobs/queues';
import { CallRepository } from '../calls/repository';
import { describeRedis, newRedisClient } from '../redis/connection';
import { LookupHook, routedAgent } from '../features/inbound';
import { CallReports, type JobReport } from '../features/console';
import { describeEvent, EventStore, type EventType, type StoredEvent } from '../features/events';
import {
  displayUrl,
  EXIT_FAILED,
  EXIT_OK,
  type Output,
  runAsProcess,
  toolRunner,
  UsageError,
  redisSecrets,
  parseToolArgs,
} from './cli';
import { liveSession } from './sandbox-session';

export const SIMULATE_USAGE = `Usage: npm run simulate -- --from <number> --to <number> [options]

Plays a call against a running bridge and prints each answer (HTTP status, time taken, body):
  1. GET  {url}/readyz                 the bridge is up and reaches Redis
     POST INBOUND_WEBHOOK_URL          when set: the lookup hook, asked here as the bridge asks it
                                       (signed with RETELL_API_KEY), and what the bridge will make of
                                       its answer; the bridge then asks it once more for the call
  2. POST {url}/twilio/voice           the voice webhook Twilio sends when the call comes in, signed
                                       with TWILIO_AUTH_TOKEN (sent --repeat times; every answer must
                                       be the same)
     POST {url}/twilio/recording/consent
                                       when the answer asks the caller's consent to record: the caller's
                                       answer (--consent), as Twilio posts it
  3. POST {url}/retell/functions/<fn>  with --function: the custom function call Retell sends during the
                                       call, signed with RETELL_API_KEY, for the call_id in the TwiML

Secrets, PUBLIC_URL and TWILIO_ACCOUNT_SID come from the same settings the bridge reads (environment
variables, or a .env file in the working directory). Use the deployment's values: a 403 means the Twilio
signature did not match (auth token or PUBLIC_URL differ), a 401 that the Retell key differs.

The Twilio signature always covers {PUBLIC_URL}/twilio/voice, because that is the URL the bridge checks
it against, even when --url sends the request elsewhere (a tunnel, or localhost in front of the same
deployment). Leave --url out to test PUBLIC_URL itself.

Options:
  --from <number>         caller, E.164 (or a withheld caller ID such as Anonymous)       required
  --to <number>           the called Twilio number, E.164; picks the agent (AGENT_ROUTES)  required
  --url <url>             where the bridge is (default: PUBLIC_URL)
  --call-sid <sid>        CallSid to use (default: a random CA… sid)
  --repeat <n>            send the voice webhook n times, 1-20 (default 1)
  --function <name>       then call transfer_call, end_call, warm_transfer, send_sms, pause_recording,
                          resume_recording or do_not_call for this call
  --destination <name>    transfer_call's or warm_transfer's destination: a TRANSFER_DESTINATIONS name or
                          an allowed number
  --caller-id <who>       transfer_call's caller ID: caller or business
  --summary <text>        warm_transfer's summary for the person (default: a sentence saying it is a test)
  --template <name>       send_sms's template: a SMS_TEMPLATES name
  --var <name=value>      send_sms's variables, one --var each
  --sms-to <number>       send_sms's number (default: the caller)
  --consent <answer>      when the bridge asks the caller's consent to record (RECORDING_CONSENT=ask): the
                          key pressed (1 allows), words said ("yes please"), or none (default 1)
  --hang-up               in the sandbox: the caller hangs up at the end; a recorded call's recording
                          then completes, and the tool waits for it and prints it
  -h, --help              this text

Against a real deployment this registers a real Retell call, which expires unanswered after about five
minutes. A function call is queued as for a live call; the worker then finds no such call at Twilio and
gives up, which is expected for a simulated call.

In the sandbox (npm run dev without Twilio or Retell settings, running from this directory), the tool
uses the sandbox's settings and shows the rest of the path too: the call arriving at the local Twilio,
the registration the bridge sent to the local Retell, and, with --function, the job and the REST
request the worker sent to the local Twilio. A warm_transfer rings the sandbox's person, who presses 1:
the tool then follows the join job too, and the redirect of the call into the conference. The local
Twilio runs the bridge's answer on the call: a recorded call's recording starts there, and with
--hang-up it completes a few seconds after the caller hangs up. Last, it prints the events the bridge
recorded for the call (call.started, and the transfer's) and how each was delivered to the sandbox's
event receiver. It exits 0 only when every step worked.

Exit codes: 0 every answer was 2xx (and repeats identical), 1 otherwise, 2 bad arguments.`;

/**
 * What simulate uses: the public URL, both accounts' secrets, the agent routing and lookup hook (to say
 * what the bridge will do), and Redis to follow a job in the sandbox.
 */
export type SimulateConfig = Pick<Config, 'publicUrl' | 'twilio' | 'redis' | 'lookupHook'> & {
  retell: Pick<Config['retell'], 'apiKey' | 'agentRoutes' | 'defaultAgentId'>;
};

export function simulateSettings(env: Record<string, string | undefined>): SimulateConfig {
  const e = parseSettings(env, [
    'PORT',
    'PUBLIC_URL',
    'RENDER_EXTERNAL_URL',
    'TWILIO_ACCOUNT_SID',
    'TWILIO_AUTH_TOKEN',
    'TWILIO_API_BASE_URL',
    'RETELL_API_KEY',
    'RETELL_AGENT_ID',
    'AGENT_ROUTES',
    'INBOUND_WEBHOOK_URL',
    'INBOUND_WEBHOOK_TIMEOUT_MS',
    ...REDIS_SETTINGS,
  ]);
  return {
    ...publicUrlOf(e),
    twilio: twilioOf(e),
    retell: { apiKey: e.RETELL_API_KEY, agentRoutes: e.AGENT_ROUTES as Readonly<Record<string, string>>, defaultAgentId: e.RETELL_AGENT_ID },
    lookupHook: { url: e.INBOUND_WEBHOOK_URL, timeoutMs: e.INBOUND_WEBHOOK_TIMEOUT_MS },
    redis: redisOf(e),
  };
}

/** Where the sandbox's local Twilio and Retell APIs are, and whether it records events (EVENTS_WEBHOOK_URL). */
export interface LocalApis {
  twilioUrl: string;
  retellUrl: string;
  events?: boolean;
}

/** The sandbox's local APIs, when `config` is the settings of the sandbox running from this directory. */
export function sandboxApis(config: SimulateConfig): LocalApis | undefined {
  const session = liveSession();
  if (!session || session.twilioUrl !== config.twilio.apiBaseUrl) return undefined;
  return { twilioUrl: session.twilioUrl, retellUrl: session.retellUrl, events: Boolean(session.env.EVENTS_WEBHOOK_URL) };
}

const FUNCTIONS = ['transfer_call', 'end_call', 'warm_transfer', 'send_sms', 'pause_recording', 'resume_recording', 'do_not_call'] as const;

const DEFAULT_SUMMARY = 'This is a test call from npm run simulate.';
type FunctionName = (typeof FUNCTIONS)[number];

export interface SimulateOptions {
  url?: string;
  from: string;
  to: string;
  callSid: string;
  repeat: number;
  fn?: FunctionName;
  destination?: string;
  callerId?: 'caller' | 'business';
  summary?: string;
  /** send_sms */
  template?: string;
  variables?: Record<string, string>;
  smsTo?: string;
  /** The caller's answer to a consent question: digits, words, or '' for none. @defaultValue '1' */
  consent: string;
  hangUp: boolean;
}

const WITHHELD = /^[A-Za-z][A-Za-z ]{0,31}$/;

export function randomCallSid(): string {
  return `CA${randomBytes(16).toString('hex')}`;
}

/** The command line's options, for parseArgs. */
const SIMULATE_OPTIONS = {
  url: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'call-sid': { type: 'string' },
  repeat: { type: 'string' },
  function: { type: 'string' },
  destination: { type: 'string' },
  'caller-id': { type: 'string' },
  summary: { type: 'string' },
  template: { type: 'string' },
  var: { type: 'string', multiple: true },
  'sms-to': { type: 'string' },
  consent: { type: 'string' },
  'hang-up': { type: 'boolean', default: false },
} as const satisfies ParseArgsOptionsConfig;

/** Parses the command line; `help` when usage was asked for. Throws UsageError for anything else wrong. */
export function parseSimulateArgs(argv: readonly string[]): SimulateOptions | 'help' {
  const parsed = parseToolArgs(argv, SIMULATE_OPTIONS);
  const v = parsed.values;
  if (v.help) return 'help';

  if (!v.from) throw new UsageError('--from is required: the caller\'s number, e.g. --from +14155550199');
  if (!v.to) throw new UsageError('--to is required: your Twilio number that was called, e.g. --to +14155550100');
  if (!E164.test(v.from) && !WITHHELD.test(v.from)) {
    throw new UsageError(`--from "${v.from}" is neither an E.164 number (+ and country code, no spaces, e.g. +14155550199) nor a withheld caller ID such as Anonymous`);
  }
  if (!E164.test(v.to)) throw new UsageError(`--to "${v.to}" is not an E.164 number: write + and the country code, no spaces, e.g. +14155550100`);

  let url: string | undefined;
  if (v.url !== undefined) {
    let parsedUrl: URL;
    try {
      parsedUrl = new URL(v.url);
    } catch {
      throw new UsageError(`--url "${v.url}" is not a URL; give the bridge's origin, e.g. https://my-bridge.onrender.com`);
    }
    if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') throw new UsageError('--url must be an http or https URL');
    url = v.url.replace(/\/+$/, '');
  }

  const callSid = v['call-sid'] ?? randomCallSid();
  if (!CALL_SID.test(callSid)) throw new UsageError(`--call-sid "${callSid}" is not a CallSid: CA followed by 32 hex digits`);

  let repeat = 1;
  if (v.repeat !== undefined) {
    repeat = Number(v.repeat);
    if (!/^\d+$/.test(v.repeat) || repeat < 1 || repeat > 20) throw new UsageError(`--repeat "${v.repeat}" must be a whole number from 1 to 20`);
  }

  let fn: FunctionName | undefined;
  if (v.function !== undefined) {
    if (!FUNCTIONS.includes(v.function as FunctionName)) throw new UsageError(`--function must be ${FUNCTIONS.slice(0, -1).join(', ')} or ${FUNCTIONS.at(-1)} (got "${v.function}")`);
    fn = v.function as FunctionName;
  }
  const transfers = fn === 'transfer_call' || fn === 'warm_transfer';
  if (transfers && !v.destination?.trim()) {
    throw new UsageError(`--function ${fn} needs --destination: a TRANSFER_DESTINATIONS name or an allowed number`);
  }
  if (!transfers && v.destination !== undefined) throw new UsageError('--destination only goes with --function transfer_call or warm_transfer');
  if (fn !== 'warm_transfer' && v.summary !== undefined) throw new UsageError('--summary only goes with --function warm_transfer');
  if (fn !== 'transfer_call' && v['caller-id'] !== undefined) throw new UsageError('--caller-id only goes with --function transfer_call');
  const callerId = v['caller-id'];
  if (callerId !== undefined && callerId !== 'caller' && callerId !== 'business') {
    throw new UsageError(`--caller-id must be caller or business (got "${callerId}")`);
  }

  if (fn === 'send_sms' && !v.template?.trim()) throw new UsageError('--function send_sms needs --template: a SMS_TEMPLATES name');
  if (fn !== 'send_sms' && (v.template !== undefined || v.var !== undefined || v['sms-to'] !== undefined)) {
    throw new UsageError('--template, --var and --sms-to only go with --function send_sms');
  }
  const variables: Record<string, string> = {};
  for (const pair of v.var ?? []) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new UsageError(`--var "${pair}" must be name=value, e.g. --var name=Dana`);
    variables[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const consent = v.consent === undefined ? '1' : v.consent.trim().toLowerCase() === 'none' ? '' : v.consent.trim();

  return {
    url,
    from: v.from,
    to: v.to,
    callSid,
    repeat,
    fn,
    destination: v.destination?.trim(),
    callerId,
    ...(v.summary !== undefined ? { summary: v.summary } : {}),
    ...(fn === 'send_sms' ? { template: v.template!.trim(), variables, ...(v['sms-to'] ? { smsTo: v['sms-to'] } : {}) } : {}),
    consent,
    hangUp: v['hang-up'],
  };
}

interface Answer {
  status: number;
  contentType: string;
  body: string;
  ms: number;
}

const BODY_LIMIT = 4000;
const VOICE_TIMEOUT_MS = 15_000; // Twilio's own budget for a webhook answer
const OTHER_TIMEOUT_MS = 10_000;

/** Sends one request and prints it and its answer; undefined (printed) when nothing answered. */
async function exchange(out: Output, label: string, url: string, init: RequestInit, timeoutMs: number): Promise<Answer | undefined> {
  out.info('');
  out.info(`${label}`);
  out.info(`→ ${init.method ?? 'GET'} ${displayUrl(url)}`);
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
    out.error(`✗ no answer from ${displayUrl(url)}: ${reason}`);
    return undefined;
  }
  const body = await res.text();
  const ms = Math.round(performance.now() - started);
  const contentType = res.headers.get('content-type') ?? '';
  out.info(`← ${res.status} ${res.statusText} in ${ms} ms${contentType ? ` (${contentType.split(';')[0]})` : ''}`);
  const shown = body.length > BODY_LIMIT ? `${body.slice(0, BODY_LIMIT)}… (${body.length} bytes)` : body;
  if (shown) out.info(shown.split('\n').map((line) => `  ${line}`).join('\n'));
  return { status: res.status, contentType, body, ms };
}

const ok = (a: Answer | undefined): a is Answer => a !== undefined && a.status >= 200 && a.status < 300;

/** The Retell call id in the TwiML's `<Sip>sip:<call_id>@host`, if the bridge dialed Retell. */
export function callIdFromTwiml(twiml: string): string | undefined {
  return /<Sip\b[^>]*>\s*sips?:([^@\s<]+)@/i.exec(twiml)?.[1];
}

/**
 * Asks the lookup hook as the bridge would and prints its answer and what the bridge will do with it.
 * Returns whether the hook works, and whether it rejects this caller.
 */
async function lookup(config: SimulateConfig, options: SimulateOptions, url: string, out: Output): Promise<{ ok: boolean; rejects: boolean }> {
  out.info('');
  out.info('Lookup hook (INBOUND_WEBHOOK_URL)');
  out.info(`→ POST ${displayUrl(url)}`);
  const hook = new LookupHook({ url, apiKey: config.retell.apiKey, timeoutMs: config.lookupHook.timeoutMs });
  const agentId = routedAgent(config.retell, options.to);
  let asked;
  try {
    asked = await hook.ask({ callSid: options.callSid, from: options.from, to: options.to, agentId });
  } finally {
    await hook.close();
  }
  if (asked.status !== undefined) {
    out.info(`← ${asked.status} in ${asked.ms} ms`);
    const body = asked.body ?? '';
    if (body) out.info(`  ${body.length > BODY_LIMIT ? `${body.slice(0, BODY_LIMIT)}… (${body.length} bytes)` : body}`);
  }
  if (asked.result === 'rejected') {
    out.info('→ the bridge will reject this caller (<Reject/>) and register nothing');
    return { ok: true, rejects: true };
  }
  if (asked.result === 'ok') {
    const { choice } = asked;
    const agent = choice.agentId ?? agentId ?? '(none)';
    const version = choice.agentVersion !== undefined ? ` version ${choice.agentVersion}` : '';
    const names = (o: object | undefined) => (o && Object.keys(o).length ? Object.keys(o).join(', ') : 'none');
    out.info(`→ the bridge will register the call with agent ${agent}${version}${choice.agentId ? '' : ' (the number\'s own: the hook chose none)'}`);
    out.info(`  dynamic variables from the hook: ${names(choice.dynamicVariables)}; metadata: ${names(choice.metadata)}${choice.agentOverride ? '; with agent_override' : ''}`);
    return { ok: true, rejects: false };
  }
  out.error(`✗ the lookup hook gave no usable answer (${asked.result}: ${asked.reason}); the bridge will use agent ${agentId ?? '(none)'}, as without a hook.`);
  return { ok: false, rejects: false };
}

/**
 * The form Twilio posts to the voice URL when a call comes in. `callToken` only in the sandbox, where
 * the local Twilio issued it: against a real bridge a made-up token would be refused by Twilio.
 */
export function voiceWebhookParams(config: SimulateConfig, options: SimulateOptions, callToken?: string): Record<string, string> {
  return {
    ...(callToken ? { CallToken: callToken } : {}),
    AccountSid: config.twilio.accountSid,
    ApiVersion: '2010-04-01',
    CallSid: options.callSid,
    CallStatus: 'ringing',
    Called: options.to,
    Caller: options.from,
    Direction: 'inbound',
    From: options.from,
    To: options.to,
  };
}

/** The body Retell posts to a custom function URL during the call. */
export function functionCallBody(config: SimulateConfig, options: SimulateOptions, fn: FunctionName, callId: string): Record<string, unknown> {
  const args: Record<string, unknown> =
    fn === 'transfer_call'
      ? { destination: options.destination ?? '', ...(options.callerId ? { caller_id: options.callerId } : {}) }
      : fn === 'warm_transfer'
        ? { destination: options.destination ?? '', summary: options.summary ?? DEFAULT_SUMMARY }
        : fn === 'send_sms'
          ? { template: options.template ?? '', variables: options.variables ?? {}, ...(options.smsTo ? { to: options.smsTo } : {}) }
          : {};
  return {
    name: fn,
    call: {
      call_id: callId,
      call_type: 'phone_call',
      call_status: 'ongoing',
      direction: 'inbound',
      from_number: options.from,
      to_number: options.to,
      metadata: { twilio_call_sid: options.callSid, twilio_account_sid: config.twilio.accountSid },
    },
    args,
  };
}

function hintFor(out: Output, step: 'ready' | 'voice' | 'function', answer: Answer, config: SimulateConfig): void {
  const { status } = answer;
  if (step === 'voice' && status === 403) {
    out.error(
      `  The bridge refused the Twilio signature. It was made with TWILIO_AUTH_TOKEN for ${displayUrl(config.publicUrl)}/twilio/voice; ` +
        'the deployment must have the same TWILIO_AUTH_TOKEN and the same PUBLIC_URL.',
    );
  } else if (step === 'voice' && status === 400 && /AccountSid/.test(answer.body)) {
    out.error('  The deployment serves a different TWILIO_ACCOUNT_SID than the one here.');
  } else if (step === 'function' && status === 401) {
    out.error('  The bridge refused the Retell signature: the deployment\'s RETELL_API_KEY differs from the one here.');
  } else if (step === 'function' && status === 404 && !answer.contentType.includes('json')) {
    out.error('  No such endpoint: is --url a bridge?');
  } else if (step === 'function' && status === 404) {
    out.error('  The bridge does not know this call: did the voice webhook go to the same deployment (and Redis)?');
  } else if (step === 'ready' && status === 503) {
    out.error('  The bridge is up but cannot reach Redis: check REDIS_URL (and REDIS_TLS_REJECT_UNAUTHORIZED on Heroku).');
  } else if (status === 404 && !answer.contentType.includes('json')) {
    out.error('  Not found: is --url (or PUBLIC_URL) the bridge\'s address?');
  }
}

/** Basic auth for the local Twilio, as Twilio's own clients send it. */
const twilioAuth = (config: SimulateConfig) => `Basic ${Buffer.from(`${config.twilio.accountSid}:${config.twilio.authToken}`).toString('base64')}`;

async function getJson<T>(url: string, authorization: string): Promise<T> {
  const res = await fetch(url, { headers: { authorization }, signal: AbortSignal.timeout(OTHER_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return (await res.json()) as T;
}

/**
 * Tells the local Twilio a call has arrived, as the phone network would, before its voice webhook is
 * played. Returns the call's CallToken (undefined from a local Twilio that issues none), false on failure.
 */
async function arriveAtLocalTwilio(out: Output, config: SimulateConfig, local: LocalApis, options: SimulateOptions): Promise<string | undefined | false> {
  const answer = await exchange(out, 'Incoming call at the local Twilio', `${local.twilioUrl}/sandbox/incoming-calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: twilioAuth(config) },
    body: new URLSearchParams({ CallSid: options.callSid, From: options.from, To: options.to }).toString(),
  }, OTHER_TIMEOUT_MS);
  if (ok(answer)) {
    try {
      const token = (JSON.parse(answer.body) as { call_token?: unknown }).call_token;
      return typeof token === 'string' ? token : undefined;
    } catch {
      return undefined;
    }
  }
  out.error('✗ the local Twilio did not take the call: is the sandbox (npm run dev) still running?');
  return false;
}

/**
 * Prints what the bridge sent to the local Retell for this call; true when it registered `expected`
 * times: once for a call it connects, never for one it rejects.
 */
async function showRegistrations(out: Output, config: SimulateConfig, local: LocalApis, callSid: string, expected: 0 | 1): Promise<boolean> {
  type Registrations = { registrations: Array<{ call_id: string; request: Record<string, unknown> }> };
  const { registrations } = await getJson<Registrations>(
    `${local.retellUrl}/sandbox/registrations?twilio_call_sid=${callSid}`,
    `Bearer ${config.retell.apiKey}`,
  );
  out.info('');
  out.info('Registrations the local Retell received for this call');
  for (const r of registrations) {
    out.info('→ POST /v2/register-phone-call');
    out.info(`  ${JSON.stringify(r.request)}`);
    out.info(`← 201 call_id ${r.call_id}`);
  }
  if (expected === 0) {
    if (registrations.length === 0) {
      out.info('✓ none: a rejected call is not registered');
      return true;
    }
    out.error(`✗ registered ${registrations.length} times, yet the bridge rejected the call: a rejected call must not be registered`);
    return false;
  }
  if (registrations.length === 1) {
    out.info('✓ registered once');
    return true;
  }
  out.error(`✗ registered ${registrations.length} times; every repeat of a CallSid must reuse the first registration`);
  return false;
}

const JOB_WAIT_MS = 20_000;

/** Waits for the job to finish (the worker retries for about 9 s at most), then prints it. */
async function followJob(out: Output, config: SimulateConfig, jobId: string): Promise<JobReport | undefined> {
  const redis = newRedisClient(config.redis, 'queue');
  redis.on('error', () => undefined);
  const queue = createCallActionQueue(redis, config.redis.prefix);
  queue.on('error', () => undefined);
  try {
    const reports = new CallReports(redis, config.redis.prefix, queue);
    const started = Date.now();
    let job = await reports.job(jobId);
    while (job?.state !== 'completed' && job?.state !== 'failed' && Date.now() - started < JOB_WAIT_MS) {
      await new Promise((r) => setTimeout(r, 100));
      job = await reports.job(jobId);
    }
    out.info('');
    out.info(`Job ${jobId} (Redis ${describeRedis(config.redis)})`);
    if (!job) {
      out.error(`✗ no such job in the queue "${config.redis.prefix}"`);
      return undefined;
    }
    out.info(`  ${job.state} after ${job.attemptsMade} of ${job.attempts} attempts${job.returnValue !== undefined ? `, returned ${JSON.stringify(job.returnValue)}` : ''}`);
    if (job.failedReason) out.info(`  failed: ${job.failedReason}`);
    if (job.state !== 'completed') out.error(`✗ the job did not complete within ${JOB_WAIT_MS / 1000} s`);
    return job;
  } catch (err) {
    out.error(`✗ could not read the job from Redis: ${(err as Error).message}`);
    return undefined;
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}

/** Prints the REST requests the worker sent to the local Twilio for the call; true when one was answered 2xx. */
async function showRestRequests(out: Output, config: SimulateConfig, local: LocalApis, callSid: string): Promise<boolean> {
  type Requests = { requests: Array<{ method: string; path: string; form: Record<string, string>; answered: number | null }> };
  const { requests } = await getJson<Requests>(`${local.twilioUrl}/sandbox/requests?CallSid=${callSid}`, twilioAuth(config));
  out.info('');
  out.info('REST requests the worker sent to the local Twilio');
  for (const r of requests) {
    out.info(`→ ${r.method} ${local.twilioUrl}${r.path}  (Basic auth as ${config.twilio.accountSid})`);
    for (const [key, value] of Object.entries(r.form)) out.info(`  ${key}=${value}`);
    out.info(`← ${r.answered ?? 'no answer'}`);
  }
  if (requests.some((r) => r.answered !== null && r.answered >= 200 && r.answered < 300)) {
    out.info('✓ Twilio accepted the worker\'s request');
    return true;
  }
  out.error(requests.length ? '✗ the local Twilio refused every request; see above' : '✗ the worker sent no request to the local Twilio');
  return false;
}

const EVENT_WAIT_MS = 15_000;

/**
 * Prints the events the bridge recorded for the call (its per-call index, oldest first) with how each
 * delivery went, once every `expected` type is there and delivered (or after EVENT_WAIT_MS). True when
 * each expected event was delivered.
 */
async function showEvents(out: Output, config: SimulateConfig, callSid: string, expected: readonly EventType[]): Promise<boolean> {
  const redis = newRedisClient(config.redis, 'queue');
  redis.on('error', () => undefined);
  try {
    const store = new EventStore(redis, config.redis.prefix, EVENTS_LOOKBACK_MS);
    const settled = (events: StoredEvent[]) =>
      expected.every((type) => events.some((e) => e.type === type && Object.values(e.deliveries).every((d) => d.status !== 'pending')));
    const started = Date.now();
    let events = await store.forCall(callSid);
    while (!settled(events) && Date.now() - started < EVENT_WAIT_MS) {
      await new Promise((r) => setTimeout(r, 100));
      events = await store.forCall(callSid);
    }
    out.info('');
    out.info('Events of this call (EVENTS_WEBHOOK_URL; the sandbox prints each as its receiver gets it)');
    for (const e of events) {
      const body = JSON.parse(e.body) as { data: Record<string, unknown> };
      const delivery = Object.values(e.deliveries)[0];
      const how = delivery ? `${delivery.status} after ${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'}` : 'no endpoint';
      out.info(`  ${describeEvent({ type: e.type, data: body.data })}`);
      out.info(`    ${e.id}: ${how}`);
    }
    const missing = expected.filter((type) => !events.some((e) => e.type === type && Object.values(e.deliveries).every((d) => d.status === 'delivered')));
    if (missing.length === 0) {
      out.info(`✓ ${expected.join(', ')} delivered`);
      return true;
    }
    out.error(`✗ not delivered within ${EVENT_WAIT_MS / 1000} s: ${missing.join(', ')}; the worker's log says why`);
    return false;
  } catch (err) {
    out.error(`✗ could not read the call's events from Redis: ${(err as Error).message}`);
    return false;
  } finally {
    redis.disconnect();
  }
}

/** The consent question's action URL in a voice answer, when the bridge asks the caller's consent to record. */
export function consentActionOf(twiml: string): string | undefined {
  const action = /<Gather\b[^>]*\baction="([^"]*\/twilio\/recording\/consent[^"]*)"/.exec(twiml)?.[1];
  return action?.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

/** A request to the local Twilio about the call (answer, gather, hangup), printed; its body, or undefined when it failed. */
async function localCallStep(out: Output, config: SimulateConfig, local: LocalApis, callSid: string, step: 'answer' | 'gather' | 'hangup', form: Record<string, string>, label: string): Promise<string | undefined> {
  const answer = await exchange(out, label, `${local.twilioUrl}/sandbox/calls/${callSid}/${step}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: twilioAuth(config) },
    body: new URLSearchParams(form).toString(),
  }, OTHER_TIMEOUT_MS);
  if (ok(answer)) return answer.body;
  out.error(`✗ the local Twilio could not ${step === 'answer' ? 'run the answer' : step === 'gather' ? 'take the caller\'s answer' : 'hang up'}: is the sandbox (npm run dev) still running?`);
  return undefined;
}

/**
 * The caller answers the consent question (--consent): in the sandbox the local Twilio posts it to the
 * bridge, as Twilio would; against a deployment this tool posts it, signed for the action URL. Returns
 * the TwiML the bridge answered (the agent's `<Dial>`, recorded or not), or undefined when it failed.
 */
async function answerConsent(out: Output, config: SimulateConfig, options: SimulateOptions, base: string, action: string, local: LocalApis | undefined): Promise<string | undefined> {
  const heard: Record<string, string> = /^[0-9*#]+$/.test(options.consent) ? { Digits: options.consent } : options.consent ? { SpeechResult: options.consent, Confidence: '0.9' } : {};
  const said = heard.Digits ? `presses ${heard.Digits}` : heard.SpeechResult ? `says "${heard.SpeechResult}"` : 'says nothing';
  if (local) {
    const body = await localCallStep(out, config, local, options.callSid, 'gather', heard, `The bridge asks the caller's consent to record; the caller ${said} (--consent)`);
    if (body === undefined) return undefined;
    try {
      return (JSON.parse(body) as { twiml: string }).twiml;
    } catch {
      out.error('✗ the local Twilio answered something else than the consent answer');
      return undefined;
    }
  }
  const params = {
    AccountSid: config.twilio.accountSid,
    ApiVersion: '2010-04-01',
    CallSid: options.callSid,
    CallStatus: 'in-progress',
    Direction: 'inbound',
    From: options.from,
    To: options.to,
    ...heard,
  };
  const target = new URL(action);
  const answer = await exchange(out, `Consent to record: the caller ${said} (--consent)`, `${base}${target.pathname}${target.search}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': getExpectedTwilioSignature(config.twilio.authToken, action, params) },
    body: new URLSearchParams(params).toString(),
  }, VOICE_TIMEOUT_MS);
  if (ok(answer)) return answer.body;
  if (answer) hintFor(out, 'voice', answer, config);
  out.error('Stopping: the consent answer was not answered with 2xx.');
  return undefined;
}

const RECORDING_WAIT_MS = 15_000;

/**
 * The caller hangs up at the local Twilio; a recorded call's recording is then processed and its status
 * callback reaches the bridge a few seconds later: waits for the call record to show it, and prints it.
 */
async function hangUpAndShowRecording(out: Output, config: SimulateConfig, local: LocalApis, callSid: string, recorded: boolean): Promise<boolean> {
  if ((await localCallStep(out, config, local, callSid, 'hangup', {}, 'The caller hangs up (--hang-up)')) === undefined) return false;
  if (!recorded) return true;
  const redis = newRedisClient(config.redis, 'queue');
  redis.on('error', () => undefined);
  try {
    const calls = new CallRepository(redis, config.redis.prefix);
    out.info('');
    out.info(`Waiting for Twilio's recording to complete (up to ${RECORDING_WAIT_MS / 1000} s)`);
    const started = Date.now();
    let record = await calls.get(callSid);
    while (record?.recordingStatus !== 'completed' && Date.now() - started < RECORDING_WAIT_MS) {
      await new Promise((r) => setTimeout(r, 200));
      record = await calls.get(callSid);
    }
    if (record?.recordingStatus !== 'completed') {
      out.error(`✗ no completed recording on the call record after ${RECORDING_WAIT_MS / 1000} s`);
      return false;
    }
    out.info(`✓ recording ${record.recordingSid} completed after ${((Date.now() - started) / 1000).toFixed(1)} s: ${record.recordingDuration} s, ${record.recordingChannels} channel(s)`);
    out.info(`  ${record.recordingUrl}`);
    out.info(`  (the call record keeps it, and recording.completed is among the events: npm run inspect -- ${callSid})`);
    return true;
  } catch (err) {
    out.error(`✗ could not read the call record from Redis: ${(err as Error).message}`);
    return false;
  } finally {
    redis.disconnect();
  }
}

/** How far back a call's events are read: further than any simulated call. */
const EVENTS_LOOKBACK_MS = 24 * 3600 * 1000;

/** The events a simulated call produces: started, then the function's transfer, if any. */
function expectedEvents(fn: FunctionName | undefined): EventType[] {
  return ['call.started', ...(fn === 'transfer_call' || fn === 'warm_transfer' ? (['transfer.started', 'transfer.completed'] as const) : [])];
}

/**
 * Plays the requests and prints the answers. Returns the exit code. With `local` (the sandbox), the
 * call also arrives at the local Twilio first, and the registration, the job and the worker's REST
 * request are looked up and printed.
 */
export async function simulate(config: SimulateConfig, options: SimulateOptions, out: Output, local: LocalApis | undefined = sandboxApis(config)): Promise<number> {
  const base = options.url ?? config.publicUrl;
  const signedUrl = `${config.publicUrl}/twilio/voice`;
  out.info(`Bridge:       ${displayUrl(base)}${options.url ? '' : ' (PUBLIC_URL)'}`);
  out.info(`Signed for:   ${displayUrl(signedUrl)} (PUBLIC_URL)`);
  out.info(`Call:         ${options.callSid} from ${options.from} to ${options.to}`);
  if (local) out.info(`Sandbox:      local Twilio ${local.twilioUrl}, local Retell ${local.retellUrl}`);
  let failed = false;

  const ready = await exchange(out, 'Readiness', `${base}/readyz`, { method: 'GET' }, OTHER_TIMEOUT_MS);
  if (!ready) {
    out.error(`Nothing answered at ${displayUrl(base)}; is the bridge running there?`);
    return EXIT_FAILED;
  }
  if (!ok(ready)) {
    failed = true;
    hintFor(out, 'ready', ready, config);
  }
  const arrived = local ? await arriveAtLocalTwilio(out, config, local, options) : undefined;
  if (arrived === false) return EXIT_FAILED;

  const hookUrl = config.lookupHook.url;
  const looked = hookUrl ? await lookup(config, options, hookUrl, out) : undefined;
  if (looked && !looked.ok) failed = true;

  const params = voiceWebhookParams(config, options, arrived);
  const signature = getExpectedTwilioSignature(config.twilio.authToken, signedUrl, params);
  const answers: Answer[] = [];
  for (let i = 1; i <= options.repeat; i++) {
    const label = options.repeat > 1 ? `Voice webhook (${i} of ${options.repeat})` : 'Voice webhook';
    const answer = await exchange(
      out,
      label,
      `${base}/twilio/voice`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: new URLSearchParams(params).toString(),
      },
      VOICE_TIMEOUT_MS,
    );
    if (!answer) return EXIT_FAILED;
    answers.push(answer);
    if (!ok(answer)) {
      hintFor(out, 'voice', answer, config);
      out.error('Stopping: the voice webhook was not answered with 2xx.');
      return EXIT_FAILED;
    }
  }
  const first = answers[0]!;
  if (answers.length > 1) {
    const differing = answers.map((a, i) => (a.status !== first.status || a.body !== first.body ? i + 1 : 0)).filter(Boolean);
    out.info('');
    if (differing.length) {
      out.error(`✗ answers ${differing.join(', ')} differ from the first: repeats of one CallSid must get the same TwiML.`);
      failed = true;
    } else {
      out.info(`✓ all ${answers.length} answers are identical`);
    }
  }

  const rejected = /<Reject\b/.test(first.body);
  if (local && !rejected && !(await localCallStep(out, config, local, options.callSid, 'answer', { Twiml: first.body }, 'The local Twilio runs the answer on the call'))) failed = true;
  // A recorded call may ask the caller's consent first: the agent is dialed only after their answer.
  let dialTwiml = first.body;
  const consentAction = consentActionOf(first.body);
  if (consentAction) {
    const answered = await answerConsent(out, config, options, base, consentAction, local);
    if (answered === undefined) return EXIT_FAILED;
    dialTwiml = answered;
  }
  const callId = callIdFromTwiml(dialTwiml);
  out.info('');
  const recorded = /<Start>\s*<Recording\b/.test(dialTwiml);
  if (recorded) out.info(`✓ the call is recorded: <Start><Recording channels="${/channels="(\w+)"/.exec(dialTwiml)?.[1] ?? '?'}"> before the agent answers`);
  else if (consentAction) out.info('✓ the caller did not allow recording: the agent is dialed, and nothing is recorded');
  if (callId) {
    out.info(`✓ the bridge registered the call with Retell: call_id ${callId}`);
    if (looked?.rejects) {
      out.error('✗ the lookup hook rejects this caller, yet the bridge registered the call: does the deployment have the same INBOUND_WEBHOOK_URL?');
      failed = true;
    }
  } else if (rejected) {
    out.info('✓ the bridge rejected the call (<Reject/>), as its lookup hook asked');
    if (looked && !looked.rejects) {
      out.error('✗ the lookup hook asked here does not reject this caller: does the deployment have the same INBOUND_WEBHOOK_URL?');
      failed = true;
    }
  } else {
    out.error('✗ the answer does not dial Retell (no <Sip>): the bridge answered its fallback, because Retell refused or did not answer in time. Its log says why.');
    failed = true;
  }
  if (local && !(await showRegistrations(out, config, local, options.callSid, rejected && !callId ? 0 : 1))) failed = true;

  if (options.fn) {
    if (!callId) {
      out.error(`Skipping ${options.fn}: there is no Retell call_id to act on.`);
      return EXIT_FAILED;
    }
    const raw = JSON.stringify(functionCallBody(config, options, options.fn, callId));
    const answer = await exchange(
      out,
      `Retell function ${options.fn}${options.destination ? ` (destination ${options.destination})` : ''}`,
      `${base}/retell/functions/${options.fn}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-retell-signature': await sign(raw, config.retell.apiKey) },
        body: raw,
      },
      OTHER_TIMEOUT_MS,
    );
    if (!answer) return EXIT_FAILED;
    if (!ok(answer)) {
      failed = true;
      hintFor(out, 'function', answer, config);
    } else if (local && options.fn === 'do_not_call') {
      // Done in the request itself: nothing for the worker, nothing at Twilio.
      out.info('✓ the caller is on the do-not-call list (GET /dnc/{number} shows it)');
    } else if (local) {
      const jobId = (JSON.parse(answer.body) as { job_id?: string }).job_id;
      const job = jobId ? await followJob(out, config, jobId) : undefined;
      if (job?.state !== 'completed') failed = true;
      // The worker rang the person; once they press the accept key, a second job joins the caller.
      if (options.fn === 'warm_transfer' && jobId && job?.state === 'completed') {
        out.info('');
        out.info('The local Twilio rings the person, who hears the summary and presses 1');
        const joined = await followJob(out, config, joinJobId(jobId));
        if (joined?.state !== 'completed') failed = true;
      }
      if (!(await showRestRequests(out, config, local, options.callSid))) failed = true;
    }
  }
  if (local?.events && callId && !failed && !(await showEvents(out, config, options.callSid, expectedEvents(options.fn)))) failed = true;

  if (options.hangUp) {
    if (!local) out.info('\n--hang-up plays the caller hanging up in the sandbox only: against a deployment, hang up the call itself.');
    else if (!rejected && !(await hangUpAndShowRecording(out, config, local, options.callSid, recorded))) failed = true;
  }

  out.info('');
  if (failed) {
    out.error(local ? '✗ Some steps did not work; see above.' : '✗ Some answers were not what a working deployment gives; see above.');
    return EXIT_FAILED;
  }
  out.info(local ? '✓ Every step worked.' : '✓ Every answer was 2xx.');
  return EXIT_OK;
}

/** The whole tool: arguments, configuration, then the requests. Returns the exit code. */
export const runSimulate = toolRunner({
  name: 'simulate',
  usage: SIMULATE_USAGE,
  options: SIMULATE_OPTIONS,
  parse: parseSimulateArgs,
  settings: simulateSettings,
  secrets: (config) => [config.twilio.authToken, config.retell.apiKey, ...redisSecrets(config.redis)],
  run: (config, options, out) => simulate(config, options, out),
});

if (require.main === module) runAsProcess((argv, out) => runSimulate(argv, out));
