import type { EffectLedger } from '../jobs/effect';
import type { RedisClient } from '../redis/connection';
import { callKeys, withScripts, type CallKeys } from './keys';
import { LUA_ADVANCE_STATE, type CallRecord, type CallState } from './record';

/**
 * What an action does to the live call: `transfer` redirects it to a person (Retell's `transfer_call`),
 * `end_call` hangs it up, `warm_transfer` rings a person while the agent stays with the caller and joins
 * them only when the person accepts. The kind names the BullMQ job and starts its id, so it is part of what a
 * deployment keeps across versions: renaming one would orphan jobs queued before the upgrade.
 */
export type CallActionKind = 'transfer' | 'end_call' | 'warm_transfer';

/**
 * The one action (transfer or hang-up) a call may have at a time, kept on the call record as JSON.
 * It makes function calls idempotent: Retell retries a slow function call up to twice and agents
 * repeat themselves, and each repeat must find the action already there rather than queue another.
 */
export interface CallAction {
  kind: CallActionKind;
  /** 1 for the first action on the call; each action that replaces an earlier one gets the next number. */
  seq: number;
  jobId: string;
  status: 'queued' | 'done' | 'failed';
  /** What the action is aimed at (destination for transfers), to tell a repeat from a different request. */
  target: string;
  /** The sentence the agent was given; repeats get the same. */
  answer: string;
  /** warm_transfer: the destination's name (or the number) and the agent's summary for the person. */
  label?: string;
  summary?: string;
  requestedAt: string;
  /**
   * When the first request for it was sent to Twilio, or the first after its job was taken over from a
   * worker that died: its time limit counts from here.
   */
  startedAt?: string;
  /** How many times its job had been taken over (BullMQ's stalled counter) when `startedAt` was set. */
  takeovers?: number;
  /**
   * A request for this action was sent to Twilio and its outcome is unknown (a timeout, a dropped
   * connection, a 5xx, or a worker that died mid-request): it may have been performed, so the next
   * attempt looks at the call before sending anything.
   */
  uncertain?: boolean;
  /** The job of the action this one replaced (an end_call taking over from an unfinished transfer). */
  replaced?: string;
  error?: string;
}

export type ClaimActionResult =
  | { kind: 'created'; action: CallAction }
  /** `accepted`: the action is a warm transfer whose person accepted (the caller is being moved to them). */
  | { kind: 'exists'; action: CallAction; accepted?: boolean }
  | { kind: 'unknown' }
  | { kind: 'ended' };

// Decides atomically against a concurrent transfer/hang-up on the same call; job ids are derived
// here, from the sequence number, so a repeat of the same request maps to the same BullMQ job.
// A failed action may be followed by a new one. An end_call may also replace a transfer that has not
// reached the caller: a cold transfer whose redirect was never sent (or was refused), a warm transfer
// still ringing the person. Once the redirect may have been performed (sent and unanswered, or done),
// or the person accepted and the caller is being moved to them, hanging up would cut off a caller
// already on their way to a person: the end_call is refused instead.
// ARGV: draft action JSON, callSid
const CLAIM_ACTION = `
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

// Only the job that owns the action may change it: a late retry of a replaced job must not overwrite
// the newer action. ARGV: jobId, status ('' keeps it), error ('' for none), uncertain ('1', '0' or ''),
// new call state ('' for none), time, takeovers of the job so far
const UPDATE_ACTION = `${LUA_ADVANCE_STATE}
local current = redis.call('HGET', KEYS[1], 'action')
if not current then return 0 end
local a = cjson.decode(current)
if a.jobId ~= ARGV[1] then return 0 end
if a.status ~= 'queued' then return 0 end
if ARGV[2] ~= '' then a.status = ARGV[2] end
if ARGV[3] ~= '' then a.error = ARGV[3] end
if ARGV[4] == '1' then
  a.uncertain = true
  local takeovers = tonumber(ARGV[7])
  if not a.startedAt or takeovers > (a.takeovers or 0) then
    a.startedAt = ARGV[8]
    a.takeovers = takeovers
  end
elseif ARGV[4] == '0' then
  a.uncertain = nil
end
redis.call('HSET', KEYS[1], 'action', cjson.encode(a), 'updatedAt', ARGV[6])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
advance_state(KEYS[1], ARGV[5])
return 1
`;

interface ActionCommands {
  bridgeClaimAction(key: string, action: string, callSid: string): Promise<string[]>;
  bridgeUpdateAction(key: string, jobId: string, status: string, error: string, uncertain: string, state: string, at: string, takeovers: number, startedAt: string): Promise<number>;
}

/** The action on a record read from Redis, if it has one. */
export function actionOf(record: Pick<CallRecord, 'action'>): CallAction | undefined {
  return record.action ? (JSON.parse(record.action) as CallAction) : undefined;
}

export class CallActions {
  private readonly keys: CallKeys;
  private readonly redis: RedisClient & ActionCommands;

  constructor(redis: RedisClient, prefix: string) {
    this.keys = callKeys(prefix);
    this.redis = withScripts<ActionCommands>(redis, { bridgeClaimAction: CLAIM_ACTION, bridgeUpdateAction: UPDATE_ACTION });
  }

  /**
   * Records `kind` as the call's action unless one is already pending or done (an end_call replaces an
   * unperformed transfer), or the call has ended.
   */
  async claim(callSid: string, request: { kind: CallActionKind; target: string; answer: string; label?: string; summary?: string }): Promise<ClaimActionResult> {
    const draft = { ...request, status: 'queued', requestedAt: new Date().toISOString() };
    const reply = await this.redis.bridgeClaimAction(this.keys.record(callSid), JSON.stringify(draft), callSid);
    if (reply[0] === 'created') return { kind: 'created', action: JSON.parse(reply[1]!) as CallAction };
    if (reply[0] === 'exists') return { kind: 'exists', action: JSON.parse(reply[1]!) as CallAction, ...(reply[2] === '1' ? { accepted: true } : {}) };
    return { kind: reply[0] === 'ended' ? 'ended' : 'unknown' };
  }

  async get(callSid: string): Promise<CallAction | null> {
    const raw = await this.redis.hget(this.keys.record(callSid), 'action');
    return raw ? (JSON.parse(raw) as CallAction) : null;
  }

  /**
   * The action's side of its exactly-once runner, for job `jobId`. `done`: the call state a performed
   * action moves the call to. `endedAs`: what a call ending under the action means for it (a hang-up
   * is then done; a transfer failed).
   */
  ledger(callSid: string, jobId: string, opts: { done: CallState; endedAs: 'done' | 'failed' }): EffectLedger {
    return {
      read: async () => {
        const action = await this.get(callSid);
        return action && action.jobId === jobId ? action : 'superseded';
      },
      sending: (window) => this.mark(callSid, jobId, true, window),
      refused: () => this.mark(callSid, jobId, false),
      settle: (status, error) => this.settle(callSid, jobId, status, status === 'done' ? { state: opts.done } : { error }),
      ended: (reason) =>
        this.settle(callSid, jobId, opts.endedAs, opts.endedAs === 'done' ? { state: 'ended' } : { state: 'ended', error: 'call not in progress' }),
    };
  }

  /**
   * Marks that a request is about to be sent (`true`, with the deadline window it counts in) or that
   * Twilio refused it without performing it (`false`). False when `jobId` no longer owns a pending action.
   */
  async mark(callSid: string, jobId: string, uncertain: boolean, window?: { startedAt: string; takeovers: number }): Promise<boolean> {
    return this.update(callSid, jobId, { uncertain, ...window });
  }

  /**
   * Marks the action done or failed, if `jobId` still owns it and it is still pending. `state` moves the
   * call forward (a performed transfer: `transferred`); a failed action leaves the state as it was, so a
   * failed transfer leaves the agent on the line.
   */
  async settle(callSid: string, jobId: string, status: 'done' | 'failed', opts: { error?: string; state?: CallState } = {}): Promise<boolean> {
    return this.update(callSid, jobId, { status, error: opts.error, state: opts.state, uncertain: false });
  }

  private async update(
    callSid: string,
    jobId: string,
    change: { status?: 'done' | 'failed'; error?: string; uncertain?: boolean; state?: CallState; takeovers?: number; startedAt?: string },
  ): Promise<boolean> {
    const now = new Date().toISOString();
    const updated = await this.redis.bridgeUpdateAction(
      this.keys.record(callSid),
      jobId,
      change.status ?? '',
      change.error ?? '',
      change.uncertain === undefined ? '' : change.uncertain ? '1' : '0',
      change.state ?? '',
      now,
      change.takeovers ?? 0,
      change.startedAt ?? now,
    );
    return updated === 1;
  }
}
