import type { RedisClient } from '../../redis/connection';
import { ScriptedStore } from '../../redis/scripts';
import { TASK_STATUSES, type CampaignCounts, type CampaignStatus, type StoredTask, type TaskStatus } from './model';

/**
 * Keys of campaigns. Every key of one campaign carries its id as the hash tag, so each script below
 * touches one Redis Cluster slot; the two global keys (the list and the active set) are never in a
 * script with a campaign's.
 */
export function campaignKeys(prefix: string) {
  const base = (id: string) => `${prefix}:campaign:{${id}}`;
  return {
    /** Hash: status, settings (JSON), times, and the counters `c:<status>` and `o:<outcome>`. */
    campaign: base,
    /** Hash: task id → its state (compact JSON, changed by the scripts only). */
    tasks: (id: string) => `${base(id)}:tasks`,
    /** Hash: task id → its dynamic variables and metadata (JSON, written once, never rewritten). */
    data: (id: string) => `${base(id)}:data`,
    /** Set: the numbers in the campaign (a number already in it is skipped). */
    numbers: (id: string) => `${base(id)}:numbers`,
    /** Sorted set: waiting tasks by when they may next be dialed (ms, the window's next opening). */
    due: (id: string) => `${base(id)}:due`,
    /** Sorted set: tasks being dialed or on a call, by when last looked at (ms). */
    inflight: (id: string) => `${base(id)}:inflight`,
    /** Hash: Idempotency-Key → request hash and answer of POST /campaigns/{id}/tasks. */
    requests: (id: string) => `${base(id)}:requests`,
    /** Set: the dynamic-variable names seen (the results' columns). */
    vars: (id: string) => `${base(id)}:vars`,
    /**
     * Sorted set per task status: the task ids in it, scored by their number, so a page of one status is
     * read in order without scanning the others (a canceled campaign's waiting tasks stay in `pending` and
     * `scheduled`, and read as canceled).
     */
    byStatus: (id: string, status: TaskStatus) => `${base(id)}:by:${status}`,
    /** Sorted set: every campaign by creation time (ms). The two lists share a slot of their own. */
    all: `${prefix}:{campaigns}:all`,
    /** Set: campaigns the scheduler looks at (not completed or canceled). */
    active: `${prefix}:{campaigns}:active`,
  };
}

const COUNTERS = `
local function left(c)
  local n = 0
  for _, s in ipairs({'pending', 'scheduled', 'dialing', 'in_progress'}) do n = n + tonumber(redis.call('HGET', c, 'c:' .. s) or '0') end
  return n
end
local function attempts(t)
  if type(t.a) ~= 'table' then t.a = {} end
  return t.a
end
-- Every key of the campaign (named as campaignKeys names them, all in its slot) expires after the retention.
local function retain(c, ms)
  for _, k in ipairs({'', ':tasks', ':data', ':numbers', ':due', ':inflight', ':requests', ':vars'}) do
    redis.call('PEXPIRE', c .. k, ms)
  end
  for _, s in ipairs({'pending', 'scheduled', 'dialing', 'in_progress', 'completed', 'canceled', 'skipped_dnc'}) do
    redis.call('PEXPIRE', c .. ':by:' .. s, ms)
  end
end
-- Moves a task in the status index (campaignKeys' byStatus): out of 'from', into 'to' (either may be nil).
local function index(c, id, from, to)
  if from then redis.call('ZREM', c .. ':by:' .. from, id) end
  if to then redis.call('ZADD', c .. ':by:' .. to, tonumber(string.sub(id, 5)), id) end
end
-- Ends the campaign once nothing is left: a running or paused one with tasks becomes completed; a
-- canceled one ends once its calls under way are over. Only the call that ended it gets 'completed' or
-- 'canceled' back (so campaign.completed is sent once); its keys then expire after the retention.
local function complete_if_done(c, due, inflight, now, retain_ms)
  local st = redis.call('HGET', c, 'status')
  if st == 'completed' then return '' end
  if st == 'canceled' then
    if redis.call('HEXISTS', c, 'endedAt') == 1 or redis.call('ZCARD', inflight) > 0 then return '' end
    if tonumber(redis.call('HGET', c, 'c:dialing') or '0') + tonumber(redis.call('HGET', c, 'c:in_progress') or '0') > 0 then return '' end
    redis.call('HSET', c, 'endedAt', now, 'updatedAt', now)
    retain(c, retain_ms)
    return 'canceled'
  end
  if tonumber(redis.call('HGET', c, 'c:total') or '0') == 0 then return '' end
  if left(c) > 0 or redis.call('ZCARD', due) > 0 or redis.call('ZCARD', inflight) > 0 then return '' end
  redis.call('HSET', c, 'status', 'completed', 'completedAt', now, 'endedAt', now, 'updatedAt', now)
  retain(c, retain_ms)
  return 'completed'
end
`;

// Creates the campaign (mode 'create') or checks it takes tasks ('add'), then adds the tasks, skipping
// numbers already in it. Repeats of an Idempotency-Key get the first answer.
// KEYS: campaign, tasks, data, numbers, due, requests, vars
// ARGV: now, mode, key, hash, #campaign pairs, pairs..., #vars, vars..., then per task: row, to, state, data, score ('' = skipped_dnc)
// Answers 'ok', the answer kept for the key, then the id and number of each task skipped for do-not-call.
const ADD = `${COUNTERS}
local now, mode, key, hash = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if key ~= '' then
  local prev = redis.call('HGET', KEYS[6], key)
  if prev then
    if string.sub(prev, 1, #hash + 1) == hash .. '|' then return {'same', string.sub(prev, #hash + 2)} end
    return {'different'}
  end
end
local i = 5
local pairs_n = tonumber(ARGV[i])
if mode == 'create' then
  local existing = redis.call('HGET', KEYS[1], 'requestHash')
  if existing then
    if existing == hash then return {'same', ''} end
    return {'different'}
  end
  redis.call('HSET', KEYS[1], unpack(ARGV, i + 1, i + pairs_n * 2))
else
  local st = redis.call('HGET', KEYS[1], 'status')
  if not st then return {'unknown'} end
  if st == 'completed' or st == 'canceled' then return {'closed', st} end
end
i = i + pairs_n * 2 + 1
local vars_n = tonumber(ARGV[i])
for v = i + 1, i + vars_n do redis.call('SADD', KEYS[7], ARGV[v]) end
i = i + vars_n + 1
local added, pending, dnc, dup, dnc_ids = 0, 0, 0, {}, {}
while i + 4 <= #ARGV do
  local row, to, state, data, score = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if redis.call('SADD', KEYS[4], to) == 0 then
    dup[#dup + 1] = row
  else
    local id = 'tsk_' .. redis.call('HINCRBY', KEYS[1], 'seq', 1)
    redis.call('HSET', KEYS[2], id, state)
    if data ~= '' then redis.call('HSET', KEYS[3], id, data) end
    if score == '' then
      index(KEYS[1], id, nil, 'skipped_dnc')
      dnc = dnc + 1
      dnc_ids[#dnc_ids + 1] = id
      dnc_ids[#dnc_ids + 1] = to
    else
      index(KEYS[1], id, nil, 'pending')
      redis.call('ZADD', KEYS[5], score, id)
      pending = pending + 1
    end
    added = added + 1
  end
  i = i + 5
end
redis.call('HINCRBY', KEYS[1], 'c:total', added)
redis.call('HINCRBY', KEYS[1], 'c:pending', pending)
redis.call('HINCRBY', KEYS[1], 'c:skipped_dnc', dnc)
redis.call('HSET', KEYS[1], 'updatedAt', now)
local answer = added .. '|' .. table.concat(dup, ',')
if key ~= '' then redis.call('HSET', KEYS[6], key, hash .. '|' .. answer) end
-- A table built up, not unpack(): 10,000 skipped tasks are more than Lua's stack takes.
table.insert(dnc_ids, 1, answer)
table.insert(dnc_ids, 1, 'ok')
return dnc_ids
`;

// Takes up to ARGV[2] due tasks for dialing, within the campaign's max_concurrency (ARGV[3]); starts a
// scheduled campaign whose time came; completes one with nothing left, and ends a canceled one whose
// calls are over ('ended').
// KEYS: campaign, tasks, due, inflight. ARGV: now, max, max_concurrency, retention ms
const CLAIM = `${COUNTERS}
local now = tonumber(ARGV[1])
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'unknown'} end
if st == 'scheduled' then
  if now < tonumber(redis.call('HGET', KEYS[1], 'startAt') or '0') then return {'scheduled'} end
  redis.call('HSET', KEYS[1], 'status', 'running', 'updatedAt', ARGV[1])
  st = 'running'
end
if st == 'canceled' and complete_if_done(KEYS[1], KEYS[3], KEYS[4], ARGV[1], ARGV[4]) == 'canceled' then return {'ended'} end
if st ~= 'running' then return {st} end
if complete_if_done(KEYS[1], KEYS[3], KEYS[4], ARGV[1], ARGV[4]) == 'completed' then return {'completed'} end
local n = math.min(tonumber(ARGV[2]), tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[4]))
if n <= 0 then return {'full'} end
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, n)
local out = {'ok'}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[3], id)
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local t = cjson.decode(raw)
    redis.call('HINCRBY', KEYS[1], 'c:' .. t.s, -1)
    index(KEYS[1], id, t.s, 'dialing')
    t.s = 'dialing'
    t.k = (t.k or 0) + 1
    t.n = nil
    local enc = cjson.encode(t)
    redis.call('HSET', KEYS[2], id, enc)
    redis.call('HINCRBY', KEYS[1], 'c:dialing', 1)
    redis.call('ZADD', KEYS[4], now, id)
    out[#out + 1] = id
    out[#out + 1] = enc
  end
end
return out
`;

// Gives a claimed task back, its attempt not spent: to wait until ARGV[2] (outside its window, a paused
// campaign, a store that was unavailable), or canceled when its campaign was.
// KEYS: campaign, tasks, due, inflight. ARGV: id, score, now, retention ms
const RELEASE = `${COUNTERS}
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'unknown'} end
local t = cjson.decode(raw)
if t.s ~= 'dialing' then return {'stale'} end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'c:dialing', -1)
t.k = math.max(0, (t.k or 1) - 1)
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'canceled' then
  index(KEYS[1], ARGV[1], 'dialing', 'canceled')
  t.s = 'canceled'
  t.o = 'canceled'
  redis.call('HINCRBY', KEYS[1], 'c:canceled', 1)
else
  if #attempts(t) > 0 then t.s = 'scheduled' else t.s = 'pending' end
  index(KEYS[1], ARGV[1], 'dialing', t.s)
  t.n = tonumber(ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'c:' .. t.s, 1)
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(t))
return {'released', complete_if_done(KEYS[1], KEYS[3], KEYS[4], ARGV[3], ARGV[4])}
`;

// Records the attempt's outbound id just before it is placed, if the campaign still runs; a paused or
// canceled campaign gets the task back (RELEASE's rules). This is the point a pause or cancel races with.
// KEYS: campaign, tasks, due, inflight. ARGV: id, attempt, outbound id, now
const BEGIN = `${COUNTERS}
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'unknown'} end
local t = cjson.decode(raw)
if t.s ~= 'dialing' or t.k ~= tonumber(ARGV[2]) then return {'stale'} end
local a = attempts(t)
if #a >= t.k then return {'ok'} end
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'running' then return {'stopped', st} end
a[#a + 1] = { i = ARGV[3] }
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(t))
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
return {'ok'}
`;

// The attempt's call was answered.
// KEYS: campaign, tasks. ARGV: id, outbound id
const ANSWERED = `${COUNTERS}
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local t = cjson.decode(raw)
if t.s ~= 'dialing' or type(t.a) ~= 'table' or #t.a == 0 or t.a[#t.a].i ~= ARGV[2] then return 0 end
index(KEYS[1], ARGV[1], 'dialing', 'in_progress')
t.s = 'in_progress'
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(t))
redis.call('HINCRBY', KEYS[1], 'c:dialing', -1)
redis.call('HINCRBY', KEYS[1], 'c:in_progress', 1)
return 1
`;

// An attempt ended (or a dial was refused before placing, outbound id ''): recorded once; the task then
// waits for its retry at ARGV[7] (unless '' or the campaign was canceled), or ends with ARGV[8].
// KEYS: campaign, tasks, due, inflight
// ARGV: id, outbound id, CallSid, outcome, answered_by, Retell call id, retry score, final status, now, retention ms
const FINISH = `${COUNTERS}
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'unknown'} end
local t = cjson.decode(raw)
local a = attempts(t)
if ARGV[2] ~= '' then
  local hit
  for _, e in ipairs(a) do if e.i == ARGV[2] then hit = e end end
  if not hit then return {'unknown'} end
  if hit.o then return {'dup'} end
  if ARGV[3] ~= '' then hit.c = ARGV[3] end
  hit.o = ARGV[4]
  if ARGV[5] ~= '' then hit.b = ARGV[5] end
  if ARGV[6] ~= '' then hit.r = ARGV[6] end
elseif t.s == 'dialing' then
  t.k = math.max(0, (t.k or 1) - 1)
end
if t.s ~= 'dialing' and t.s ~= 'in_progress' then
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(t))
  return {'dup'}
end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'c:' .. t.s, -1)
local st = redis.call('HGET', KEYS[1], 'status')
if ARGV[7] ~= '' and st ~= 'canceled' and st ~= 'completed' then
  index(KEYS[1], ARGV[1], t.s, 'scheduled')
  t.s = 'scheduled'
  t.n = tonumber(ARGV[7])
  redis.call('HINCRBY', KEYS[1], 'c:scheduled', 1)
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(t))
  return {'retry'}
end
index(KEYS[1], ARGV[1], t.s, ARGV[8])
t.s = ARGV[8]
t.o = ARGV[4]
redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[8], 1)
if ARGV[8] == 'completed' then redis.call('HINCRBY', KEYS[1], 'o:' .. ARGV[4], 1) end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(t))
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[9])
return {'final', complete_if_done(KEYS[1], KEYS[3], KEYS[4], ARGV[9], ARGV[10]), tostring(#a)}
`;

// pause / resume / cancel. Cancel ends every waiting task at once: the counters move, the due set goes
// (its tasks read as canceled from then on); tasks already dialing go on, and the campaign ends when
// they are over (at once when none is: then 'ended' follows).
// KEYS: campaign, due, inflight. ARGV: action, now, retention ms
const CONTROL = `${COUNTERS}
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'unknown'} end
local action, now = ARGV[1], ARGV[2]
if action == 'pause' then
  if st == 'paused' then return {'ok', st} end
  if st ~= 'running' and st ~= 'scheduled' then return {'conflict', st} end
  redis.call('HSET', KEYS[1], 'status', 'paused', 'updatedAt', now)
  return {'ok', 'paused'}
end
if action == 'resume' then
  if st == 'running' or st == 'scheduled' then return {'ok', st} end
  if st ~= 'paused' then return {'conflict', st} end
  local next = 'running'
  if tonumber(now) < tonumber(redis.call('HGET', KEYS[1], 'startAt') or '0') then next = 'scheduled' end
  redis.call('HSET', KEYS[1], 'status', next, 'updatedAt', now)
  if complete_if_done(KEYS[1], KEYS[2], KEYS[3], now, ARGV[3]) == 'completed' then return {'ok', 'completed', 'ended'} end
  return {'ok', next}
end
if st == 'canceled' then return {'ok', st} end
if st == 'completed' then return {'conflict', st} end
local waiting = tonumber(redis.call('HGET', KEYS[1], 'c:pending') or '0') + tonumber(redis.call('HGET', KEYS[1], 'c:scheduled') or '0')
redis.call('HSET', KEYS[1], 'c:pending', 0, 'c:scheduled', 0, 'status', 'canceled', 'canceledAt', now, 'updatedAt', now)
redis.call('HINCRBY', KEYS[1], 'c:canceled', waiting)
redis.call('UNLINK', KEYS[2])
if complete_if_done(KEYS[1], KEYS[2], KEYS[3], now, ARGV[3]) == 'canceled' then return {'ok', 'canceled', 'ended'} end
return {'ok', 'canceled'}
`;

// Looks again at tasks in flight that nothing was heard of for a while (a lost callback, a worker killed
// between claim and placement): returns them and marks them looked at.
// KEYS: inflight. ARGV: before, now, max
const STALE = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id) end
return ids
`;

/** CAMPAIGN_RETENTION_DAYS' default. */
export const DEFAULT_RETENTION_MS = 30 * 24 * 3600 * 1000;

interface Commands {
  cmpAdd(...args: (string | number)[]): Promise<string[]>;
  cmpClaim(...args: (string | number)[]): Promise<string[]>;
  cmpRelease(...args: (string | number)[]): Promise<string[]>;
  cmpBegin(...args: (string | number)[]): Promise<string[]>;
  cmpAnswered(...args: (string | number)[]): Promise<number>;
  cmpFinish(...args: (string | number)[]): Promise<string[]>;
  cmpControl(...args: (string | number)[]): Promise<string[]>;
  cmpStale(...args: (string | number)[]): Promise<string[]>;
}

/** A stored campaign's hash, parsed. */
export interface CampaignRecord {
  id: string;
  status: CampaignStatus;
  createdAt: string;
  updatedAt: string;
  /** JSON of CampaignSettings. */
  settings: string;
  /** ms; 0 when none. */
  startAt: number;
  completedAt?: string;
  canceledAt?: string;
  /** When it completed, or when a canceled one's last call ended; its keys expire from then. */
  endedAt?: string;
  counts: CampaignCounts;
  outcomes: Record<string, number>;
  /** Tasks ever added (the last task's number). */
  seq: number;
  /** Whether its tasks are indexed by status (every campaign created since the index exists). */
  indexed: boolean;
}

export type AddResult =
  | { kind: 'ok' | 'same'; added: number; duplicateRows: number[]; answer: string; skippedDnc: Array<{ id: string; to: string }> }
  | { kind: 'different' }
  | { kind: 'unknown' }
  | { kind: 'closed'; status: CampaignStatus };

/** A task to add, already validated and resolved. */
export interface NewTask {
  row: number;
  to: string;
  state: StoredTask;
  /** JSON of `{v, m}`, or '' when neither. */
  data: string;
  /** When it may be first dialed (ms), or undefined for a number on the do-not-call list. */
  dueAt: number | undefined;
}

export type ClaimResult =
  | { kind: 'ok'; tasks: Array<{ id: string; task: StoredTask }> }
  | { kind: 'completed' | 'ended' | 'full' | 'unknown' | CampaignStatus };

export type FinishResult = { kind: 'retry' } | { kind: 'final'; campaignCompleted: boolean; attempts: number } | { kind: 'dup' | 'unknown' };

/**
 * The one owner of campaign keys: every change of a campaign or a task is one atomic script on the
 * campaign's slot, and counts are kept as tasks move (never by scanning).
 */
export class CampaignRepository extends ScriptedStore<ReturnType<typeof campaignKeys>, Commands> {
  /**
   * @param retentionMs how long a campaign's keys are kept once it has ended (completed, or canceled and
   * its last call over): CAMPAIGN_RETENTION_DAYS. @defaultValue 30 days
   */
  constructor(
    redis: RedisClient,
    prefix: string,
    readonly retentionMs: number = DEFAULT_RETENTION_MS,
  ) {
    super(redis, campaignKeys(prefix), {
      cmpAdd: { lua: ADD, keys: 7 },
      cmpClaim: { lua: CLAIM, keys: 4 },
      cmpRelease: { lua: RELEASE, keys: 4 },
      cmpBegin: { lua: BEGIN, keys: 4 },
      cmpAnswered: { lua: ANSWERED, keys: 2 },
      cmpFinish: { lua: FINISH, keys: 4 },
      cmpControl: { lua: CONTROL, keys: 3 },
      cmpStale: { lua: STALE, keys: 1 },
    } satisfies Record<keyof Commands, unknown>);
  }

  private fourKeys(id: string): string[] {
    const k = this.keys;
    return [k.campaign(id), k.tasks(id), k.due(id), k.inflight(id)];
  }

  /**
   * Adds tasks, creating the campaign first when `create` holds its fields. One script per call, so a
   * request's tasks are all added or none (10,000 at most).
   */
  async add(id: string, opts: { create?: Record<string, string>; key?: string; hash: string; vars: string[]; tasks: NewTask[]; now: number }): Promise<AddResult> {
    const k = this.keys;
    const args: (string | number)[] = [k.campaign(id), k.tasks(id), k.data(id), k.numbers(id), k.due(id), k.requests(id), k.vars(id)];
    args.push(opts.now, opts.create ? 'create' : 'add', opts.key ?? '', opts.hash);
    const pairs = Object.entries(opts.create ?? {});
    args.push(pairs.length, ...pairs.flat());
    args.push(opts.vars.length, ...opts.vars);
    for (const t of opts.tasks) args.push(t.row, t.to, JSON.stringify(t.state), t.data, t.dueAt === undefined ? '' : t.dueAt);
    const reply = await this.redis.cmpAdd(...args);
    if (reply[0] === 'ok' || reply[0] === 'same') {
      const answer = reply[1] ?? '';
      const [added, dups] = answer.split('|');
      const skippedDnc: Array<{ id: string; to: string }> = [];
      for (let i = 2; i + 1 < reply.length; i += 2) skippedDnc.push({ id: reply[i]!, to: reply[i + 1]! });
      return { kind: reply[0], added: Number(added || 0), duplicateRows: dups ? dups.split(',').map(Number) : [], answer, skippedDnc };
    }
    if (reply[0] === 'closed') return { kind: 'closed', status: reply[1] as CampaignStatus };
    return { kind: reply[0] as 'different' | 'unknown' };
  }

  /** Lists the campaign for the scheduler and the API (before its hash is written, so it is never missed). */
  async register(id: string, createdMs: number): Promise<void> {
    await this.redis.multi().zadd(this.keys.all, 'NX', createdMs, id).sadd(this.keys.active, id).exec();
  }

  async active(): Promise<string[]> {
    return this.redis.smembers(this.keys.active);
  }

  /** When the campaign was listed (ms), or null when it is not. */
  async listedAt(id: string): Promise<number | null> {
    const score = await this.redis.zscore(this.keys.all, id);
    return score === null ? null : Number(score);
  }

  async retire(id: string): Promise<void> {
    await this.redis.srem(this.keys.active, id);
  }

  /** Campaign ids, newest first, created before `beforeMs`. */
  async list(limit: number, beforeMs = Number.POSITIVE_INFINITY): Promise<Array<{ id: string; createdMs: number }>> {
    const max = Number.isFinite(beforeMs) ? `(${beforeMs}` : '+inf';
    const reply = await this.redis.zrevrangebyscore(this.keys.all, max, '-inf', 'WITHSCORES', 'LIMIT', 0, limit);
    const out: Array<{ id: string; createdMs: number }> = [];
    for (let i = 0; i < reply.length; i += 2) out.push({ id: reply[i]!, createdMs: Number(reply[i + 1]) });
    return out;
  }

  async get(id: string): Promise<CampaignRecord | null> {
    return parseCampaign(await this.redis.hgetall(this.keys.campaign(id)));
  }

  /** The campaign's status alone (one HGET; the placer asks it before each attempt's dial), null when unknown. */
  async status(id: string): Promise<CampaignStatus | null> {
    return (await this.redis.hget(this.keys.campaign(id), 'status')) as CampaignStatus | null;
  }

  async getMany(ids: string[]): Promise<Array<CampaignRecord | null>> {
    // One command each: the campaigns are in different Cluster slots, so one pipeline cannot carry them.
    return Promise.all(ids.map(async (id) => parseCampaign(await this.redis.hgetall(this.keys.campaign(id)))));
  }

  async claim(id: string, now: number, max: number, maxConcurrency: number): Promise<ClaimResult> {
    const reply = await this.redis.cmpClaim(...this.fourKeys(id), now, max, maxConcurrency, this.retentionMs);
    if (reply[0] !== 'ok') return { kind: reply[0] as Exclude<ClaimResult['kind'], 'ok'> };
    const tasks: Array<{ id: string; task: StoredTask }> = [];
    for (let i = 1; i < reply.length; i += 2) tasks.push({ id: reply[i]!, task: JSON.parse(reply[i + 1]!) as StoredTask });
    return { kind: 'ok', tasks };
  }

  /** Gives a claimed task back to wait until `at` (ms); `completed` when that ended the campaign (completed, or a canceled one's last call). */
  async release(id: string, taskId: string, at: number, now: number): Promise<{ kind: string; completed: boolean }> {
    const reply = await this.redis.cmpRelease(...this.fourKeys(id), taskId, at, now, this.retentionMs);
    return { kind: reply[0]!, completed: reply[1] === 'completed' || reply[1] === 'canceled' };
  }

  async begin(id: string, taskId: string, attempt: number, outboundId: string, now: number): Promise<{ kind: 'ok' | 'stale' | 'unknown' } | { kind: 'stopped'; status: CampaignStatus }> {
    const reply = await this.redis.cmpBegin(...this.fourKeys(id), taskId, attempt, outboundId, now);
    if (reply[0] === 'stopped') return { kind: 'stopped', status: reply[1] as CampaignStatus };
    return { kind: reply[0] as 'ok' | 'stale' | 'unknown' };
  }

  async answered(id: string, taskId: string, outboundId: string): Promise<boolean> {
    return (await this.redis.cmpAnswered(this.keys.campaign(id), this.keys.tasks(id), taskId, outboundId)) === 1;
  }

  async finish(
    id: string,
    taskId: string,
    f: { outboundId?: string; callSid?: string; outcome: string; answeredBy?: string; retellCallId?: string; retryAt?: number; final: TaskStatus; now: number },
  ): Promise<FinishResult> {
    const reply = await this.redis.cmpFinish(
      ...this.fourKeys(id),
      taskId,
      f.outboundId ?? '',
      f.callSid ?? '',
      f.outcome,
      f.answeredBy ?? '',
      f.retellCallId ?? '',
      f.retryAt ?? '',
      f.final,
      f.now,
      this.retentionMs,
    );
    if (reply[0] === 'final') return { kind: 'final', campaignCompleted: reply[1] === 'completed' || reply[1] === 'canceled', attempts: Number(reply[2] ?? 0) };
    return { kind: reply[0] as 'retry' | 'dup' | 'unknown' };
  }

  /** `ended` when this change ended the campaign (a resume that found nothing left, a cancel with no call under way). */
  async control(id: string, action: 'pause' | 'resume' | 'cancel', now: number): Promise<{ kind: 'ok' | 'conflict' | 'unknown'; status?: CampaignStatus; ended: boolean }> {
    const k = this.keys;
    const reply = await this.redis.cmpControl(k.campaign(id), k.due(id), k.inflight(id), action, now, this.retentionMs);
    return { kind: reply[0] as 'ok' | 'conflict' | 'unknown', ...(reply[1] ? { status: reply[1] as CampaignStatus } : {}), ended: reply[2] === 'ended' };
  }

  /** Takes campaigns whose records expired off the list of all campaigns. */
  async forget(ids: string[]): Promise<void> {
    if (ids.length) await this.redis.zrem(this.keys.all, ...ids);
  }

  /** Tasks in flight not looked at since `before` (ms), at most `max`, marked looked at `now`. */
  async stale(id: string, before: number, now: number, max: number): Promise<string[]> {
    return this.redis.cmpStale(this.keys.inflight(id), before, now, max);
  }

  /** The ids of tasks in flight (dialing or in progress), at most `max`. */
  async inflight(id: string, max: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.inflight(id), '-inf', '+inf', 'LIMIT', 0, max);
  }

  async inflightCount(id: string): Promise<number> {
    return this.redis.zcard(this.keys.inflight(id));
  }

  /** Waiting tasks whose time has come (their window is open). */
  async dueCount(id: string, now: number): Promise<number> {
    return this.redis.zcount(this.keys.due(id), '-inf', now);
  }

  async task(id: string, taskId: string): Promise<StoredTask | null> {
    const raw = await this.redis.hget(this.keys.tasks(id), taskId);
    return raw ? (JSON.parse(raw) as StoredTask) : null;
  }

  /** Tasks by id, with their variables and metadata; null where there is none. */
  async tasks(id: string, taskIds: string[]): Promise<Array<{ id: string; task: StoredTask; data: { v?: Record<string, string>; m?: Record<string, unknown> } } | null>> {
    if (!taskIds.length) return [];
    const [states, data] = await Promise.all([this.redis.hmget(this.keys.tasks(id), ...taskIds), this.redis.hmget(this.keys.data(id), ...taskIds)]);
    return taskIds.map((tid, i) => {
      const raw = states[i];
      if (!raw) return null;
      const d = data[i] ? (JSON.parse(data[i]!) as { v?: Record<string, string>; m?: Record<string, unknown> }) : {};
      return { id: tid, task: JSON.parse(raw) as StoredTask, data: d };
    });
  }

  /**
   * Up to `max` task ids in any of `statuses` (the status index), from task number `from` on, in the
   * order they were added.
   */
  async idsByStatus(id: string, statuses: TaskStatus[], from: number, max: number): Promise<string[]> {
    const lists = await Promise.all(statuses.map((s) => this.redis.zrangebyscore(this.keys.byStatus(id, s), from, '+inf', 'WITHSCORES', 'LIMIT', 0, max)));
    const all: Array<{ id: string; seq: number }> = [];
    for (const list of lists) for (let i = 0; i < list.length; i += 2) all.push({ id: list[i]!, seq: Number(list[i + 1]) });
    return all
      .sort((a, b) => a.seq - b.seq)
      .slice(0, max)
      .map((t) => t.id);
  }

  async variableNames(id: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.vars(id))).sort();
  }
}

function parseCampaign(h: Record<string, string>): CampaignRecord | null {
  if (!h.id || !h.status) return null;
  const counts = Object.fromEntries(['total', ...TASK_STATUSES].map((s) => [s, Math.max(0, Number(h[`c:${s}`] ?? 0))])) as unknown as CampaignCounts;
  const outcomes: Record<string, number> = {};
  for (const [k, v] of Object.entries(h)) if (k.startsWith('o:') && Number(v) > 0) outcomes[k.slice(2)] = Number(v);
  return {
    id: h.id,
    status: h.status as CampaignStatus,
    createdAt: iso(h.createdAt!),
    updatedAt: iso(h.updatedAt ?? h.createdAt!),
    settings: h.settings ?? '{}',
    startAt: Number(h.startAt ?? 0),
    ...(h.completedAt ? { completedAt: iso(h.completedAt) } : {}),
    ...(h.canceledAt ? { canceledAt: iso(h.canceledAt) } : {}),
    ...(h.endedAt ? { endedAt: iso(h.endedAt) } : {}),
    counts,
    outcomes,
    seq: Number(h.seq ?? 0),
    indexed: h.ix === '1',
  };
}

/** Times are kept as milliseconds (the scripts' clock is the caller's). */
const iso = (ms: string) => new Date(Number(ms)).toISOString();
