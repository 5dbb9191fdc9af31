/**
 * `npm run inspect -- <CallSid | call_id | out_…>`: prints what the bridge knows about one call, read from
 * Redis with the deployment's settings: the call record, and each transfer or hang-up with its job (state,
 * attempts, why it failed); for an outbound call's id (what `npm run call` prints), its outbound record
 * first. Needs only the Redis settings, so `heroku run npm run inspect -- CA…` works.
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import { parseSettings, REDIS_SETTINGS, redisOf, type Config } from '../config';
import { OUTBOUND_ID, type OutboundRecord } from '../features/outbound';
import type { CallRecord } from '../calls/record';
import { recordingControlOf, type WarmTransfer } from '../calls/record';
import { createCallActionQueue } from '../jobs/queues';
import { describeRedis, newRedisClient } from '../redis/connection';
import { CallReports, type ActionReport, type CallReport, type JobReport, type OutboundReport, type TextReport } from '../features/console';
import { EXIT_FAILED, EXIT_OK, type Output, redisSecrets, runAsProcess, singlePositional, toolRunner, UsageError, parseToolArgs } from './cli';

export const INSPECT_USAGE = `Usage: npm run inspect -- <CallSid | Retell call_id | outbound call id> [--json]

Prints one call as the bridge knows it, read from Redis (REDIS_URL, REDIS_PREFIX; environment variables
or a .env file here): caller and called number, direction, agent, state, timestamps, the result of the
SIP dial to Retell, each transfer or hang-up with its job's state, attempts and failure reasons, the
call's recording (consent, Twilio's recording and where it is, the agent's last pause or resume) and
each text the agent sent (template, number, body, Twilio's status), each Twilio REST request the bridge
made for the call (method, path, status, time taken, Twilio's error code) and the call's events with
their deliveries.
For an outbound call's id (out_…, as npm run call prints it), the outbound call's record (status,
outcome, who answered, when), then, once it was placed, its Twilio call as for a CallSid.

On Heroku: heroku run --app my-bridge npm run inspect -- CA0123...

Call records expire 24 hours after the call started; jobs 24 hours after completing, 7 days after failing.

Options:
  --json       print the record and jobs as JSON
  -h, --help   this text

Exit codes: 0 found, 1 unknown call (or Redis unreachable), 2 bad arguments.`;

export interface InspectOptions {
  id: string;
  json: boolean;
}

/** The command line's options, for parseArgs. */
const INSPECT_OPTIONS = { json: { type: 'boolean', default: false } } as const satisfies ParseArgsOptionsConfig;

export function parseInspectArgs(argv: readonly string[]): InspectOptions | 'help' {
  const parsed = parseToolArgs(argv, INSPECT_OPTIONS, { positionals: true });
  if (parsed.values.help) return 'help';
  const id = singlePositional(parsed.positionals, 'call', 'which call? Give its Twilio CallSid (CA…), its Retell call_id or its outbound id (out_…)');
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new UsageError(`"${id}" is neither a CallSid (CA followed by 32 hex digits), a Retell call_id nor an outbound id (out_…)`);
  return { id, json: parsed.values.json };
}

/** What inspect uses: Redis, nothing else. */
export type InspectConfig = Pick<Config, 'redis'>;

export function inspectSettings(env: Record<string, string | undefined>): InspectConfig {
  return { redis: redisOf(parseSettings(env, REDIS_SETTINGS)) };
}

/** Record fields in reading order, with their labels. */
const FIELDS: Array<[keyof CallRecord, string]> = [
  ['direction', 'direction'],
  ['from', 'from'],
  ['to', 'to'],
  ['state', 'state'],
  ['agentId', 'agent'],
  ['callId', 'Retell call_id'],
  ['createdAt', 'created'],
  ['ringingAt', 'ringing'],
  ['answeredAt', 'answered'],
  ['agentStartedAt', 'agent started'],
  ['agentEndedAt', 'agent ended'],
  ['disconnectionReason', 'agent ended by'],
  ['endedAt', 'ended'],
  ['endReason', 'end reason'],
  ['duration', 'duration (s)'],
  ['dialStatus', 'dial result'],
  ['error', 'error'],
  ['userSentiment', 'sentiment'],
  ['callSuccessful', 'successful'],
  ['summary', 'summary'],
  ['updatedAt', 'updated'],
  ['twiml', 'answer (TwiML)'],
];

function printAction(out: Output, a: ActionReport): void {
  const to = a.action?.target ?? (a.job?.data.kind === 'transfer' ? a.job.data.target : undefined);
  const target = to ? ` to ${to}` : '';
  out.info('');
  out.info(`Action #${a.seq}: ${a.kind}${target}${a.action ? `, ${a.action.status}` : ' (replaced by a later action)'}`);
  if (a.action) {
    out.info(`  requested       ${a.action.requestedAt}`);
    out.info(`  told the agent  ${JSON.stringify(a.action.answer)}`);
    if (a.action.error) out.info(`  error           ${a.action.error}`);
  }
  printJob(out, a.jobId, a.job);
}

function printJob(out: Output, jobId: string, job: JobReport | undefined): void {
  if (!job) {
    out.info(`  job             ${jobId}: no longer in the queue (removed after its retention period)`);
    return;
  }
  const returned = job.returnValue !== undefined ? `, returned ${JSON.stringify(job.returnValue)}` : '';
  out.info(`  job             ${job.id}: ${job.state}, ${job.attemptsMade} of ${job.attempts} attempts${returned}`);
  out.info(`  queued          ${job.createdAt}`);
  if (job.finishedAt) out.info(`  finished        ${job.finishedAt}`);
  if (job.failedReason) out.info(`  failed because  ${job.failedReason}`);
  job.stacktrace.forEach((stack, i) => out.info(`  attempt failure ${i + 1}: ${stack.split('\n')[0]}`));
}

export function printReport(out: Output, report: CallReport): void {
  const r = report.record;
  out.info(`Call ${r.callSid}`);
  for (const [field, label] of FIELDS) {
    const value = r[field];
    if (value !== undefined && value !== '') out.info(`  ${label.padEnd(15)} ${value}`);
  }
  if (r.warmTransfer) printWarmTransfer(out, JSON.parse(r.warmTransfer) as WarmTransfer);
  if (report.actions.length === 0) out.info('\nNo transfer or hang-up was asked for.');
  for (const action of report.actions) printAction(out, action);
  printRecording(out, report);
  report.texts.forEach((t, i) => printText(out, i + 1, t));
  printTwilioRequests(out, report);
  printEvents(out, report);
}

/** Each Twilio REST request made for the call: method, path, answer, time taken. */
function printTwilioRequests(out: Output, report: CallReport): void {
  if (report.twilioRequests.length === 0) return;
  out.info('');
  out.info(`Twilio requests (${report.twilioRequests.length}):`);
  for (const r of report.twilioRequests) {
    const answer = r.status !== undefined ? `${r.status}${r.errorCode !== undefined ? ` (error ${r.errorCode})` : ''}` : `no answer: ${r.error ?? 'unknown'}`;
    out.info(`  ${r.at}  ${r.method.padEnd(6)} ${r.path} -> ${answer}, ${r.durationMs} ms`);
  }
}

/** The call's events and where each delivery stands. */
function printEvents(out: Output, report: CallReport): void {
  if (report.events.length === 0) return;
  out.info('');
  out.info(`Events (${report.events.length}):`);
  for (const e of report.events) {
    const deliveries = Object.entries(e.deliveries)
      .map(([endpoint, d]) => `${endpoint}: ${d.status}, ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}${d.last ? ` (last ${d.last})` : ''}`)
      .join('; ');
    out.info(`  ${new Date(e.at).toISOString()}  ${e.type} ${e.id}${deliveries ? `  ${deliveries}` : ''}`);
  }
}

/** The call's recording: how it was meant, what the caller said, Twilio's recording, the last pause or resume. */
function printRecording(out: Output, report: CallReport): void {
  const r = report.record;
  if (!r.recording && !r.recordingSid) return;
  out.info('');
  out.info(`Recording: ${r.recording ?? 'unknown'}, consent ${r.recordingConsent ?? 'unknown'}${r.recordingConsentAt ? ` at ${r.recordingConsentAt}` : ''}`);
  if (r.recordingSid) {
    const duration = r.recordingDuration !== undefined ? `, ${r.recordingDuration} s` : '';
    const channels = r.recordingChannels !== undefined ? `, ${r.recordingChannels} channel${r.recordingChannels === '1' ? '' : 's'}` : '';
    out.info(`  Twilio's        ${r.recordingSid}: ${r.recordingStatus ?? 'unknown'}${duration}${channels}`);
  } else out.info('  Twilio\'s        none reported yet');
  if (r.recordingUrl) out.info(`  url             ${r.recordingUrl}`);
  const control = recordingControlOf(r);
  if (control) {
    out.info(`  last ${control.want === 'paused' ? 'pause ' : 'resume'}     ${control.status}${control.error ? `: ${control.error}` : ''} (asked ${control.requestedAt})`);
    printJob(out, control.jobId, report.recordingJob);
  }
}

function printText(out: Output, n: number, { text, job }: TextReport): void {
  out.info('');
  const twilio = text.twilioStatus ? `, Twilio: ${text.twilioStatus}${text.errorCode ? ` (error ${text.errorCode})` : ''}` : '';
  out.info(`Text #${n}: ${text.template} to ${text.to}, ${text.status}${twilio}`);
  const lines: Array<[string, string | undefined]> = [
    ['from', text.messagingServiceSid ?? text.from],
    ['message', text.messageSid],
    ['body', JSON.stringify(text.body)],
    ['segments', `${text.segments} (${text.encoding})`],
    ['requested', text.requestedAt],
    ['error', text.error],
  ];
  for (const [label, value] of lines) if (value) out.info(`  ${label.padEnd(15)} ${value}`);
  printJob(out, text.id, job);
}

/** The latest warm transfer: where it stands, the person's leg, and why it failed. */
function printWarmTransfer(out: Output, t: WarmTransfer): void {
  out.info('');
  out.info(`Warm transfer ${t.id} to ${t.label} (${t.target}): ${t.status}${t.reason ? `, ${t.reason}` : ''}`);
  const lines: Array<[string, string | undefined]> = [
    ['caller ID', t.from],
    ['person\'s leg', t.legSid],
    ['rung', t.placedAt],
    ['accepted', t.acceptedAt],
    ['failed', t.failedAt],
    ['summary', JSON.stringify(t.summary)],
  ];
  for (const [label, value] of lines) if (value) out.info(`  ${label.padEnd(15)} ${value}`);
}

/** Outbound record fields in reading order, with their labels. */
const OUTBOUND_FIELDS: Array<[keyof OutboundRecord, string]> = [
  ['status', 'status'],
  ['outcome', 'outcome'],
  ['to', 'to'],
  ['from', 'from'],
  ['agentId', 'agent'],
  ['agentVersion', 'agent version'],
  ['dynamicVariables', 'variables'],
  ['metadata', 'metadata'],
  ['voicemail', 'voicemail'],
  ['voicemailMessage', 'message'],
  ['ringTimeoutS', 'ring timeout'],
  ['idempotencyKey', 'idempotency key'],
  ['callSid', 'CallSid'],
  ['twilioStatus', 'Twilio status'],
  ['answeredBy', 'answered by'],
  ['voicemailAction', 'on a machine'],
  ['voicemailJobId', 'machine job'],
  ['errorCode', 'error code'],
  ['errorMessage', 'error'],
  ['createdAt', 'created'],
  ['dialingAt', 'dialing'],
  ['ringingAt', 'ringing'],
  ['answeredAt', 'answered'],
  ['endedAt', 'ended'],
  ['duration', 'duration (s)'],
  ['placements', 'placements'],
  ['cancelRequested', 'cancel asked'],
  ['updatedAt', 'updated'],
];

export function printOutboundReport(out: Output, report: OutboundReport): void {
  const r = report.outbound;
  out.info(`Outbound call ${r.id}`);
  for (const [field, label] of OUTBOUND_FIELDS) {
    const value = field === 'ringTimeoutS' ? `${r.ringTimeoutS} s` : r[field];
    if (value !== undefined && value !== '' && value !== '{}') out.info(`  ${label.padEnd(15)} ${value}`);
  }
  out.info('');
  if (report.call) printReport(out, report.call);
  else if (r.callSid) out.info(`No record of its Twilio call ${r.callSid}: call records expire 24 hours after the call started.`);
  else if (r.status === 'ended') out.info('It ended without a Twilio call.');
  else out.info('Not placed yet: there is no Twilio call to show.');
}

/** The CallToken lets a call show the caller's number: it stays in Redis, not on a terminal. */
const withoutToken = (report: CallReport): CallReport => ({ ...report, record: { ...report.record, callToken: undefined } });

export async function inspect(config: InspectConfig, options: InspectOptions, out: Output): Promise<number> {
  const redis = newRedisClient(config.redis, 'queue');
  redis.on('error', () => undefined);
  const queue = createCallActionQueue(redis, config.redis.prefix);
  queue.on('error', () => undefined);
  const where = `Redis ${describeRedis(config.redis)} (prefix "${config.redis.prefix}")`;
  const outbound = OUTBOUND_ID.test(options.id);
  try {
    const reports = new CallReports(redis, config.redis.prefix, queue);
    let report: CallReport | OutboundReport | null;
    try {
      report = outbound ? await reports.outbound(options.id) : await reports.read(options.id);
    } catch (err) {
      out.error(`Could not read ${where}: ${(err as Error).message}`);
      return EXIT_FAILED;
    }
    if (!report) {
      out.error(`No ${outbound ? 'outbound call' : 'call'} ${options.id} in ${where}.`);
      out.error('Check the id and that REDIS_URL and REDIS_PREFIX are the deployment\'s; records expire 24 hours after the call started.');
      return EXIT_FAILED;
    }
    if ('outbound' in report) {
      if (options.json) out.info(JSON.stringify({ outbound: report.outbound, call: report.call && withoutToken(report.call) }, null, 2));
      else printOutboundReport(out, report);
    } else if (options.json) out.info(JSON.stringify(withoutToken(report), null, 2));
    else printReport(out, report);
    return EXIT_OK;
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}

/** The whole tool: arguments, configuration, then the lookup. Returns the exit code. */
export const runInspect = toolRunner({
  name: 'inspect',
  usage: INSPECT_USAGE,
  options: INSPECT_OPTIONS,
  parse: parseInspectArgs,
  settings: inspectSettings,
  secrets: (config) => redisSecrets(config.redis),
  run: inspect,
});

if (require.main === module) runAsProcess((argv, out) => runInspect(argv, out));
