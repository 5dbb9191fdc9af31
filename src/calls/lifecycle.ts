import type { RedisClient } from '../redis/connection';
import { callKeys, withScripts, type CallKeys } from './keys';
import { fieldList, LUA_ADVANCE_STATE, type CallRecord, type CallState, type CallUpdate } from './record';

// ARGV: newState, count of set-once pairs, set-once pairs..., always-set pairs...
const ADVANCE_SCRIPT = `${LUA_ADVANCE_STATE}
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local moved = advance_state(KEYS[1], ARGV[1])
local once = tonumber(ARGV[2])
for i = 3, 2 + once * 2, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
if #ARGV > 2 + once * 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3 + once * 2)) end
return moved
`;

interface LifecycleCommands {
  bridgeAdvance(key: string, state: string, once: number, ...fields: string[]): Promise<number>;
}

export type AdvanceResult = 'moved' | 'kept' | 'unknown';

/** Twilio's final call statuses. */
export const FINAL_TWILIO_STATUSES: ReadonlySet<string> = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

/** The Twilio statuses before the call is answered, each recorded as the time it was first seen. */
const PROGRESS_FIELDS: Readonly<Record<string, 'queuedAt' | 'initiatedAt' | 'ringingAt'>> = {
  queued: 'queuedAt',
  initiated: 'initiatedAt',
  ringing: 'ringingAt',
};

/** Retell's call events the bridge records, with the parts of the call object it keeps. */
export type RetellCallEvent =
  | { event: 'call_started'; startedAt?: string }
  | { event: 'call_ended'; endedAt?: string; disconnectionReason?: string; durationMs?: number }
  | { event: 'call_analyzed'; summary?: string; userSentiment?: string; successful?: boolean };

/** Applies call events from Twilio and Retell to the call record; repeats and stale events change nothing. */
export class CallLifecycle {
  private readonly keys: CallKeys;
  private readonly redis: RedisClient & LifecycleCommands;

  constructor(redis: RedisClient, prefix: string) {
    this.keys = callKeys(prefix);
    this.redis = withScripts<LifecycleCommands>(redis, { bridgeAdvance: ADVANCE_SCRIPT });
  }

  /** A Twilio status callback: `at` is Twilio's timestamp of the change. */
  twilioStatus(callSid: string, status: string, at: string, duration?: string): Promise<AdvanceResult> {
    if (FINAL_TWILIO_STATUSES.has(status)) {
      return this.advance(callSid, 'ended', { endedAt: at, endReason: status, duration }, { twilioStatus: status });
    }
    if (status === 'in-progress') return this.advance(callSid, 'in-progress', { answeredAt: at });
    const field = PROGRESS_FIELDS[status];
    return this.advance(callSid, undefined, field ? { [field]: at } : {});
  }

  /**
   * A Retell call event. `handedOff`: the call was transferred away from the agent, so the agent's leg
   * ending does not end the phone call, which goes on with a person.
   */
  retellEvent(callSid: string, e: RetellCallEvent, handedOff: boolean): Promise<AdvanceResult> {
    if (e.event === 'call_started') return this.advance(callSid, 'in-progress', { agentStartedAt: e.startedAt });
    if (e.event === 'call_ended') {
      return this.advance(callSid, handedOff ? undefined : 'ended', {
        agentEndedAt: e.endedAt,
        disconnectionReason: e.disconnectionReason,
        agentDurationMs: e.durationMs?.toString(),
      });
    }
    return this.advance(callSid, undefined, {
      analyzedAt: new Date().toISOString(),
      summary: e.summary?.slice(0, 2000),
      userSentiment: e.userSentiment,
      callSuccessful: e.successful?.toString(),
    });
  }

  /**
   * Moves the call to `state` if that is further along, records `once` fields only the first time
   * they are seen (timestamps, end reasons), and `latest` fields every time.
   */
  async advance(
    callSid: string,
    state: CallState | undefined,
    once: CallUpdate = {},
    latest: CallUpdate = {},
  ): Promise<AdvanceResult> {
    const oncePairs = fieldList(once as Partial<CallRecord>);
    const reply = await this.redis.bridgeAdvance(
      this.keys.record(callSid),
      state ?? '',
      oncePairs.length / 2,
      ...oncePairs,
      ...fieldList({ ...latest, updatedAt: new Date().toISOString() }),
    );
    return reply === -1 ? 'unknown' : reply === 1 ? 'moved' : 'kept';
  }
}
