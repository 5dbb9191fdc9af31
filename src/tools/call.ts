/**
 * `npm run call -- --to +1…`: places an outbound call through a running bridge (POST /calls with
 * API_TOKEN) and, with --wait, follows it to the end.
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import type { OutboundView } from '../features/outbound';
import { parseSettings, publicUrlOf, type Config } from '../config';
import { E164 } from '../formats';
import { displayUrl, EXIT_FAILED, EXIT_OK, type Output, runAsProcess, toolRunner, UsageError, parseToolArgs } from './cli';

export const CALL_USAGE = `Usage: npm run call -- --to <number> [options]

Places an outbound call through a running bridge (POST {url}/calls, authorised with API_TOKEN) and
prints its id; with --wait it follows the call (GET {url}/calls/{id}) and prints each change until the
call ends. The bridge's worker places the call; the agent is registered when the callee answers.

Options:
  --to <number>             the number to call, E.164                                      required
  --from <number>           your Twilio number to call from (default: OUTBOUND_FROM_NUMBER)
  --agent <agent_id>        the Retell agent (default: AGENT_ROUTES[from], else RETELL_AGENT_ID)
  --agent-version <n>       the agent's version
  --var <name=value>        a dynamic variable for the agent; repeat for more
  --voicemail <mode>        hangup, message or continue (default: continue)
  --message <text>          what to leave on an answering machine, with --voicemail message
  --ring-timeout <seconds>  how long to let it ring, 5-600 (default: 30)
  --idempotency-key <key>   the same key again places no second call
  --url <url>               where the bridge is (default: PUBLIC_URL)
  --wait                    follow the call until it ends
  --interval <ms>           with --wait, how often to ask (default: 1000)
  -h, --help                this text

API_TOKEN and PUBLIC_URL come from the same settings the bridge reads (environment variables, or a
.env file in the working directory).

Exit codes: 0 the call was queued (with --wait: it was dialed and ended other than dial_failed), 1 otherwise,
2 bad arguments.`;

export interface CallOptions {
  url?: string;
  body: {
    to: string;
    from?: string;
    agent_id?: string;
    agent_version?: number;
    dynamic_variables?: Record<string, string>;
    voicemail?: 'hangup' | 'message' | 'continue';
    voicemail_message?: string;
    ring_timeout_s?: number;
  };
  idempotencyKey?: string;
  wait: boolean;
  intervalMs: number;
}

const VOICEMAIL = ['hangup', 'message', 'continue'] as const;

const wholeNumber = (flag: string, value: string, min: number, max: number): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${flag} "${value}" must be a whole number from ${min} to ${max}`);
  return n;
};

/** The command line's options, for parseArgs. */
const CALL_OPTIONS = {
  to: { type: 'string' },
  from: { type: 'string' },
  agent: { type: 'string' },
  'agent-version': { type: 'string' },
  var: { type: 'string', multiple: true },
  voicemail: { type: 'string' },
  message: { type: 'string' },
  'ring-timeout': { type: 'string' },
  'idempotency-key': { type: 'string' },
  url: { type: 'string' },
  wait: { type: 'boolean', default: false },
  interval: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

export function parseCallArgs(argv: readonly string[]): CallOptions | 'help' {
  const parsed = parseToolArgs(argv, CALL_OPTIONS);
  const v = parsed.values;
  if (v.help) return 'help';
  if (!v.to) throw new UsageError('--to is required: the number to call, e.g. --to +14155550199');
  if (!E164.test(v.to)) throw new UsageError(`--to "${v.to}" is not an E.164 number: write + and the country code, no spaces, e.g. +14155550199`);
  if (v.from !== undefined && !E164.test(v.from)) throw new UsageError(`--from "${v.from}" is not an E.164 number, e.g. +14155550100`);

  const vars: Record<string, string> = {};
  for (const pair of v.var ?? []) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new UsageError(`--var "${pair}" must be name=value, e.g. --var first_name=Ada`);
    vars[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  if (v.voicemail !== undefined && !VOICEMAIL.includes(v.voicemail as (typeof VOICEMAIL)[number])) {
    throw new UsageError(`--voicemail must be ${VOICEMAIL.join(', ')} (got "${v.voicemail}")`);
  }
  if (v.voicemail === 'message' && !v.message) throw new UsageError('--voicemail message needs --message: what to leave after the beep');
  if (v.message !== undefined && v.voicemail !== 'message') throw new UsageError('--message only goes with --voicemail message');

  let url: string | undefined;
  if (v.url !== undefined) {
    try {
      const parsedUrl = new URL(v.url);
      if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw new UsageError(`--url "${v.url}" is not an http(s) URL; give the bridge's origin, e.g. https://my-bridge.onrender.com`);
    }
    url = v.url.replace(/\/+$/, '');
  }

  return {
    url,
    body: {
      to: v.to,
      ...(v.from ? { from: v.from } : {}),
      ...(v.agent ? { agent_id: v.agent } : {}),
      ...(v['agent-version'] !== undefined ? { agent_version: wholeNumber('--agent-version', v['agent-version'], 0, 1_000_000) } : {}),
      ...(Object.keys(vars).length ? { dynamic_variables: vars } : {}),
      ...(v.voicemail ? { voicemail: v.voicemail as (typeof VOICEMAIL)[number] } : {}),
      ...(v.message ? { voicemail_message: v.message } : {}),
      ...(v['ring-timeout'] !== undefined ? { ring_timeout_s: wholeNumber('--ring-timeout', v['ring-timeout'], 5, 600) } : {}),
    },
    idempotencyKey: v['idempotency-key'],
    wait: v.wait,
    intervalMs: v.interval === undefined ? 1000 : wholeNumber('--interval', v.interval, 50, 60_000),
  };
}

const REQUEST_TIMEOUT_MS = 15_000;

async function request(url: string, init: RequestInit): Promise<{ status: number; body: Record<string, unknown> | undefined; text: string }> {
  const res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await res.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

const clock = () => new Date().toISOString().slice(11, 19);

/** One line about where the call stands. */
/** Outcomes of calls that were never dialed: the do-not-call list, or the pre-dial hook. */
const NOT_DIALED: ReadonlySet<string> = new Set(['do_not_call', 'predial_refused']);

export function describeProgress(call: OutboundView): string {
  const parts: string[] = [call.status];
  if (call.status === 'ended' && call.outcome) parts.push(`outcome ${call.outcome}`);
  if (call.answered_by) parts.push(`answered by ${call.answered_by}`);
  if (call.status === 'ended' && call.duration_s !== undefined) parts.push(`${call.duration_s} s`);
  const notDialed = call.outcome !== undefined && NOT_DIALED.has(call.outcome);
  if (call.error) parts.push(notDialed ? `not dialed: ${call.error.message}` : `Twilio ${call.error.code ?? ''} ${call.error.message}`.replace(/\s+/g, ' '));
  if (call.call_sid) parts.push(call.call_sid);
  return parts.join(', ');
}

/** What the call tool uses: where the bridge is and the token of its /calls API. */
export type CallToolConfig = Pick<Config, 'publicUrl'> & { outbound: Pick<Config['outbound'], 'apiToken'> };

export function callToolSettings(env: Record<string, string | undefined>): CallToolConfig {
  const e = parseSettings(env, ['PORT', 'PUBLIC_URL', 'RENDER_EXTERNAL_URL', 'API_TOKEN']);
  return { publicUrl: publicUrlOf(e).publicUrl, outbound: { apiToken: e.API_TOKEN } };
}

export async function placeCallTool(config: CallToolConfig, options: CallOptions, out: Output): Promise<number> {
  const token = config.outbound.apiToken;
  if (!token) {
    out.error('API_TOKEN is not set: outbound calls are off on a bridge without it. Set the deployment\'s API_TOKEN here too.');
    return EXIT_FAILED;
  }
  const base = options.url ?? config.publicUrl;
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  let placed;
  try {
    placed = await request(`${base}/calls`, { method: 'POST', headers, body: JSON.stringify(options.body) });
  } catch (err) {
    out.error(`Nothing answered at ${displayUrl(base)}: ${(err as Error).message}. Is the bridge running there (--url)?`);
    return EXIT_FAILED;
  }
  if (placed.status !== 202 || typeof placed.body?.id !== 'string') {
    const reason = typeof placed.body?.reason === 'string' ? placed.body.reason : placed.text.slice(0, 500);
    out.error(`The bridge refused the call (HTTP ${placed.status}): ${reason}`);
    if (placed.status === 401) out.error('API_TOKEN here differs from the deployment\'s.');
    if (placed.status === 404) out.error(`Outbound calls are off at ${displayUrl(base)} (no API_TOKEN there), or it is not the bridge.`);
    return EXIT_FAILED;
  }
  const id = placed.body.id;
  out.info(`${clock()} queued: ${id} (to ${options.body.to})`);
  if (!options.wait) return EXIT_OK;

  let last = '';
  for (;;) {
    await new Promise((r) => setTimeout(r, options.intervalMs));
    let got;
    try {
      got = await request(`${base}/calls/${id}`, { headers: { authorization: `Bearer ${token}` } });
    } catch (err) {
      out.error(`${clock()} could not ask the bridge: ${(err as Error).message}; trying again`);
      continue;
    }
    if (got.status !== 200 || !got.body) {
      out.error(`The bridge answered HTTP ${got.status} for ${id}: ${got.text.slice(0, 300)}`);
      return EXIT_FAILED;
    }
    const call = got.body as unknown as OutboundView;
    const line = describeProgress(call);
    if (line !== last) out.info(`${clock()} ${line}`);
    last = line;
    if (call.status === 'ended') return call.outcome === 'dial_failed' || (call.outcome !== undefined && NOT_DIALED.has(call.outcome)) ? EXIT_FAILED : EXIT_OK;
  }
}

export const runCall = toolRunner({ name: 'call', usage: CALL_USAGE, options: CALL_OPTIONS, parse: parseCallArgs, settings: callToolSettings, secrets: (config) => [config.outbound.apiToken], run: placeCallTool });

if (require.main === module) runAsProcess((argv, out) => runCall(argv, out));
