import type { Redis } from 'ioredis';
import { callKeys, type CallKeys } from './keys';
import type { CallState } from './registry';

/**
 * How far along each state is. Events from Twilio and Retell arrive late, twice, or out of order
 * (Retell retries webhooks and has been seen sending duplicates; status callbacks race the
 * webhooks), so a record only ever moves forward: a late `call_started` cannot revive an ended call.
 */
export const STATE_RANK: Readonly<Record<CallState, number>> = {
  registering: 0,
  registered: 1,
  fallback: 1,
  'in-progress': 2,
  transferring: 3,
  ending: 3,
  transferred: 4,
  ended: 5,
};

// ARGV: newState, count of set-once pairs, set-once pairs..., always-set pairs...
const ADVANCE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local rank = cjson.decode(ARGV[1])
local current = redis.call('HGET', KEYS[1], 'state') or 'registering'
local wanted = ARGV[2]
local moved = 0
if wanted ~= '' and (rank[wanted] or -1) > (rank[current] or 0) then
  redis.call('HSET', KEYS[1], 'state', wanted)
  moved = 1
end
local once = tonumber(ARGV[3])
for i = 4, 3 + once * 2, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
if #ARGV > 3 + once * 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 4 + once * 2)) end
return moved
`;

interface LifecycleRedis extends Redis {
  bridgeAdvance(key: string, ranks: string, state: string, once: number, ...fields: string[]): Promise<number>;
}

export type AdvanceResult = 'moved' | 'kept' | 'unknown';

/** Applies call events to the call record; repeats and stale events change nothing. */
export class CallLifecycle {
  private readonly keys: CallKeys;
  private readonly redis: LifecycleRedis;
  private readonly ranks = JSON.stringify(STATE_RANK);

  constructor(redis: Redis, prefix: string) {
    this.keys = callKeys(prefix);
    this.redis = redis as LifecycleRedis;
    redis.defineCommand('bridgeAdvance', { numberOfKeys: 1, lua: ADVANCE_SCRIPT });
  }

  /**
   * Moves the call to `state` if that is further along, records `once` fields only the first time
   * they are seen (timestamps, end reasons), and `latest` fields every time.
   */
  async advance(
    callSid: string,
    state: CallState | undefined,
    once: Record<string, string | undefined> = {},
    latest: Record<string, string | undefined> = {},
  ): Promise<AdvanceResult> {
    const pairs = (fields: Record<string, string | undefined>) =>
      Object.entries(fields).flatMap(([k, v]) => (v === undefined ? [] : [k, v]));
    const oncePairs = pairs(once);
    const reply = await this.redis.bridgeAdvance(
      this.keys.record(callSid),
      this.ranks,
      state ?? '',
      oncePairs.length / 2,
      ...oncePairs,
      ...pairs({ ...latest, updatedAt: new Date().toISOString() }),
    );
    return reply === -1 ? 'unknown' : reply === 1 ? 'moved' : 'kept';
  }
}
