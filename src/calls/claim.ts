import type { RedisClient } from '../redis/connection';
import { callKeys, withScripts, type CallKeys } from './keys';
import { fieldList, LUA_ADVANCE_STATE, RECORD_TTL_MS, type CallRecord } from './record';

/**
 * The exactly-once claim on the voice webhook. Twilio may send the same webhook several times, even at
 * the same instant; whichever request takes the claim registers the call with Retell and stores the
 * TwiML on the call record, and every other request answers with that stored TwiML.
 */
export type ClaimResult =
  | { kind: 'claimed' }
  | { kind: 'done'; twiml: string }
  | { kind: 'pending'; retryInMs: number };

export type CompleteResult = { kind: 'ok' } | { kind: 'lost'; twiml: string | undefined };

// Claim or read the answer in one round trip. Redis's own clock decides lease expiry, so web
// processes with skewed clocks agree on when a dead holder's claim may be taken over.
// ARGV: owner, lease ms, record TTL ms, initial state, initial fields...
const CLAIM_SCRIPT = `${LUA_ADVANCE_STATE}
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

// Store the answer only if we still hold the claim; otherwise report what the new holder stored.
// ARGV: owner, record TTL ms, state, fields...
const COMPLETE_SCRIPT = `${LUA_ADVANCE_STATE}
if redis.call('HGET', KEYS[1], 'claim_owner') ~= ARGV[1] then
  local twiml = redis.call('HGET', KEYS[1], 'twiml')
  if twiml then return {'lost', twiml} end
  return {'lost'}
end
redis.call('HDEL', KEYS[1], 'claim_owner', 'claim_until')
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
advance_state(KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'ok'}
`;

const RELEASE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'claim_owner') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'claim_owner', 'claim_until')
  return 1
end
return 0
`;

interface ClaimCommands {
  bridgeClaim(key: string, owner: string, leaseMs: number, ttlMs: number, state: string, ...fields: string[]): Promise<string[]>;
  bridgeComplete(key: string, owner: string, ttlMs: number, state: string, ...fields: string[]): Promise<string[]>;
  bridgeRelease(key: string, owner: string): Promise<number>;
}

export class AnswerClaims {
  private readonly keys: CallKeys;
  private readonly redis: RedisClient & ClaimCommands;

  constructor(redis: RedisClient, prefix: string) {
    this.keys = callKeys(prefix);
    this.redis = withScripts<ClaimCommands>(redis, { bridgeClaim: CLAIM_SCRIPT, bridgeComplete: COMPLETE_SCRIPT, bridgeRelease: RELEASE_SCRIPT });
  }

  /**
   * Takes the claim to register `callSid`, unless someone holds a live claim (`pending`) or an answer
   * is already stored (`done`). `initial` fields are written with the claim.
   */
  async claim(callSid: string, owner: string, leaseMs: number, initial: Partial<CallRecord>): Promise<ClaimResult> {
    const reply = await this.redis.bridgeClaim(this.keys.record(callSid), owner, leaseMs, RECORD_TTL_MS, initial.state ?? '', ...fieldList(initial));
    if (reply[0] === 'done') return { kind: 'done', twiml: reply[1] ?? '' };
    if (reply[0] === 'pending') return { kind: 'pending', retryInMs: Number(reply[1]) };
    return { kind: 'claimed' };
  }

  /** Stores the answer and the registration, if `owner` still holds the claim, and indexes the Retell id. */
  async complete(callSid: string, owner: string, fields: Partial<CallRecord> & { twiml: string }): Promise<CompleteResult> {
    const stored = this.redis.bridgeComplete(this.keys.record(callSid), owner, RECORD_TTL_MS, fields.state ?? '', ...fieldList(fields));
    // Sent in the same tick as the script, so it costs no extra round trip; harmless if the claim was lost
    // because the id is unique to this registration.
    const indexed = fields.callId
      ? this.redis.set(this.keys.byRetellId(fields.callId), callSid, 'PX', RECORD_TTL_MS)
      : Promise.resolve(null);
    const [reply] = await Promise.all([stored, indexed]);
    if (reply[0] === 'ok') return { kind: 'ok' };
    return { kind: 'lost', twiml: reply[1] };
  }

  /** Gives the claim up after an unexpected error, so the next repeat of the webhook can try again. */
  async release(callSid: string, owner: string): Promise<void> {
    await this.redis.bridgeRelease(this.keys.record(callSid), owner);
  }

  /** The TwiML stored for the call, if an answer has been stored. */
  async storedAnswer(callSid: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.record(callSid), 'twiml')) ?? undefined;
  }
}
