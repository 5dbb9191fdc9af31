import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../../config';
import type { Logger } from '../../observability/logger';
import type { EventSink } from '../events';
import { dialDefaults, type OutboundCalls, type OutboundStore } from '../outbound';
import {
  CAMPAIGN_ID,
  attemptsOf,
  effectiveStatus,
  taskId,
  taskSeq,
  taskView,
  type CampaignSettings,
  type CampaignStatus,
  type CampaignView,
  type StoredTask,
  type TaskStatus,
  type TaskView,
} from './model';
import { DEFAULT_MAX_CONCURRENCY, checkTask, type CampaignBody, type TaskInput } from './input';
import type { CampaignRecord, CampaignRepository, NewTask } from './repository';
import { nextOpening, parseClock, WEEKDAYS, zoneOfNumber, type CallWindow } from './windows';

/** Which of `numbers` are on the do-not-call list, in order. */
export type DoNotCallCheck = (numbers: string[]) => Promise<boolean[]>;

export interface CampaignsDeps {
  config: Pick<Config, 'outbound' | 'retell'>;
  repository: CampaignRepository;
  isDoNotCall: DoNotCallCheck;
  /** Where `campaign.task.completed` (tasks skipped at import) and `campaign.completed` (a cancel or resume that ended it) go. */
  events: EventSink;
  /** The clock (ms): windows, start times and retries are read on it. @defaultValue Date.now */
  now?: () => number;
  /**
   * The outbound calls of attempts: a cancel stops those still queued (not yet dialed) through the
   * outbound cancel. @defaultValue none (queued attempts are placed)
   */
  outbound?: { store: Pick<OutboundStore, 'get'>; calls: Pick<OutboundCalls, 'cancel'> };
  logger: Logger;
}

export type CreateOutcome =
  | { kind: 'created' | 'repeat'; campaign: CampaignView }
  | { kind: 'invalid'; reason: string; tasks?: Array<{ index: number; reason: string }> }
  | { kind: 'key_reused'; reason: string };

export type AddOutcome =
  | { kind: 'added' | 'repeat'; added: number; skipped: Array<{ row: number; reason: string }> }
  | { kind: 'unknown' }
  | { kind: 'closed'; reason: string }
  | { kind: 'key_reused'; reason: string };

/** A task row as received: its row (index in `tasks`, or CSV line) and the raw value. */
export interface TaskRow {
  row: number;
  raw: unknown;
}

/** In-flight tasks a cancel looks at (max_concurrency bounds how many there are). */
const MAX_IN_FLIGHT_LOOKED_AT = 10_000;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** JSON with keys sorted at every level, so the same request always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value as object).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A campaign's id: derived from the Idempotency-Key, so one key is one campaign; random without one. */
export function campaignIdFor(key: string | undefined): string {
  return `cmp_${key === undefined ? randomBytes(16).toString('hex') : sha256(`campaign-key:${key}`).slice(0, 32)}`;
}

export function parseSettings(record: CampaignRecord): CampaignSettings {
  return JSON.parse(record.settings) as CampaignSettings;
}

/** The window as the scheduler reads it (days as luxon weekdays), or undefined for any time. */
export function resolvedWindow(settings: CampaignSettings): CallWindow | undefined {
  const w = settings.window;
  if (!w) return undefined;
  const days = (w.days ?? WEEKDAYS).map((d) => WEEKDAYS.indexOf(d as (typeof WEEKDAYS)[number]) + 1);
  return { startMin: parseClock(w.start)!, endMin: parseClock(w.end)!, days };
}

/** A task's zone: its own, else the one its number determines, else the window's, else UTC. */
export function taskZone(task: TaskInput, settings: CampaignSettings): string {
  return task.timezone ?? zoneOfNumber(task.to) ?? settings.window?.timezone ?? 'UTC';
}

/** A campaign as the API shows it; `retentionMs` gives an ended one its `expires_at`. */
export function campaignView(r: CampaignRecord, retentionMs?: number): CampaignView {
  const s = parseSettings(r);
  return {
    id: r.id,
    ...(s.name ? { name: s.name } : {}),
    status: r.status,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    ...(s.start_at ? { start_at: s.start_at } : {}),
    ...(r.completedAt ? { completed_at: r.completedAt } : {}),
    ...(r.endedAt ? { ended_at: r.endedAt } : {}),
    ...(r.endedAt && retentionMs !== undefined ? { expires_at: new Date(Date.parse(r.endedAt) + retentionMs).toISOString() } : {}),
    ...(s.from ? { from: s.from } : {}),
    ...(s.agent_id ? { agent_id: s.agent_id } : {}),
    ...(s.window ? { window: s.window } : {}),
    max_concurrency: s.max_concurrency,
    retry: s.retry,
    counts: r.counts,
    outcomes: r.outcomes,
  };
}

const DUPLICATE = 'duplicate: the number is already in the campaign';

/** How many events of tasks skipped at import are written at once (one XADD each, pipelined). */
const DNC_EVENTS_AT_ONCE = 500;

/**
 * `campaign.task.completed` for each task found on the do-not-call list when it was added (attempts 0).
 * The writes go out in batches without waiting for each reply, so 10,000 of them take one round trip per
 * batch. Same event ids as the scheduler's for a task, so a repeat is the same event.
 */
export async function emitSkippedAtImport(events: EventSink, campaignId: string, skipped: Array<{ id: string; to: string }>): Promise<void> {
  if (!skipped.length || events.wants?.('campaign.task.completed') === false) return;
  for (let i = 0; i < skipped.length; i += DNC_EVENTS_AT_ONCE) {
    await Promise.all(
      skipped
        .slice(i, i + DNC_EVENTS_AT_ONCE)
        .map((t) => events.emit('campaign.task.completed', { campaign_id: campaignId, task_id: t.id, to: t.to, outcome: 'do_not_call', attempts: 0 }, { key: `${campaignId}:${t.id}` })),
    );
  }
}

/** `campaign.completed` for a campaign that just ended (completed, or canceled with its last call over). */
export async function emitCampaignEnded(events: EventSink, logger: Logger, record: CampaignRecord): Promise<void> {
  const status = record.status === 'canceled' ? 'canceled' : 'completed';
  logger.info({ campaignId: record.id, status, counts: record.counts }, status === 'canceled' ? 'canceled campaign ended: no call under way' : 'campaign completed');
  await events.emit('campaign.completed', { campaign_id: record.id, status, counts: { ...record.counts } }, { key: record.id });
}

/**
 * Campaigns as the API and the console see them: create (with tasks inline), add tasks (JSON or CSV
 * rows), read, page through tasks, pause, resume, cancel, and the results. Dialing is the scheduler's.
 */
export class Campaigns {
  private readonly now: () => number;

  constructor(private readonly deps: CampaignsDeps) {
    this.now = deps.now ?? Date.now;
  }

  private view(record: CampaignRecord): CampaignView {
    return campaignView(record, this.deps.repository.retentionMs);
  }

  async create(body: CampaignBody, key: string | undefined): Promise<CreateOutcome> {
    const { config } = this.deps;
    const defaults = dialDefaults(body, config);
    if (!defaults.ok) return { kind: 'invalid', reason: defaults.reason };
    const { from, agentId, voicemail } = defaults;

    const rows = (body.tasks ?? []).map((raw, row) => ({ row, raw }));
    const checked = await checkAll(rows);
    const bad = checked.flatMap((c) => ('reason' in c.result ? [{ index: c.row, reason: c.result.reason }] : []));
    if (bad.length) {
      return { kind: 'invalid', reason: `${bad.length} task${bad.length > 1 ? 's are' : ' is'} invalid: nothing was created`, tasks: bad.slice(0, 100) };
    }

    const now = this.now();
    const startAt = body.start_at ? Date.parse(body.start_at) : 0;
    const settings: CampaignSettings = {
      ...(body.name ? { name: body.name } : {}),
      from,
      agent_id: agentId,
      ...(body.agent_version !== undefined ? { agent_version: body.agent_version } : {}),
      ...(body.window ? { window: body.window } : {}),
      ...(body.start_at ? { start_at: new Date(startAt).toISOString() } : {}),
      max_concurrency: body.max_concurrency ?? DEFAULT_MAX_CONCURRENCY,
      retry: {
        on: body.retry?.on ?? (body.retry ? ['no_answer', 'busy'] : []),
        max_attempts: body.retry?.max_attempts ?? 1,
        delay_s: body.retry?.delay_s ?? 3600,
      },
      voicemail,
      ...(body.voicemail_message !== undefined ? { voicemail_message: body.voicemail_message } : {}),
      ...(body.ring_timeout_s !== undefined ? { ring_timeout_s: body.ring_timeout_s } : {}),
      ...(body.record !== undefined ? { record: body.record } : {}),
    };
    const status: CampaignStatus = body.paused ? 'paused' : startAt > now ? 'scheduled' : 'running';
    const id = campaignIdFor(key);
    const hash = sha256(canonical(body));
    const tasks = await this.resolve(
      checked.map((c) => ({ row: c.row, task: (c.result as { task: TaskInput }).task })),
      settings,
      Math.max(now, startAt),
    );
    await this.deps.repository.register(id, now);
    const result = await this.deps.repository.add(id, {
      create: { id, status, createdAt: String(now), updatedAt: String(now), settings: JSON.stringify(settings), startAt: String(startAt), requestHash: hash, ix: '1', ...(key ? { idempotencyKey: key } : {}) },
      hash,
      vars: variableNames(tasks),
      tasks,
      now,
    });
    if (result.kind === 'different') return { kind: 'key_reused', reason: 'this Idempotency-Key was already used for a different request' };
    const record = await this.deps.repository.get(id);
    if (!record) throw new Error(`campaign ${id} vanished after creation`);
    if (result.kind === 'ok') {
      this.deps.logger.info({ campaignId: id, tasks: result.added, skippedDnc: result.skippedDnc.length, status }, 'campaign created');
      await emitSkippedAtImport(this.deps.events, id, result.skippedDnc);
    }
    return { kind: result.kind === 'same' ? 'repeat' : 'created', campaign: this.view(record) };
  }

  /** Adds tasks: the good ones are added, each bad one or number already in the campaign is listed by row. */
  async addTasks(id: string, rows: TaskRow[], key: string | undefined, requestHash: string): Promise<AddOutcome> {
    if (!CAMPAIGN_ID.test(id)) return { kind: 'unknown' };
    const record = await this.deps.repository.get(id);
    if (!record) return { kind: 'unknown' };
    if (record.status === 'completed' || record.status === 'canceled') return { kind: 'closed', reason: `the campaign is ${record.status}: create another` };
    const settings = parseSettings(record);
    const skipped: Array<{ row: number; reason: string }> = [];
    const good: Array<{ row: number; task: TaskInput }> = [];
    for (const { row, result } of await checkAll(rows)) {
      if ('reason' in result) skipped.push({ row, reason: result.reason });
      else good.push({ row, task: result.task });
    }
    const now = this.now();
    const tasks = await this.resolve(good, settings, Math.max(now, record.startAt));
    const result = await this.deps.repository.add(id, { key, hash: requestHash, vars: variableNames(tasks), tasks, now });
    if (result.kind === 'unknown') return { kind: 'unknown' };
    if (result.kind === 'closed') return { kind: 'closed', reason: `the campaign is ${result.status}: create another` };
    if (result.kind === 'different') return { kind: 'key_reused', reason: 'this Idempotency-Key was already used for a different request' };
    if (result.kind === 'ok') await emitSkippedAtImport(this.deps.events, id, result.skippedDnc);
    for (const row of result.duplicateRows) skipped.push({ row, reason: DUPLICATE });
    skipped.sort((a, b) => a.row - b.row);
    return { kind: result.kind === 'same' ? 'repeat' : 'added', added: result.added, skipped };
  }

  /** Zones, first due times and the do-not-call check, for tasks about to be stored. */
  private async resolve(tasks: Array<{ row: number; task: TaskInput }>, settings: CampaignSettings, from: number): Promise<NewTask[]> {
    const window = resolvedWindow(settings);
    const listed = tasks.length ? await this.deps.isDoNotCall(tasks.map((t) => t.task.to)) : [];
    // Every task of a request starts from the same moment: one opening per zone.
    const openings = new Map<string, number>();
    const opening = (z: string) => openings.get(z) ?? openings.set(z, nextOpening(from, z, window)).get(z)!;
    return tasks.map(({ row, task }, i) => {
      const z = taskZone(task, settings);
      const dnc = listed[i] === true;
      const dueAt = dnc ? undefined : opening(z);
      const state: StoredTask = { to: task.to, z, s: dnc ? 'skipped_dnc' : 'pending', ...(dnc ? { o: 'do_not_call' } : { n: dueAt }) };
      const data = task.dynamic_variables || task.metadata ? JSON.stringify({ ...(task.dynamic_variables ? { v: task.dynamic_variables } : {}), ...(task.metadata ? { m: task.metadata } : {}) }) : '';
      return { row, to: task.to, state, data, dueAt };
    });
  }

  async get(id: string): Promise<CampaignView | null> {
    if (!CAMPAIGN_ID.test(id)) return null;
    const record = await this.deps.repository.get(id);
    return record ? this.view(record) : null;
  }

  /** Campaigns, newest first; `cursor` is the previous page's `next_cursor`. */
  async list(opts: { limit?: number; cursor?: string } = {}): Promise<{ campaigns: CampaignView[]; next_cursor: string | null }> {
    const limit = Math.min(Math.max(opts.limit ?? 50, 1), 200);
    const before = opts.cursor && /^\d{1,15}$/.test(opts.cursor) ? Number(opts.cursor) : undefined;
    const page = await this.deps.repository.list(limit + 1, before);
    const ids = page.slice(0, limit).map((p) => p.id);
    const records = await this.deps.repository.getMany(ids);
    const campaigns = records.filter((r): r is CampaignRecord => r !== null).map((r) => this.view(r));
    // Records past their retention are gone: their ids leave the list too.
    await this.deps.repository.forget(ids.filter((_, i) => records[i] === null && page[i]!.createdMs < this.now() - 60_000));
    return { campaigns, next_cursor: page.length > limit ? String(page[limit - 1]!.createdMs) : null };
  }

  /**
   * A page of tasks in the order they were added, optionally of one status; `next_cursor` continues it
   * (null at the end). A filtered page is read from the status index: full, unless it is the last. A
   * campaign created before the index reads at most 20 pages' worth of tasks per filtered page, so its
   * page may come back short with a cursor to go on.
   */
  async tasks(id: string, opts: { status?: TaskStatus; cursor?: string; limit?: number } = {}): Promise<{ tasks: TaskView[]; next_cursor: string | null } | null> {
    if (!CAMPAIGN_ID.test(id)) return null;
    const record = await this.deps.repository.get(id);
    if (!record) return null;
    const limit = Math.min(Math.max(opts.limit ?? 100, 1), 1000);
    let next = opts.cursor && /^\d{1,9}$/.test(opts.cursor) ? Math.max(1, Number(opts.cursor)) : 1;
    if (opts.status && record.indexed) return this.tasksByStatus(record, opts.status, next, limit);
    const out: TaskView[] = [];
    const scanEnd = Math.min(record.seq, next + limit * (opts.status ? 20 : 1) - 1);
    scan: while (next <= scanEnd) {
      const size = Math.min(1000, scanEnd - next + 1);
      const rows = await this.deps.repository.tasks(id, Array.from({ length: size }, (_, i) => taskId(next + i)));
      for (let i = 0; i < size; i++) {
        const row = rows[i];
        if (row && (!opts.status || effectiveStatus(row.task, record.status) === opts.status)) {
          out.push({ ...taskView(row.id, row.task, record.status), ...(row.data.v ? { dynamic_variables: row.data.v } : {}) });
          if (out.length === limit) {
            next += i + 1;
            break scan;
          }
        }
      }
      next += size;
    }
    return { tasks: out, next_cursor: next <= record.seq ? String(next) : null };
  }

  /** A page of one status from the index: `limit` + 1 ids are read, the one past the page is the cursor. */
  private async tasksByStatus(record: CampaignRecord, status: TaskStatus, from: number, limit: number): Promise<{ tasks: TaskView[]; next_cursor: string | null }> {
    // A canceled campaign's waiting tasks are kept as they were, and read as canceled.
    const sources: TaskStatus[] =
      record.status !== 'canceled' ? [status] : status === 'canceled' ? ['canceled', 'pending', 'scheduled'] : status === 'pending' || status === 'scheduled' ? [] : [status];
    const ids = sources.length ? await this.deps.repository.idsByStatus(record.id, sources, from, limit + 1) : [];
    const rows = await this.deps.repository.tasks(record.id, ids.slice(0, limit));
    const tasks: TaskView[] = [];
    for (const row of rows) {
      // A task that moved on since the index was read is left out; the cursor is unchanged by it.
      if (row && effectiveStatus(row.task, record.status) === status) tasks.push({ ...taskView(row.id, row.task, record.status), ...(row.data.v ? { dynamic_variables: row.data.v } : {}) });
    }
    return { tasks, next_cursor: ids.length > limit ? String(taskSeq(ids[limit]!)) : null };
  }

  /** pause / resume / cancel. */
  async control(id: string, action: 'pause' | 'resume' | 'cancel'): Promise<{ kind: 'ok'; campaign: CampaignView } | { kind: 'unknown' } | { kind: 'conflict'; status: CampaignStatus }> {
    if (!CAMPAIGN_ID.test(id)) return { kind: 'unknown' };
    const result = await this.deps.repository.control(id, action, this.now());
    if (result.kind === 'unknown') return { kind: 'unknown' };
    if (result.kind === 'conflict') return { kind: 'conflict', status: result.status! };
    this.deps.logger.info({ campaignId: id, action, status: result.status }, 'campaign control');
    if (action === 'cancel' && result.status === 'canceled' && !result.ended) await this.stopQueuedAttempts(id);
    const record = await this.deps.repository.get(id);
    // A canceled campaign with calls under way stays on the scheduler's list until they are over.
    if (result.ended) {
      await this.deps.repository.retire(id);
      if (record) await emitCampaignEnded(this.deps.events, this.deps.logger, record);
    }
    return record ? { kind: 'ok', campaign: this.view(record) } : { kind: 'unknown' };
  }

  /**
   * A cancel ends every task not yet dialed, including those whose attempt is already queued as an
   * outbound call: each such call is canceled through the outbound cancel (exactly once, however often
   * the campaign is canceled), and its attempt ends `canceled` through the outbound hook. Calls being
   * placed or ringing go on, as every call under way does.
   */
  private async stopQueuedAttempts(id: string): Promise<void> {
    const outbound = this.deps.outbound;
    if (!outbound) return;
    const { repository, logger } = this.deps;
    const taskIds = await repository.inflight(id, MAX_IN_FLIGHT_LOOKED_AT);
    const rows = await repository.tasks(id, taskIds);
    const attempts = rows.flatMap((row) => {
      const last = row && row.task.s === 'dialing' ? attemptsOf(row.task).at(-1) : undefined;
      return last && !last.o ? [last.i] : [];
    });
    let stopped = 0;
    for (let i = 0; i < attempts.length; i += 50) {
      await Promise.all(
        attempts.slice(i, i + 50).map(async (outboundId) => {
          try {
            const record = await outbound.store.get(outboundId);
            if (record?.status !== 'queued') return;
            const result = await outbound.calls.cancel(outboundId);
            if (result.kind === 'canceled' || result.kind === 'cancel_requested') stopped++;
          } catch (err) {
            logger.error({ campaignId: id, outboundId, err: (err as Error).message }, 'could not cancel a queued attempt of a canceled campaign');
          }
        }),
      );
    }
    if (stopped) logger.info({ campaignId: id, stopped }, 'canceled campaign: its queued calls canceled');
  }

  /**
   * The results as CSV lines, one per task in the order added (`to,status,outcome,attempts,call_sid,
   * retell_call_id,answered_by`, then its variables), read 1,000 tasks at a time.
   */
  async *results(id: string): AsyncGenerator<string> {
    const record = await this.deps.repository.get(id);
    if (!record) return;
    const vars = await this.deps.repository.variableNames(id);
    yield `${['to', 'status', 'outcome', 'attempts', 'call_sid', 'retell_call_id', 'answered_by', ...vars].map(csvCell).join(',')}\r\n`;
    for (let next = 1; next <= record.seq; next += 1000) {
      const ids = Array.from({ length: Math.min(1000, record.seq - next + 1) }, (_, i) => taskId(next + i));
      const rows = await this.deps.repository.tasks(id, ids);
      let chunk = '';
      for (const row of rows) {
        if (!row) continue;
        const t = row.task;
        const attempts = attemptsOf(t);
        const last = attempts[attempts.length - 1];
        const status = effectiveStatus(t, record.status);
        const outcome = t.o ?? (status === 'canceled' ? 'canceled' : '');
        const cells = [t.to, status, outcome, String(attempts.length), last?.c ?? '', last?.r ?? '', last?.b ?? '', ...vars.map((v) => row.data.v?.[v] ?? '')];
        chunk += `${cells.map(csvCell).join(',')}\r\n`;
      }
      yield chunk;
    }
  }
}

/**
 * Checks each row, giving the event loop back every 500 rows: 10,000 numbers take about half a second
 * to check, and the web process answers Twilio's webhooks meanwhile.
 */
async function checkAll(rows: TaskRow[]): Promise<Array<{ row: number; result: ReturnType<typeof checkTask> }>> {
  const out: Array<{ row: number; result: ReturnType<typeof checkTask> }> = [];
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && i % 500 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    out.push({ row: rows[i]!.row, result: checkTask(rows[i]!.raw) });
  }
  return out;
}

function variableNames(tasks: NewTask[]): string[] {
  const names = new Set<string>();
  for (const t of tasks) {
    if (!t.data) continue;
    const v = (JSON.parse(t.data) as { v?: Record<string, string> }).v;
    if (v) for (const k of Object.keys(v)) if (names.size < 200) names.add(k);
  }
  return [...names];
}

/** A CSV cell: quoted when it holds a comma, quote or line break; a leading =, +, - or @ is prefixed with ' so spreadsheets do not run it. */
function csvCell(value: string): string {
  const safe = /^[=+\-@]/.test(value) && !/^\+\d+$/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

