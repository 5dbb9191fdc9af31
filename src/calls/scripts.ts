/**
 * Every Lua script on the call record (`call:{CallSid}`), in one place. Each works on that one key, so it
 * stays in one slot on Redis Cluster; each is atomic, so whatever races on a call (repeated webhooks,
 * status callbacks, the worker's jobs, a person pressing a key) is decided here, once.
 *
 * The shared pieces come first: the forward-only state, and the action's state machine
 * (queued → uncertain → done | failed), which the warm transfer's scripts use rather than re-encode.
 */
import { EFFECT_MARKS } from '../redis/scripts';
import { STATE_RANK } from './record';

/** `advance_state(key, wanted)`: moves the state forward only (or sets it when there is none); 1 if it moved. */
const ADVANCE_STATE = `
local STATE_RANK = cjson.decode('${JSON.stringify(STATE_RANK)}')
local function advance_state(key, wanted)
  if wanted == nil or wanted == '' then return 0 end
  local current = redis.call('HGET', key, 'state')
  if current and (STATE_RANK[wanted] or -1) <= (STATE_RANK[current] or 2) then return 0 end
  redis.call('HSET', key, 'state', wanted)
  return 1
end
`;

/**
 * The action: `own_action(key, jobId)` returns the call's action when `jobId` owns it and it is still
 * queued; `settle_action(...)` moves it to done or failed (clearing `uncertain`), with its error.
 */
const ACTION = `${EFFECT_MARKS}
local function own_action(key, jobId)
  local raw = redis.call('HGET', key, 'action')
  if not raw then return nil end
  local a = cjson.decode(raw)
  if a.jobId ~= jobId or a.status ~= 'queued' then return nil end
  return a
end
local function save_action(key, a, at)
  redis.call('HSET', key, 'action', cjson.encode(a), 'updatedAt', at)
end
local function settle_action(key, a, status, err, at)
  settle_effect(a, status, err)
  if err ~= '' then redis.call('HSET', key, 'error', err) end
  save_action(key, a, at)
end
`;

// --- The voice webhook's exactly-once claim -------------------------------------------------------

/**
 * Claim or read the answer in one round trip. Redis's own clock decides lease expiry, so web processes
 * with skewed clocks agree on when a dead holder's claim may be taken over.
 * ARGV: owner, lease ms, record TTL ms, initial state, initial fields...
 */
export const CLAIM = `${ADVANCE_STATE}
local twiml = redis.call('HGET', KEYS[1], 'twiml')
if twiml then return {'done', twiml} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = tonumber(redis.call('HGET', KEYS[1], 'claim_until') or '0')
if held > now then return {'pending', tostring(held - now)} end
redis.call('HSET', KEYS[1], 'claim_owner', ARGV[1], 'claim_until', tostring(now + tonumber(ARGV[2])))
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
advance_state(KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'claimed'}
`;

/**
 * CLAIM that also adds the call to the recent-calls index (KEYS[2]) in the same script, so the index
 * costs the voice webhook no command of its own: on a single Redis or behind Sentinel. (On a Cluster the
 * index is in another slot, and is written beside the claim instead.)
 * ARGV: score (ms), '1' to trim the index too, most entries, oldest age ms, CallSid, then CLAIM's ARGV.
 */
export const CLAIM_INDEXED = `
-- two keys: never run on a Cluster (CallRepository.claimAnswer sends CLAIM there)
local score = table.remove(ARGV, 1)
local trim = table.remove(ARGV, 1)
local max = table.remove(ARGV, 1)
local age = table.remove(ARGV, 1)
local sid = table.remove(ARGV, 1)
redis.call('ZADD', KEYS[2], 'NX', score, sid)
if trim == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (tonumber(score) - tonumber(age)))
  local extra = redis.call('ZCARD', KEYS[2]) - tonumber(max)
  if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1) end
end
` + CLAIM;

/** Store the answer only if we still hold the claim; otherwise report what the new holder stored. ARGV: owner, TTL ms, state, fields... */
const complete = (onStored: string) => `${ADVANCE_STATE}
if redis.call('HGET', KEYS[1], 'claim_owner') ~= ARGV[1] then
  local twiml = redis.call('HGET', KEYS[1], 'twiml')
  if twiml then return {'lost', twiml} end
  return {'lost'}
end
redis.call('HDEL', KEYS[1], 'claim_owner', 'claim_until')
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
advance_state(KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
${onStored}return {'ok'}
`;
export const COMPLETE = complete('');

/**
 * COMPLETE that also appends an entry to a stream (KEYS[2], the events stream) once the answer is stored,
 * so the call's first event costs the voice webhook no command of its own, and a lost claim's orphan
 * registration none at all. ARGV: COMPLETE's, then the stream's approximate max length and the entry.
 */
export const COMPLETE_APPENDING = `
-- two keys: never run on a Cluster (CallRepository.completeAnswer leaves the entry to its caller there)
local entry = table.remove(ARGV)
local maxlen = table.remove(ARGV)
local function append_entry() redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', 'e', entry) end
` + complete('append_entry()\n');

/** ARGV: owner. */
export const RELEASE = `
if redis.call('HGET', KEYS[1], 'claim_owner') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'claim_owner', 'claim_until')
  return 1
end
return 0
`;

// --- The record's fields and lifecycle ------------------------------------------------------------

/** Partial updates must not resurrect an expired record as a fragment without its identity fields. */
export const UPDATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`;

/** Creates a record for a call the bridge did not register itself (registered while Redis was down). ARGV: TTL ms, state, fields... */
export const ADOPT = `${ADVANCE_STATE}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
advance_state(KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

/** ARGV: new state, count of set-once pairs, set-once pairs..., always-set pairs... */
export const ADVANCE = `${ADVANCE_STATE}
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local moved = advance_state(KEYS[1], ARGV[1])
local once = tonumber(ARGV[2])
for i = 3, 2 + once * 2, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
if #ARGV > 2 + once * 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3 + once * 2)) end
return moved
`;

// --- The action: one transfer or hang-up at a time --------------------------------------------------

/**
 * Decides atomically against a concurrent transfer/hang-up on the same call; job ids are derived here,
 * from the sequence number, so a repeat of the same request maps to the same BullMQ job. A failed action
 * may be followed by a new one. An end_call may also replace a transfer that has not reached the caller:
 * a cold transfer whose redirect was never sent (or was refused), a warm transfer still ringing the
 * person. Once the redirect may have been performed (sent and unanswered, or done), or the person accepted
 * and the caller is being moved to them, hanging up would cut off a caller on their way to a person: the
 * end_call is refused instead.
 * ARGV: draft action JSON, callSid
 */
export const CLAIM_ACTION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
if redis.call('HGET', KEYS[1], 'state') == 'ended' then return {'ended'} end
local action = cjson.decode(ARGV[1])
local current = redis.call('HGET', KEYS[1], 'action')
local seq = 1
if current then
  local a = cjson.decode(current)
  local reached = a.uncertain == true
  if a.kind == 'warm_transfer' then
    local w = redis.call('HGET', KEYS[1], 'warmTransfer')
    reached = w ~= false and cjson.decode(w).id == a.jobId and cjson.decode(w).status == 'transfer_accepted'
  end
  local transfer = a.kind == 'transfer' or a.kind == 'warm_transfer'
  local replaceable = a.status == 'failed' or (a.status == 'queued' and transfer and action.kind == 'end_call' and not reached)
  if not replaceable then return {'exists', current, reached and a.kind == 'warm_transfer' and '1' or ''} end
  if a.status == 'queued' then action.replaced = a.jobId end
  seq = a.seq + 1
end
action.seq = seq
action.jobId = action.kind .. '-' .. ARGV[2] .. '-' .. seq
local encoded = cjson.encode(action)
redis.call('HSET', KEYS[1], 'action', encoded, 'updatedAt', action.requestedAt)
return {'created', encoded}
`;

/**
 * The exactly-once runner's marks on the action, and its settling. Only the job that owns the action
 * may change it: a late retry of a replaced job must not overwrite the newer action.
 * ARGV: jobId, status ('' keeps it), error ('' for none), uncertain ('1', '0' or ''), new call state
 * ('' for none), time, takeovers of the job so far, start of the deadline window
 */
export const UPDATE_ACTION = `${ADVANCE_STATE}${ACTION}
local a = own_action(KEYS[1], ARGV[1])
if not a then return 0 end
mark_effect(a, ARGV[4], ARGV[7], ARGV[8])
if ARGV[2] ~= '' then settle_action(KEYS[1], a, ARGV[2], ARGV[3], ARGV[6]) else save_action(KEYS[1], a, ARGV[6]) end
advance_state(KEYS[1], ARGV[5])
return 1
`;

// --- The warm transfer under way, kept beside the action it belongs to --------------------------------

/** ARGV: id, transfer JSON (status placing). Starts the transfer once, while the action is still its own. */
export const WARM_BEGIN = `${ACTION}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local current = redis.call('HGET', KEYS[1], 'warmTransfer')
if current and cjson.decode(current).id == ARGV[1] then return {'exists', current} end
if redis.call('HGET', KEYS[1], 'state') == 'ended' then return {'ended'} end
if not own_action(KEYS[1], ARGV[1]) then return {'superseded'} end
redis.call('HSET', KEYS[1], 'warmTransfer', ARGV[2])
return {'begun', ARGV[2]}
`;

/** ARGV: id, leg CallSid, time. The leg's CallSid, from calls.create's answer or from one of its callbacks. */
export const WARM_LINK = `
local current = redis.call('HGET', KEYS[1], 'warmTransfer')
if not current then return 'kept' end
local t = cjson.decode(current)
if t.id ~= ARGV[1] then return 'kept' end
if t.legSid and t.legSid ~= ARGV[2] then return 'other' end
if t.status == 'transfer_failed' then
  if not t.legSid then
    t.legSid = ARGV[2]
    redis.call('HSET', KEYS[1], 'warmTransfer', cjson.encode(t))
  end
  return 'failed'
end
if t.legSid then return 'kept' end
t.legSid = ARGV[2]
t.placedAt = ARGV[3]
if t.status == 'transfer_placing' then t.status = 'transfer_ringing' end
redis.call('HSET', KEYS[1], 'warmTransfer', cjson.encode(t), 'updatedAt', ARGV[3])
return 'linked'
`;

/**
 * ARGV: id, time. The person pressed the accept key: it counts only while the caller is still there and
 * the call's action is still this transfer (an end_call may have replaced it: the caller is being hung up).
 */
export const WARM_ACCEPT = `${ACTION}
local current = redis.call('HGET', KEYS[1], 'warmTransfer')
if not current then return 'unknown' end
local t = cjson.decode(current)
if t.id ~= ARGV[1] then return 'unknown' end
if t.status == 'transfer_accepted' then return 'accepted' end
if t.status == 'transfer_failed' then return t.reason == 'caller_hung_up' and 'caller_gone' or 'over' end
if redis.call('HGET', KEYS[1], 'state') == 'ended' then return 'caller_gone' end
if not own_action(KEYS[1], ARGV[1]) then
  t.status = 'transfer_failed'
  t.reason = 'canceled'
  t.failedAt = ARGV[2]
  redis.call('HSET', KEYS[1], 'warmTransfer', cjson.encode(t), 'updatedAt', ARGV[2])
  return 'over'
end
t.status = 'transfer_accepted'
t.acceptedAt = ARGV[2]
redis.call('HSET', KEYS[1], 'warmTransfer', cjson.encode(t), 'updatedAt', ARGV[2])
return 'accepted'
`;

/**
 * ARGV: id, reason, time, '1' when an accepted transfer may fail too (its caller could not be moved).
 * Fails the transfer and, if the call's action is still this transfer's, settles the action failed, so
 * the agent may try again. Returns the leg to end ('' when none is known yet).
 */
export const WARM_FAIL = `${ACTION}
local current = redis.call('HGET', KEYS[1], 'warmTransfer')
if not current then return {'kept'} end
local t = cjson.decode(current)
if t.id ~= ARGV[1] then return {'kept'} end
local open = t.status == 'transfer_placing' or t.status == 'transfer_ringing' or (ARGV[4] == '1' and t.status == 'transfer_accepted')
if not open then return {'kept'} end
t.status = 'transfer_failed'
t.reason = ARGV[2]
t.failedAt = ARGV[3]
redis.call('HSET', KEYS[1], 'warmTransfer', cjson.encode(t), 'updatedAt', ARGV[3])
local a = own_action(KEYS[1], ARGV[1])
if a then settle_action(KEYS[1], a, 'failed', 'warm transfer failed: ' .. ARGV[2], ARGV[3]) end
return {'failed', t.legSid or ''}
`;

// --- Recording: consent, Twilio's status of the recording, and the agent's pause or resume ----------

/**
 * ARGV: decision ('given', 'refused' or 'no_answer'), time. The caller's answer to the consent question:
 * the first one stands (a repeat of Twilio's request gets the same). Returns the answer that stands, or
 * '' when there is no record.
 */
export const DECIDE_CONSENT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return '' end
local current = redis.call('HGET', KEYS[1], 'recordingConsent')
if current == 'given' or current == 'refused' or current == 'no_answer' then return current end
redis.call('HSET', KEYS[1], 'recordingConsent', ARGV[1], 'recordingConsentAt', ARGV[2], 'updatedAt', ARGV[2])
return ARGV[1]
`;

const FINAL_RECORDING = `
local FINAL_RECORDING = {stopped = true, completed = true, absent = true, failed = true}
`;

/**
 * ARGV: RecordingSid, RecordingStatus, RecordingUrl, RecordingDuration, RecordingChannels ('' for
 * none), time. Twilio's recording status callback. A final status (completed, absent, failed) stands:
 * a late or repeated `in-progress` cannot bring the recording back. 1 when recorded, 0 otherwise.
 */
export const RECORDING_STATUS = `${FINAL_RECORDING}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local current = redis.call('HGET', KEYS[1], 'recordingStatus')
if current and FINAL_RECORDING[current] then return 0 end
redis.call('HSET', KEYS[1], 'recordingSid', ARGV[1], 'recordingStatus', ARGV[2], 'updatedAt', ARGV[6])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'recordingUrl', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'recordingDuration', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'recordingChannels', ARGV[5]) end
return 1
`;

/**
 * ARGV: draft control JSON (want, answer, requestedAt, status), callSid. The agent's pause or resume:
 * one at a time per call. A repeat of the last one (queued or done) gets it back; another while one is
 * queued is refused (`busy`); a resume with nothing paused has nothing to do (`noop`). Only a call that
 * is recorded (announced, or consent given) and whose recording has not ended can be paused.
 */
export const CLAIM_RECORDING_CONTROL = `${FINAL_RECORDING}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
if redis.call('HGET', KEYS[1], 'state') == 'ended' then return {'ended'} end
local consent = redis.call('HGET', KEYS[1], 'recordingConsent')
local status = redis.call('HGET', KEYS[1], 'recordingStatus')
if not redis.call('HGET', KEYS[1], 'recording') or (consent ~= 'announced' and consent ~= 'given') or (status and FINAL_RECORDING[status]) then
  return {'not_recorded'}
end
local draft = cjson.decode(ARGV[1])
local raw = redis.call('HGET', KEYS[1], 'recordingControl')
local seq = 1
if raw then
  local c = cjson.decode(raw)
  if c.want == draft.want and c.status ~= 'failed' then return {'exists', raw} end
  if c.status == 'queued' then return {'busy', raw} end
  seq = c.seq + 1
elseif draft.want == 'in-progress' then
  return {'noop'}
end
draft.seq = seq
local verb = 'pause_recording'
if draft.want == 'in-progress' then verb = 'resume_recording' end
draft.jobId = verb .. '-' .. ARGV[2] .. '-' .. seq
local encoded = cjson.encode(draft)
redis.call('HSET', KEYS[1], 'recordingControl', encoded, 'updatedAt', draft.requestedAt)
return {'created', encoded}
`;

/**
 * The exactly-once runner's marks on the pause or resume, and its settling, as UPDATE_ACTION does for
 * the action; a performed one also sets the recording's status, unless the recording has ended.
 * ARGV: jobId, status ('' keeps it), error, uncertain ('1', '0' or ''), time, takeovers, start of the
 * deadline window
 */
export const UPDATE_RECORDING_CONTROL = `${EFFECT_MARKS}${FINAL_RECORDING}
local raw = redis.call('HGET', KEYS[1], 'recordingControl')
if not raw then return 0 end
local c = cjson.decode(raw)
if c.jobId ~= ARGV[1] or c.status ~= 'queued' then return 0 end
mark_effect(c, ARGV[4], ARGV[6], ARGV[7])
if ARGV[2] ~= '' then
  settle_effect(c, ARGV[2], ARGV[3])
  local current = redis.call('HGET', KEYS[1], 'recordingStatus')
  if ARGV[2] == 'done' and not (current and FINAL_RECORDING[current]) then redis.call('HSET', KEYS[1], 'recordingStatus', c.want) end
end
redis.call('HSET', KEYS[1], 'recordingControl', cjson.encode(c), 'updatedAt', ARGV[5])
return 1
`;

// --- Beside the record: the recent-calls index and the call's Twilio requests ----------------------------

/**
 * Trims the recent-calls index (a sorted set of CallSids by creation time, ms) to its newest `max`
 * entries within `ageMs` of `now`. One key, so it runs on Redis Cluster. The calls are added with a plain
 * ZADD as their records are created; this runs with every so many of them, so the index stays bounded
 * without costing each webhook a script.
 * ARGV: now (ms), most entries, oldest age ms
 */
export const TRIM_RECENT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[3])))
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1) end
return 1
`;

/** Appends one Twilio request to the call's log, keeps its last `max`, and lets it expire with the record. ARGV: entry JSON, most entries, TTL ms */
export const LOG_TWILIO_REQUEST = `
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;
