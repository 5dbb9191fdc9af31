import type { Redis } from 'ioredis';
import { callKeys, type CallKeys } from './keys';

/**
 * Where a call stands, as far as the bridge knows. Later stages (status callbacks, Retell webhooks,
 * transfers) move it forward; `registering` only exists while the first webhook holds the claim.
 */
export type CallState =
  | 'registering'
  | 'registered'
  | 'fallback'
  | 'in-progress'
  | 'transferring'
  | 'transferred'
  | 'ending'
  | 'ended';

export type CallDirection = 'inbound' | 'outbound';

/** The call record: one Redis hash per Twilio CallSid, flat strings so a field can be updated alone. */
export interface CallRecord {
  callSid: string;
  accountSid: string;
  from: string;
  to: string;
  direction: CallDirection;
  state: CallState;
  createdAt: string;
  updatedAt: string;
  /** Retell's call id, once registered. */
  callId?: string;
  agentId?: string;
  /** The TwiML every repeat of the voice webhook receives. */
  twiml?: string;
  /** Why the call got the fallback, or why the last action on it failed. */
  error?: string;
  [field: string]: string | undefined;
}

export type ClaimResult =
  | { kind: 'claimed' }
  | { kind: 'done'; twiml: string }
  | { kind: 'pending'; retryInMs: number };

export type CompleteResult = { kind: 'ok' } | { kind: 'lost'; twiml: string | undefined };

/**
 * Records outlive the longest call Twilio allows (4 h by default) plus the late lifecycle events
 * (Retell's call_analyzed can come minutes after hang-up), then expire on their own.
 */
export const RECORD_TTL_MS = 24 * 60 * 60 * 1000;

// Claim or read the answer in one round trip. Redis's own clock decides lease expiry, so web
// processes with skewed clocks agree on when a dead holder's claim may be taken over.
const CLAIM_SCRIPT = `
local twiml = redis.call('HGET', KEYS[1], 'twiml')
if twiml then return {'done', twiml} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = tonumber(redis.call('HGET', KEYS[1], 'claim_until') or '0')
if held > now then return {'pending', tostring(held - now)} end
redis.call('HSET', KEYS[1], 'claim_owner', ARGV[1], 'claim_until', tostring(now + tonumber(ARGV[2])), unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'claimed'}
`;

// Store the answer only if we still hold the claim; otherwise report what the new holder stored.
const COMPLETE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'claim_owner') ~= ARGV[1] then
  local twiml = redis.call('HGET', KEYS[1], 'twiml')
  if twiml then return {'lost', twiml} end
  return {'lost'}
end
redis.call('HDEL', KEYS[1], 'claim_owner', 'claim_until')
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
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

// Partial updates must not resurrect an expired record as a fragment without its identity fields.
const UPDATE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`;

// Creates a record for a call the bridge did not register itself (e.g. registered while Redis was down).
const ADOPT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

interface ScriptedRedis extends Redis {
  bridgeAdopt(key: string, ttlMs: number, ...fields: string[]): Promise<number>;
  bridgeClaim(key: string, owner: string, leaseMs: number, ttlMs: number, ...fields: string[]): Promise<string[]>;
  bridgeComplete(key: string, owner: string, ttlMs: number, ...fields: string[]): Promise<string[]>;
  bridgeRelease(key: string, owner: string): Promise<number>;
  bridgeUpdate(key: string, ...fields: string[]): Promise<number>;
}

function flatten(fields: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out.push(k, v);
  return out;
}

/** Call records and the exactly-once claim on the voice webhook, in Redis. */
export class CallRegistry {
  readonly keys: CallKeys;
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis, prefix: string) {
    this.keys = callKeys(prefix);
    this.redis = redis as ScriptedRedis;
    // defineCommand is idempotent per name, so several registries may share one connection.
    redis.defineCommand('bridgeClaim', { numberOfKeys: 1, lua: CLAIM_SCRIPT });
    redis.defineCommand('bridgeComplete', { numberOfKeys: 1, lua: COMPLETE_SCRIPT });
    redis.defineCommand('bridgeRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
    redis.defineCommand('bridgeUpdate', { numberOfKeys: 1, lua: UPDATE_SCRIPT });
    redis.defineCommand('bridgeAdopt', { numberOfKeys: 1, lua: ADOPT_SCRIPT });
  }

  /**
   * Takes the claim to register `callSid`, unless someone holds a live claim (`pending`) or an answer
   * is already stored (`done`). `initial` fields are written with the claim.
   */
  async claim(callSid: string, owner: string, leaseMs: number, initial: Partial<CallRecord>): Promise<ClaimResult> {
    const reply = await this.redis.bridgeClaim(this.keys.record(callSid), owner, leaseMs, RECORD_TTL_MS, ...flatten(initial));
    if (reply[0] === 'done') return { kind: 'done', twiml: reply[1] ?? '' };
    if (reply[0] === 'pending') return { kind: 'pending', retryInMs: Number(reply[1]) };
    return { kind: 'claimed' };
  }

  /** Stores the answer and the registration, if `owner` still holds the claim, and indexes the Retell id. */
  async complete(callSid: string, owner: string, fields: Partial<CallRecord> & { twiml: string }): Promise<CompleteResult> {
    const stored = this.redis.bridgeComplete(this.keys.record(callSid), owner, RECORD_TTL_MS, ...flatten(fields));
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

  async get(callSid: string): Promise<CallRecord | null> {
    const hash = await this.redis.hgetall(this.keys.record(callSid));
    if (!hash.callSid) return null;
    return hash as unknown as CallRecord;
  }

  /** The TwiML stored for the call, if an answer has been stored. */
  async storedAnswer(callSid: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.record(callSid), 'twiml')) ?? undefined;
  }

  async callSidForRetellCall(callId: string): Promise<string | null> {
    return this.redis.get(this.keys.byRetellId(callId));
  }

  /** Sets fields on an existing record; returns false when the record does not exist (or has expired). */
  async update(callSid: string, fields: Partial<CallRecord>): Promise<boolean> {
    const updated = await this.redis.bridgeUpdate(
      this.keys.record(callSid),
      ...flatten({ ...fields, updatedAt: new Date().toISOString() }),
    );
    return updated === 1;
  }

  /** Creates the record from what Retell reports when the bridge has none (it never overwrites one). */
  async adopt(record: CallRecord): Promise<void> {
    await this.redis.bridgeAdopt(this.keys.record(record.callSid), RECORD_TTL_MS, ...flatten(record));
  }
}
