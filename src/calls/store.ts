import type { RedisClient } from '../redis/connection';
import { callKeys, withScripts, type CallKeys } from './keys';
import { fieldList, LUA_ADVANCE_STATE, parseRecord, RECORD_TTL_MS, type CallRecord, type CallUpdate } from './record';

// Partial updates must not resurrect an expired record as a fragment without its identity fields.
const UPDATE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`;

// Creates a record for a call the bridge did not register itself (e.g. registered while Redis was down).
// ARGV: record TTL ms, state, fields...
const ADOPT_SCRIPT = `${LUA_ADVANCE_STATE}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
advance_state(KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

interface StoreCommands {
  bridgeAdopt(key: string, ttlMs: number, state: string, ...fields: string[]): Promise<number>;
  bridgeUpdate(key: string, ...fields: string[]): Promise<number>;
}

/** Reads and writes call records in Redis (the answer claim and the lifecycle write them too). */
export class CallStore {
  readonly keys: CallKeys;
  private readonly redis: RedisClient & StoreCommands;

  constructor(redis: RedisClient, prefix: string) {
    this.keys = callKeys(prefix);
    this.redis = withScripts<StoreCommands>(redis, { bridgeUpdate: UPDATE_SCRIPT, bridgeAdopt: ADOPT_SCRIPT });
  }

  async get(callSid: string): Promise<CallRecord | null> {
    return parseRecord(await this.redis.hgetall(this.keys.record(callSid)));
  }

  async callSidForRetellCall(callId: string): Promise<string | null> {
    return this.redis.get(this.keys.byRetellId(callId));
  }

  /**
   * Sets fields on an existing record; returns false when the record does not exist (or has expired).
   * The state is not among them: it moves only through the lifecycle, the claim and the actions.
   */
  async update(callSid: string, fields: Omit<CallUpdate, 'state'>): Promise<boolean> {
    const updated = await this.redis.bridgeUpdate(
      this.keys.record(callSid),
      ...fieldList({ ...fields, updatedAt: new Date().toISOString() }),
    );
    return updated === 1;
  }

  /** Creates the record from what Retell reports when the bridge has none (it never overwrites one). */
  async adopt(record: CallRecord): Promise<void> {
    await this.redis.bridgeAdopt(this.keys.record(record.callSid), RECORD_TTL_MS, record.state, ...fieldList(record));
  }
}
