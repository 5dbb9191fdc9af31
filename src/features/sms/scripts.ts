/**
 * The Lua scripts on a call's texts record (`sms:{CallSid}`), each on that one key. Fields: `n` (texts
 * taken so far), `d:<digest>` (the text id of one template, number and body), and each text's JSON
 * under its id.
 */
import { EFFECT_MARKS } from '../../redis/scripts';
import { MESSAGE_STATUS_RANK } from './record';

/**
 * ARGV: digest, draft JSON, callSid, most texts per call, TTL ms. Takes a text once: a repeat (same
 * template, number and body) gets the one already taken, unless that one failed (it may be asked again).
 */
export const CLAIM = `
local existing = redis.call('HGET', KEYS[1], 'd:' .. ARGV[1])
if existing then
  local raw = redis.call('HGET', KEYS[1], existing)
  if raw and cjson.decode(raw).status ~= 'failed' then return {'exists', raw} end
end
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if n >= tonumber(ARGV[4]) then return {'limit'} end
n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local m = cjson.decode(ARGV[2])
m.id = 'send_sms-' .. ARGV[3] .. '-' .. n
local encoded = cjson.encode(m)
redis.call('HSET', KEYS[1], m.id, encoded, 'd:' .. ARGV[1], m.id)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'created', encoded}
`;

/**
 * The exactly-once runner's marks and settling on text ARGV[1], as UPDATE_ACTION does for an action.
 * ARGV: id, status ('' keeps it), error, uncertain ('1', '0' or ''), takeovers, start of the deadline window
 */
export const UPDATE = `${EFFECT_MARKS}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local m = cjson.decode(raw)
if m.status ~= 'queued' then return 0 end
mark_effect(m, ARGV[4], ARGV[5], ARGV[6])
if ARGV[2] ~= '' then settle_effect(m, ARGV[2], ARGV[3]) end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(m))
return 1
`;

/**
 * ARGV: id, Message SID, MessageStatus ('' for none), ErrorCode ('' for none). Twilio accepted the text
 * (the SID is kept once), or its status callback came: the status only moves forward. Returns the text
 * as it now is, or nothing when there is no such text.
 */
export const TWILIO = `
local RANK = cjson.decode('${JSON.stringify(MESSAGE_STATUS_RANK)}')
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local m = cjson.decode(raw)
if not m.messageSid then m.messageSid = ARGV[2] end
if ARGV[3] ~= '' and (not m.twilioStatus or (RANK[ARGV[3]] or -1) > (RANK[m.twilioStatus] or -1)) then
  m.twilioStatus = ARGV[3]
  if ARGV[4] ~= '' then m.errorCode = ARGV[4] end
end
local encoded = cjson.encode(m)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
`;
