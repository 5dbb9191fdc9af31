/**
 * `npm run campaign -- create|status|pause|resume|cancel|results`: campaigns through a running bridge's
 * API (`/campaigns`, authorised with API_TOKEN).
 *
 * `create` makes the campaign paused, uploads the CSV in parts of at most 10,000 rows and starts it only
 * once every row is in, so no call goes out for a half-uploaded list. Every creating request carries an
 * Idempotency-Key derived from the file and the options: running the same command again after a network
 * error finds the same campaign and adds no row twice.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { ParseArgsOptionsConfig } from 'node:util';
import { E164 } from '../formats';
import { callToolSettings, type CallToolConfig } from './call';
import { csvPart, CsvFileError, parseCampaignCsv, rowOfLine, splitCampaignCsv, type CsvPart, type ParsedCsv } from './campaign-csv';
import { displayUrl, EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Output, parseToolArgs, runAsProcess, runTool, UsageError } from './cli';

/** The bridge could not be reached (after retries): nothing is known to have happened, so the same command can run again. */
export const EXIT_UNREACHABLE = 3;

export const CAMPAIGN_USAGE = `Usage: npm run campaign -- <command> [options]

Campaigns through a running bridge (its /campaigns API, authorised with API_TOKEN).

Commands:
  create --csv <file> [options]   creates a campaign from a CSV file and starts it; prints its id
  status <id> [--watch]           counts and outcomes; --watch follows it until it is completed or canceled
  pause <id>                      no new dial until resumed (calls under way go on)
  resume <id>                     dials again
  cancel <id>                     every task not yet dialed ends canceled
  results <id>                    prints the results CSV (one row per task)

Options of create:
  --csv <file>              the tasks: a header row with a "to" column (E.164 numbers), an optional
                            "timezone" column (IANA), every other column a dynamic variable   required
  --name <text>             the campaign's name (default: the file's name)
  --from <number>           your Twilio number to call from (default: OUTBOUND_FROM_NUMBER)
  --agent <agent_id>        the Retell agent (default: AGENT_ROUTES[from], else RETELL_AGENT_ID)
  --window <HH:MM-HH:MM>    dial only between these local times, e.g. 09:00-20:00 (default: any time)
  --timezone <IANA>         the window's time zone for tasks whose own is not known (default: UTC)
  --days <days>             the window's days: mon-fri, sat,sun, mon-sun (default: every day)
  --max-concurrency <n>     at most this many of its calls at once, 1-1000 (default: 5)
  --retry <outcomes>        dial again after these outcomes, comma-separated: no_answer, busy,
                            voicemail, failed
  --max-attempts <n>        with --retry: dials per task in all, 1-10 (default: 3)
  --retry-delay <duration>  with --retry: the wait before a retry: 90s, 10m, 1h, 1h30m, 1d (default: 1h)
  --voicemail <mode>        hangup, message or continue when a machine answers
  --message <text>          with --voicemail message: what to leave
  --ring-timeout <seconds>  how long to let each call ring, 5-600
  --paused                  upload everything but do not start it (start with resume)
  --idempotency-key <key>   identifies this creation; by default one derived from the file and the
                            options, so running the same command again continues or repeats it
                            without a second campaign; give another key to create a second one

Other options:
  --watch                   with status: redraw a progress bar until the campaign ends (in a terminal;
                            otherwise a line at each change)
  --interval <ms>           with --watch, how often to ask (default: 1000)
  --url <url>               where the bridge is (default: PUBLIC_URL)
  -h, --help                this text

API_TOKEN and PUBLIC_URL come from the same settings the bridge reads (environment variables, or a
.env file in the working directory); with neither and a sandbox (npm run dev) running in this
directory, the sandbox's.

Exit codes: 0 done (status --watch: the campaign ended), 1 the bridge refused the request (the reason
is printed; an unknown id, a wrong API_TOKEN, a campaign that cannot take the command), 2 bad
arguments or a CSV file that cannot be a task list (nothing was sent), 3 the bridge could not be
reached (run the same command again).`;

type Day = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
const DAYS: readonly Day[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const VOICEMAIL = ['hangup', 'message', 'continue'] as const;
/** What a campaign id looks like; anything else is a typo, said before asking the bridge. */
const CAMPAIGN_ID = /^cmp_[A-Za-z0-9_-]{1,100}$/;

/** The body of `POST /campaigns` the options make (tasks follow in parts). */
export interface CampaignBody {
  name: string;
  paused: true;
  from?: string;
  agent_id?: string;
  window?: { start: string; end: string; days?: Day[]; timezone?: string };
  max_concurrency?: number;
  retry?: { on: string[]; max_attempts: number; delay_s: number };
  voicemail?: (typeof VOICEMAIL)[number];
  voicemail_message?: string;
  ring_timeout_s?: number;
}

export type CampaignCommand =
  | { kind: 'create'; csvPath: string; body: CampaignBody; start: boolean; idempotencyKey?: string }
  | { kind: 'status'; id: string; watch: boolean; intervalMs: number }
  | { kind: 'pause' | 'resume' | 'cancel'; id: string }
  | { kind: 'results'; id: string };

export interface CampaignOptions {
  url?: string;
  command: CampaignCommand;
}

const CAMPAIGN_OPTIONS = {
  csv: { type: 'string' },
  name: { type: 'string' },
  from: { type: 'string' },
  agent: { type: 'string' },
  window: { type: 'string' },
  timezone: { type: 'string' },
  days: { type: 'string' },
  'max-concurrency': { type: 'string' },
  retry: { type: 'string' },
  'max-attempts': { type: 'string' },
  'retry-delay': { type: 'string' },
  voicemail: { type: 'string' },
  message: { type: 'string' },
  'ring-timeout': { type: 'string' },
  paused: { type: 'boolean', default: false },
  'idempotency-key': { type: 'string' },
  watch: { type: 'boolean', default: false },
  interval: { type: 'string' },
  url: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

type OptionName = keyof typeof CAMPAIGN_OPTIONS;
const CREATE_ONLY: readonly OptionName[] = [
  'csv', 'name', 'from', 'agent', 'window', 'timezone', 'days', 'max-concurrency', 'retry', 'max-attempts', 'retry-delay',
  'voicemail', 'message', 'ring-timeout', 'paused', 'idempotency-key',
];
const STATUS_ONLY: readonly OptionName[] = ['watch', 'interval'];
const COMMANDS = ['create', 'status', 'pause', 'resume', 'cancel', 'results'] as const;

const wholeNumber = (flag: string, value: string, min: number, max: number): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${flag} "${value}" must be a whole number from ${min} to ${max}`);
  return n;
};

/** `90`, `90s`, `10m`, `1h30m`, `1d` → seconds. */
export function parseDuration(flag: string, value: string): number {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$/.exec(value.trim());
  const seconds = m && value.trim() !== '' ? Number(m[1] ?? 0) * 86_400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0) : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1) throw new UsageError(`${flag} "${value}" is not a duration: write e.g. 90s, 10m, 1h, 1h30m or 1d (at least 1 s)`);
  return seconds;
}

/** `09:00-20:00` → start and end. The bridge judges the pair (e.g. an end before the start). */
export function parseWindow(value: string): { start: string; end: string } {
  const m = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/.exec(value.trim());
  if (!m || (m[3] === '24' && m[4] !== '00')) throw new UsageError(`--window "${value}" must be HH:MM-HH:MM in 24-hour time, e.g. 09:00-20:00`);
  return { start: `${m[1]}:${m[2]}`, end: `${m[3]}:${m[4]}` };
}

/** `mon-fri`, `sat,sun`, `fri-mon` (wrapping), `mon,wed-fri` → days in week order. */
export function parseDays(value: string): Day[] {
  const days = new Set<Day>();
  const bad = () => new UsageError(`--days "${value}" must name days as mon, tue, wed, thu, fri, sat, sun, in ranges or lists, e.g. mon-fri or sat,sun`);
  for (const item of value.toLowerCase().split(',')) {
    const [a, b, ...rest] = item.trim().split('-');
    const from = DAYS.indexOf(a as Day);
    const to = b === undefined ? from : DAYS.indexOf(b as Day);
    if (rest.length || from < 0 || to < 0) throw bad();
    for (let i = from; ; i = (i + 1) % 7) {
      days.add(DAYS[i]!);
      if (i === to) break;
    }
  }
  return DAYS.filter((d) => days.has(d));
}

function parseUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new UsageError(`--url "${value}" is not an http(s) URL; give the bridge's origin, e.g. https://my-bridge.onrender.com`);
  }
  return value.replace(/\/+$/, '');
}

export function parseCampaignArgs(argv: readonly string[]): CampaignOptions | 'help' {
  const parsed = parseToolArgs(argv, CAMPAIGN_OPTIONS, { positionals: true });
  const v = parsed.values;
  if (v.help) return 'help';
  const [name, ...rest] = parsed.positionals;
  if (!name) throw new UsageError(`which command? ${COMMANDS.join(', ')}`);
  const kind = COMMANDS.find((c) => c === name);
  if (!kind) throw new UsageError(`"${name}" is not a command: ${COMMANDS.join(', ')}`);
  const given = (Object.keys(v) as OptionName[]).filter((k) => k in CAMPAIGN_OPTIONS && argv.some((a) => a === `--${k}` || a.startsWith(`--${k}=`)));
  const allowed = new Set<OptionName>(['url', ...(kind === 'create' ? CREATE_ONLY : kind === 'status' ? STATUS_ONLY : [])]);
  const foreign = given.filter((k) => !allowed.has(k));
  if (foreign.length) throw new UsageError(`${foreign.map((k) => `--${k}`).join(', ')} ${foreign.length === 1 ? 'does' : 'do'} not go with ${kind}`);
  const url = parseUrl(v.url);

  if (kind === 'create') {
    if (rest.length) throw new UsageError(`create takes no ${rest.length === 1 ? 'argument' : 'arguments'} besides its options (got ${rest.join(' ')})`);
    if (!v.csv) throw new UsageError('create needs --csv <file>: a header row with a "to" column, one task a row');
    if (v.from !== undefined && !E164.test(v.from)) throw new UsageError(`--from "${v.from}" is not an E.164 number, e.g. +14155550100`);
    if ((v.timezone !== undefined || v.days !== undefined) && v.window === undefined) {
      throw new UsageError(`${v.timezone !== undefined ? '--timezone' : '--days'} belongs to a window: give --window too, e.g. --window 09:00-20:00`);
    }
    if (v.timezone !== undefined && !validTimeZone(v.timezone)) throw new UsageError(`--timezone "${v.timezone}" is not an IANA time zone, e.g. America/New_York or Europe/Paris`);
    if ((v['max-attempts'] !== undefined || v['retry-delay'] !== undefined) && v.retry === undefined) {
      throw new UsageError(`${v['max-attempts'] !== undefined ? '--max-attempts' : '--retry-delay'} goes with --retry <outcomes>, e.g. --retry no_answer,busy`);
    }
    const retryOn = v.retry?.split(',').map((s) => s.trim()).filter(Boolean);
    if (retryOn !== undefined && (retryOn.length === 0 || retryOn.some((o) => !/^[a-z_]{1,40}$/.test(o)))) {
      throw new UsageError(`--retry "${v.retry}" must list outcomes separated by commas, e.g. no_answer,busy,voicemail`);
    }
    if (v.voicemail !== undefined && !VOICEMAIL.includes(v.voicemail as (typeof VOICEMAIL)[number])) {
      throw new UsageError(`--voicemail must be ${VOICEMAIL.join(', ')} (got "${v.voicemail}")`);
    }
    if (v.voicemail === 'message' && !v.message) throw new UsageError('--voicemail message needs --message: what to leave after the beep');
    if (v.message !== undefined && v.voicemail !== 'message') throw new UsageError('--message only goes with --voicemail message');
    const key = v['idempotency-key'];
    if (key !== undefined && !/^[\x21-\x7e]{1,200}$/.test(key)) throw new UsageError('--idempotency-key must be 1-200 printable ASCII characters without spaces');
    const body: CampaignBody = {
      name: v.name ?? path.basename(v.csv).replace(/\.csv$/i, ''),
      paused: true,
      ...(v.from ? { from: v.from } : {}),
      ...(v.agent ? { agent_id: v.agent } : {}),
      ...(v.window !== undefined
        ? { window: { ...parseWindow(v.window), ...(v.days !== undefined ? { days: parseDays(v.days) } : {}), ...(v.timezone ? { timezone: v.timezone } : {}) } }
        : {}),
      ...(v['max-concurrency'] !== undefined ? { max_concurrency: wholeNumber('--max-concurrency', v['max-concurrency'], 1, 1000) } : {}),
      ...(retryOn
        ? {
            retry: {
              on: retryOn,
              max_attempts: v['max-attempts'] === undefined ? 3 : wholeNumber('--max-attempts', v['max-attempts'], 1, 10),
              delay_s: v['retry-delay'] === undefined ? 3600 : parseDuration('--retry-delay', v['retry-delay']),
            },
          }
        : {}),
      ...(v.voicemail ? { voicemail: v.voicemail as (typeof VOICEMAIL)[number] } : {}),
      ...(v.message ? { voicemail_message: v.message } : {}),
      ...(v['ring-timeout'] !== undefined ? { ring_timeout_s: wholeNumber('--ring-timeout', v['ring-timeout'], 5, 600) } : {}),
    };
    return { url, command: { kind, csvPath: v.csv, body, start: !v.paused, ...(key ? { idempotencyKey: key } : {}) } };
  }

  const [id, ...extra] = rest;
  if (!id) throw new UsageError(`${kind} needs the campaign's id, e.g. npm run campaign -- ${kind} cmp_…`);
  if (extra.length) throw new UsageError(`${kind} takes one campaign id (got ${rest.join(' ')})`);
  if (!CAMPAIGN_ID.test(id)) throw new UsageError(`"${id}" is not a campaign id: they look like cmp_… (create prints it; GET /campaigns lists them)`);
  if (kind === 'status') {
    if (v.interval !== undefined && !v.watch) throw new UsageError('--interval goes with --watch');
    return { url, command: { kind, id, watch: v.watch, intervalMs: v.interval === undefined ? 1000 : wholeNumber('--interval', v.interval, 50, 60_000) } };
  }
  return { url, command: kind === 'results' ? { kind, id } : { kind, id } };
}

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.includes('/') || zone === 'UTC';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------
// The bridge's API

/** An answer from the bridge. */
interface Answer {
  status: number;
  body: Record<string, unknown> | undefined;
  text: string;
}

/** Nothing answered (or only gateway errors) after the retries. */
class Unreachable extends Error {}

const REQUEST_TIMEOUT_MS = 60_000;
/** Waits before each retry of a request that is safe to repeat (a read, or one with an Idempotency-Key). */
const RETRY_DELAYS_MS = [500, 1500, 4000];

class BridgeApi {
  constructor(
    readonly base: string,
    private readonly token: string,
  ) {}

  /** One request; network errors and 502/503/504 are retried, since every request here may be repeated safely. */
  async send(method: 'GET' | 'POST', pathname: string, opts: { json?: unknown; csv?: string; key?: string } = {}): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (opts.key) headers['idempotency-key'] = opts.key;
    let body: string | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.csv !== undefined) {
      headers['content-type'] = 'text/csv; charset=utf-8';
      body = opts.csv;
    }
    let last = '';
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(`${this.base}${pathname}`, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        const text = await res.text();
        if (![502, 503, 504].includes(res.status) || attempt >= RETRY_DELAYS_MS.length) return { status: res.status, body: parseJson(text), text };
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = causeOf(err);
        if (attempt >= RETRY_DELAYS_MS.length) throw new Unreachable(last);
      }
      await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt]));
    }
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function causeOf(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

/** Why the bridge said no, in one line. */
function reasonOf(answer: Answer): string {
  const b = answer.body;
  const reason = typeof b?.reason === 'string' ? b.reason : typeof b?.error === 'string' ? b.error : answer.text.slice(0, 500);
  const details = Array.isArray(b?.errors) ? ` ${JSON.stringify(b.errors).slice(0, 500)}` : '';
  return `${reason}${details}`.trim() || '(no reason given)';
}

/** Prints a refusal with a hint for the usual causes; returns the exit code. */
function refused(out: Output, what: string, answer: Answer, base: string, id?: string): number {
  out.error(`The bridge refused ${what} (HTTP ${answer.status}): ${reasonOf(answer)}`);
  if (answer.status === 401) out.error('API_TOKEN here differs from the deployment\'s.');
  if (answer.status === 404 && id) out.error(`No campaign ${id} at ${displayUrl(base)} (or campaigns are off there: no API_TOKEN, or it is not the bridge).`);
  else if (answer.status === 404) out.error(`Campaigns are off at ${displayUrl(base)} (no API_TOKEN there), or it is not the bridge.`);
  return EXIT_FAILED;
}

function unreachable(out: Output, base: string, err: Unreachable): number {
  out.error(`Nothing answered at ${displayUrl(base)}: ${err.message}. Is the bridge running there (--url)? Running the same command again is safe.`);
  return EXIT_UNREACHABLE;
}

// ---------------------------------------------------------------------------------------------------
// The commands

/** A campaign as `GET /campaigns/{id}` describes it. */
export interface CampaignView {
  id: string;
  name?: string;
  status: string;
  created_at?: string;
  counts: Partial<Record<'total' | 'pending' | 'scheduled' | 'dialing' | 'in_progress' | 'completed' | 'canceled' | 'skipped_dnc', number>>;
  outcomes?: Record<string, number>;
}

const ENDED = new Set(['completed', 'canceled']);
const COUNT_NAMES: ReadonlyArray<[keyof CampaignView['counts'], string]> = [
  ['pending', 'pending'],
  ['scheduled', 'scheduled'],
  ['dialing', 'dialing'],
  ['in_progress', 'in progress'],
  ['completed', 'completed'],
  ['canceled', 'canceled'],
  ['skipped_dnc', 'do-not-call'],
];

/** Tasks with a final state. */
export function doneCount(c: CampaignView): number {
  return (c.counts.completed ?? 0) + (c.counts.canceled ?? 0) + (c.counts.skipped_dnc ?? 0);
}

export function progressBar(done: number, total: number, width = 30): string {
  const share = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(share * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(share * 100)).padStart(3)}% ${done}/${total}`;
}

const outcomesLine = (c: CampaignView) => {
  const entries = Object.entries(c.outcomes ?? {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  return entries.length ? entries.map(([o, n]) => `${o} ${n}`).join(', ') : 'none yet';
};

/** The status block: the campaign, a progress bar, its counts and outcomes. */
export function describeCampaign(c: CampaignView): string[] {
  const total = c.counts.total ?? 0;
  return [
    `${c.id}${c.name ? ` "${c.name}"` : ''}: ${c.status}${c.created_at ? `, created ${c.created_at}` : ''}`,
    progressBar(doneCount(c), total),
    `tasks ${total}: ${COUNT_NAMES.map(([k, label]) => `${label} ${c.counts[k] ?? 0}`).join(', ')}`,
    `outcomes: ${outcomesLine(c)}`,
  ];
}

/** One line for a log (status --watch without a terminal). */
export function campaignLine(c: CampaignView): string {
  const active = COUNT_NAMES.filter(([k]) => k !== 'completed' && k !== 'canceled' && k !== 'skipped_dnc' && (c.counts[k] ?? 0) > 0);
  return `${c.status} ${doneCount(c)}/${c.counts.total ?? 0} done${active.length ? `, ${active.map(([k, label]) => `${label} ${c.counts[k]}`).join(', ')}` : ''}; outcomes: ${outcomesLine(c)}`;
}

/** Where status --watch draws: a terminal gets the block redrawn in place, anything else a line at each change. */
export interface Terminal {
  isTTY: boolean;
  /** Its width: longer lines are cut, since a wrapped line would throw off the redraw. */
  columns?: number;
  write(text: string): void;
}

const clock = () => new Date().toISOString().slice(11, 19);

async function getCampaign(api: BridgeApi, id: string): Promise<Answer> {
  return api.send('GET', `/campaigns/${encodeURIComponent(id)}`);
}

async function status(api: BridgeApi, cmd: Extract<CampaignCommand, { kind: 'status' }>, out: Output, terminal: Terminal | undefined): Promise<number> {
  let drawn = 0;
  let last = '';
  for (let first = true; ; first = false) {
    if (!first) await new Promise((r) => setTimeout(r, cmd.intervalMs));
    let got: Answer;
    try {
      got = await getCampaign(api, cmd.id);
    } catch (err) {
      if (!(err instanceof Unreachable)) throw err;
      if (!cmd.watch) return unreachable(out, api.base, err);
      out.error(`${clock()} could not ask the bridge: ${err.message}; trying again`);
      continue;
    }
    if (got.status !== 200 || !got.body) return refused(out, `the status of ${cmd.id}`, got, api.base, cmd.id);
    const campaign = got.body as unknown as CampaignView;
    if (!cmd.watch) {
      out.info(describeCampaign(campaign).join('\n'));
      return EXIT_OK;
    }
    if (terminal?.isTTY) {
      const width = terminal.columns && terminal.columns > 10 ? terminal.columns - 1 : Infinity;
      const lines = describeCampaign(campaign).map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
      // Up to the start of the previous block and clear to the end of the screen, then draw again.
      terminal.write(`${drawn ? `\x1b[${drawn}F\x1b[J` : ''}${lines.join('\n')}\n`);
      drawn = lines.length;
    } else {
      const line = campaignLine(campaign);
      if (line !== last) out.info(`${clock()} ${line}`);
      last = line;
    }
    if (ENDED.has(campaign.status)) return EXIT_OK;
  }
}

async function control(api: BridgeApi, cmd: { kind: 'pause' | 'resume' | 'cancel'; id: string }, out: Output): Promise<number> {
  let got: Answer;
  try {
    got = await api.send('POST', `/campaigns/${encodeURIComponent(cmd.id)}/${cmd.kind}`);
  } catch (err) {
    if (err instanceof Unreachable) return unreachable(out, api.base, err);
    throw err;
  }
  if (got.status < 200 || got.status >= 300) return refused(out, `to ${cmd.kind} ${cmd.id}`, got, api.base, cmd.id);
  const now = typeof got.body?.status === 'string' ? got.body.status : undefined;
  out.info(`${cmd.id}: ${now ?? `${cmd.kind} accepted`}`);
  return EXIT_OK;
}

async function results(api: BridgeApi, id: string, out: Output): Promise<number> {
  let got: Answer;
  try {
    got = await api.send('GET', `/campaigns/${encodeURIComponent(id)}/results.csv`);
  } catch (err) {
    if (err instanceof Unreachable) return unreachable(out, api.base, err);
    throw err;
  }
  if (got.status !== 200) return refused(out, `the results of ${id}`, got, api.base, id);
  out.info(got.text.replace(/\r?\n$/, ''));
  return EXIT_OK;
}

/** At most this many skipped rows are printed one by one; the rest are counted. */
const SKIPPED_SHOWN = 50;

interface Skipped {
  row: number;
  to: string;
  reason: string;
}

/**
 * Uploads one part; a part the bridge finds too large (413) goes again as two halves, each with a key of
 * its own. Returns the rows added and skipped (numbered as in the file), or the refusal.
 */
async function upload(api: BridgeApi, id: string, file: ParsedCsv, part: CsvPart, baseKey: string): Promise<{ added: number; skipped: Skipped[] } | { refusal: Answer; part: CsvPart }> {
  const got = await api.send('POST', `/campaigns/${encodeURIComponent(id)}/tasks`, { csv: part.csv, key: `${baseKey}:rows:${part.first}-${part.last}:${part.digest}` });
  if (got.status === 413 && part.last > part.first) {
    const middle = Math.floor((part.first + part.last) / 2);
    const halves = [csvPart(file, part.first, middle), csvPart(file, middle + 1, part.last)];
    let added = 0;
    const skipped: Skipped[] = [];
    for (const half of halves) {
      const r = await upload(api, id, file, half, baseKey);
      if ('refusal' in r) return r;
      added += r.added;
      skipped.push(...r.skipped);
    }
    return { added, skipped };
  }
  if (got.status !== 200 || typeof got.body?.added !== 'number') return { refusal: got, part };
  const toColumn = file.header.indexOf('to');
  const skipped = (Array.isArray(got.body.skipped) ? (got.body.skipped as Array<{ row?: unknown; reason?: unknown }>) : []).map((s) => {
    // The bridge names a row by the line of the part it ends on; the part's rows are the file's.
    const row = typeof s.row === 'number' ? (rowOfLine(part, s.row) ?? 0) : 0;
    return { row, to: file.rows[row - 1]?.[toColumn] ?? '', reason: typeof s.reason === 'string' ? s.reason : 'skipped' };
  });
  return { added: got.body.added, skipped };
}

async function create(api: BridgeApi, cmd: Extract<CampaignCommand, { kind: 'create' }>, out: Output): Promise<number> {
  let file: ParsedCsv;
  try {
    file = parseCampaignCsv(readFileSync(cmd.csvPath, 'utf8'));
  } catch (err) {
    if (err instanceof CsvFileError) out.error(`campaign: --csv ${cmd.csvPath}: ${err.message}`);
    else out.error(`campaign: cannot read --csv ${cmd.csvPath}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    return EXIT_USAGE;
  }
  const parts = splitCampaignCsv(file);
  const key = cmd.idempotencyKey ?? `cli-${createHash('sha256').update(JSON.stringify(cmd.body)).update(file.digest).digest('hex').slice(0, 40)}`;

  let made: Answer;
  try {
    made = await api.send('POST', '/campaigns', { json: cmd.body, key });
    if (made.status !== 201 && made.status !== 200) return refused(out, 'the campaign', made, api.base);
    const id = made.body?.id;
    if (typeof id !== 'string') return refused(out, 'the campaign', made, api.base);
    const already = typeof made.body?.status === 'string' && made.body.status !== 'paused';
    if (already) {
      // The key found a campaign this command made before, and it was started: every row was in by then.
      out.info(`${clock()} ${id} was created from this file before and is ${String(made.body?.status)}; nothing added (another --idempotency-key makes a new campaign)`);
      out.info(`${clock()} follow it: npm run campaign -- status ${id} --watch`);
      return EXIT_OK;
    }
    out.info(`${clock()} created ${id} (paused), uploading ${file.rows.length} ${file.rows.length === 1 ? 'row' : 'rows'}${parts.length > 1 ? ` in ${parts.length} parts` : ''}`);

    let added = 0;
    const skipped: Skipped[] = [];
    for (const part of parts) {
      const r = await upload(api, id, file, part, key);
      if ('refusal' in r) {
        refused(out, `rows ${r.part.first}-${r.part.last}`, r.refusal, api.base);
        out.error(`${id} stays paused with the rows before ${r.part.first} in it. Fix the cause and run the same command again: rows already in are not added twice.`);
        return EXIT_FAILED;
      }
      added += r.added;
      skipped.push(...r.skipped);
      if (parts.length > 1) out.info(`${clock()} rows ${part.first}-${part.last}: ${r.added} added, ${r.skipped.length} skipped`);
    }
    for (const s of skipped.slice(0, SKIPPED_SHOWN)) out.error(`${s.row ? `row ${s.row}` : 'a row'}${s.to ? ` (${s.to})` : ''} skipped: ${s.reason}`);
    if (skipped.length > SKIPPED_SHOWN) out.error(`… and ${skipped.length - SKIPPED_SHOWN} more rows skipped`);
    out.info(`${clock()} ${id}: ${added} ${added === 1 ? 'task' : 'tasks'} added, ${skipped.length} ${skipped.length === 1 ? 'row' : 'rows'} skipped`);

    if (!cmd.start) {
      out.info(`${clock()} ${id} is paused; start it with: npm run campaign -- resume ${id}`);
      return EXIT_OK;
    }
    const started = await api.send('POST', `/campaigns/${encodeURIComponent(id)}/resume`);
    if (started.status < 200 || started.status >= 300) {
      refused(out, `to start ${id}`, started, api.base, id);
      out.error(`Every row is in; start it with: npm run campaign -- resume ${id}`);
      return EXIT_FAILED;
    }
    out.info(`${clock()} started ${id}; follow it with: npm run campaign -- status ${id} --watch`);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof Unreachable) return unreachable(out, api.base, err);
    throw err;
  }
}

export async function campaignTool(config: CallToolConfig, options: CampaignOptions, out: Output, terminal?: Terminal): Promise<number> {
  const token = config.outbound.apiToken;
  if (!token) {
    out.error('API_TOKEN is not set: campaigns are off on a bridge without it. Set the deployment\'s API_TOKEN here too.');
    return EXIT_FAILED;
  }
  const api = new BridgeApi(options.url ?? config.publicUrl, token);
  const cmd = options.command;
  switch (cmd.kind) {
    case 'create':
      return create(api, cmd, out);
    case 'status':
      return status(api, cmd, out, terminal);
    case 'results':
      return results(api, cmd.id, out);
    default:
      return control(api, cmd, out);
  }
}

export async function runCampaign(argv: readonly string[], rawOut: Output, load?: () => CallToolConfig, terminal?: Terminal): Promise<number> {
  return runTool(
    {
      name: 'campaign',
      usage: CAMPAIGN_USAGE,
      options: CAMPAIGN_OPTIONS,
      parse: parseCampaignArgs,
      settings: callToolSettings,
      secrets: (config) => [config.outbound.apiToken],
      run: (config, options, out) => campaignTool(config, options, out, terminal),
    },
    argv,
    rawOut,
    load,
  );
}

if (require.main === module) {
  runAsProcess((argv, out) => runCampaign(argv, out, undefined, { isTTY: Boolean(process.stdout.isTTY), columns: process.stdout.columns, write: (text) => void process.stdout.write(text) }));
}
