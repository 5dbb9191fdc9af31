import type { RedisClient } from '../redis/connection';
import { callKeys, withScripts, type CallKeys } from './keys';
import type { CallState } from './record';

/**
 * What an action does to the live call: `transfer` redirects it to a person (Retell's `transfer_call`),
 * `end_call` hangs it up. The kind names the BullMQ job and starts its id, so it is part of what a
 * deployment keeps across versions: renaming one would orphan jobs queued before the upgrade.
 */
export type CallActionKind = 'transfer' | 'end_call';

/**
 * The one action (transfer or hang-up) a call may have at a time, kept on the call record as JSON.
 * It makes function calls idempotent: Retell retries a slow function call up to twice and agents
 * repeat themselves, and each repeat must find the action already there rather than queue another.
 */
export interface CallAction {
  kind: CallActionKind;
  /** 1 for the first action on the call; a new action after a failed one gets the next number. */
  seq: number;
  jobId: string;
  status: 'queued' | 'done' | 'failed';
  /** What the action is aimed at (destination for transfers), to tell a repeat from a different request. */
  target: string;
  /** The sentence the agent was given; repeats get the same. */
  answer: string;
  requestedAt: string;
  /** The call's state before the action, restored if the action fails. */
  previousState: string;
  error?: string;
}

export type ClaimActionResult =
  | { kind: 'created'; action: CallAction }
  | { kind: 'exists'; action: CallAction }
  | { kind: 'unknown' }
  | { kind: 'ended' };

// Decides atomically against a concurrent transfer/hang-up on the same call; job ids are derived
// here, from the sequence number, so a repeat of the same request maps to the same BullMQ job.
const CLAIM_ACTION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local state = redis.call('HGET', KEYS[1], 'state') or ''
if state == 'ended' then return {'ended'} end
local current = redis.call('HGET', KEYS[1], 'action')
local seq = 1
if current then
  local a = cjson.decode(current)
  if a.status ~= 'failed' then return {'exists', current} end
  seq = a.seq + 1
end
local action = cjson.decode(ARGV[1])
action.seq = seq
action.jobId = action.kind .. '-' .. ARGV[3] .. '-' .. seq
action.previousState = state
local encoded = cjson.encode(action)
redis.call('HSET', KEYS[1], 'action', encoded, 'state', ARGV[2], 'updatedAt', action.requestedAt)
return {'created', encoded}
`;

// Only the job that owns the action may settle it: a late retry of an old job must not overwrite a newer one.
const SETTLE_ACTION = `
local current = redis.call('HGET', KEYS[1], 'action')
if not current then return 0 end
local a = cjson.decode(current)
if a.jobId ~= ARGV[1] then return 0 end
a.status = ARGV[2]
if ARGV[3] ~= '' then a.error = ARGV[3] end
local state = ARGV[4]
if state == '' then state = a.previousState end
redis.call('HSET', KEYS[1], 'action', cjson.encode(a), 'state', state, 'updatedAt', ARGV[5])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
return 1
`;

interface ActionCommands {
  bridgeClaimAction(key: string, action: string, state: string, callSid: string): Promise<string[]>;
  bridgeSettleAction(key: string, jobId: string, status: string, error: string, state: string, at: string): Promise<number>;
}

export class CallActions {
  private readonly keys: CallKeys;
  private readonly redis: RedisClient & ActionCommands;

  constructor(redis: RedisClient, prefix: string) {
    this.keys = callKeys(prefix);
    this.redis = withScripts<ActionCommands>(redis, { bridgeClaimAction: CLAIM_ACTION, bridgeSettleAction: SETTLE_ACTION });
  }

  /** Records `kind` as the call's action unless one is already pending or done, or the call has ended. */
  async claim(
    callSid: string,
    request: { kind: CallActionKind; target: string; answer: string },
  ): Promise<ClaimActionResult> {
    const draft = { ...request, status: 'queued', requestedAt: new Date().toISOString() };
    const state: CallState = request.kind === 'transfer' ? 'transferring' : 'ending';
    const reply = await this.redis.bridgeClaimAction(this.keys.record(callSid), JSON.stringify(draft), state, callSid);
    if (reply[0] === 'created') return { kind: 'created', action: JSON.parse(reply[1]!) as CallAction };
    if (reply[0] === 'exists') return { kind: 'exists', action: JSON.parse(reply[1]!) as CallAction };
    return { kind: reply[0] === 'ended' ? 'ended' : 'unknown' };
  }

  async get(callSid: string): Promise<CallAction | null> {
    const raw = await this.redis.hget(this.keys.record(callSid), 'action');
    return raw ? (JSON.parse(raw) as CallAction) : null;
  }

  /**
   * Marks the action done or failed, if `jobId` still owns it. `state` is the call's new state; when
   * omitted it goes back to what it was before the action (a failed transfer leaves the agent on the line).
   */
  async settle(callSid: string, jobId: string, status: 'done' | 'failed', opts: { error?: string; state?: CallState } = {}): Promise<boolean> {
    const updated = await this.redis.bridgeSettleAction(
      this.keys.record(callSid),
      jobId,
      status,
      opts.error ?? '',
      opts.state ?? '',
      new Date().toISOString(),
    );
    return updated === 1;
  }
}
