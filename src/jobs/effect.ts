import type { Job } from 'bullmq';
import { TWILIO_REQUEST_TIMEOUT_MS } from '../twilio/client';
import { describeTwilioError, twilioOutcome } from '../twilio/errors';
import { withRequestTimeout } from '../twilio/http-client';

/**
 * Where one side effect on Twilio stands, as the record that owns it keeps it. The runner reads it
 * before each attempt and changes it only through the ledger, so whatever else races on that record
 * (a hang-up replacing a transfer, a callback deciding a warm transfer) is decided there, atomically.
 */
export interface EffectState {
  status: 'queued' | 'done' | 'failed';
  /** A request was sent and its answer never came: it may have been performed. */
  uncertain?: boolean;
  /** When the effect was asked for; the earliest it can show at Twilio, and where its deadline starts. */
  requestedAt: string;
  /** Where the current deadline window started, once a request has been sent. */
  startedAt?: string;
  /** The job's takeovers (BullMQ's stalled counter) when `startedAt` was set. */
  takeovers?: number;
  error?: string;
}

/** The record's side of an effect. Every write is conditional on the effect still being this job's. */
export interface EffectLedger {
  /** The effect's state; `superseded` when the record gave it to someone else (or it is gone). */
  read(): Promise<EffectState | 'superseded'>;
  /** Just before a request: marks it uncertain and records the deadline window. False when superseded. */
  sending(window: { startedAt: string; takeovers: number }): Promise<boolean>;
  /** Twilio refused the request without performing it. False when superseded. */
  refused(): Promise<boolean>;
  /** Settles the effect. False when superseded. */
  settle(status: 'done' | 'failed', error?: string): Promise<boolean>;
  /** The call ended under the effect; its owner says what that means (a hang-up is then done, a transfer failed). */
  ended(reason: string): Promise<boolean>;
}

/** What a look at Twilio found about a request whose answer never came. */
export type Evidence<T> =
  /** It was performed (with what it produced, when the look can tell, e.g. the call it created). */
  | { found: 'performed'; value?: T }
  /** Nothing shows it was: sending it (again) is safe. */
  | { found: 'not_performed' }
  /** The call is over: there is nothing left to act on. */
  | { found: 'gone' };

/** One side effect on Twilio, as the runner needs it. */
export interface Effect<T> {
  ledger: EffectLedger;
  /**
   * How long the effect may keep trying, from when it was asked for (or from when a worker took it over
   * from one that died): attempts, backoff and looks all fit inside. @defaultValue none: attempts only
   */
  deadlineMs?: number;
  /** Sends the request once. Twilio's errors are judged by `twilioOutcome`. */
  send(): Promise<T>;
  /** Looks at Twilio for the effect of a request sent at or after `since`; throws when Twilio cannot tell. */
  look(since: Date): Promise<Evidence<T>>;
}

/** How an attempt ended, when it did not throw for a retry. */
export type EffectOutcome<T> =
  /** This attempt's request was performed. */
  | { kind: 'sent'; value: T }
  /** An earlier attempt's request had been performed; nothing was sent again. */
  | { kind: 'found'; value: T | undefined }
  /** Settled before this attempt. */
  | { kind: 'done_before' }
  | { kind: 'failed_before'; error: string | undefined }
  /** The effect is no longer this job's. */
  | { kind: 'superseded' }
  /** The call ended under it; settled as its owner decides. */
  | { kind: 'gone'; reason: string }
  /** Settled as failed by this attempt: refused, out of attempts, or out of time (`cause`: Twilio's last error, if any). */
  | { kind: 'failed'; reason: string; cause?: unknown };

/** Thrown for BullMQ to run the job again after its backoff. */
export class RetryEffect extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryEffect';
  }
}

/** The attempt a job is on, as the runner needs it. */
export interface Attempt {
  /** 1 for the first. */
  number: number;
  attempts: number;
  /** How many times the job was taken over from a worker that died. */
  takeovers: number;
  /** The longest BullMQ waits before the next attempt (jitter only shortens it). */
  nextBackoffMs: number;
}

export function attemptOf(job: Job): Attempt {
  const backoff = job.opts.backoff;
  const delay = typeof backoff === 'number' ? backoff : (backoff?.delay ?? 0);
  return {
    number: job.attemptsMade + 1,
    attempts: job.opts.attempts ?? 1,
    takeovers: job.stalledCounter ?? 0,
    nextBackoffMs: delay * 2 ** job.attemptsMade,
  };
}

/** An attempt that could not finish a Twilio request in less than this is not started. */
export const MIN_ATTEMPT_MS = 1000;

/**
 * Performs one side effect on Twilio at most once, however often its job runs.
 *
 * BullMQ delivers at least once, and Twilio's Calls and Messages APIs take no idempotency key: a request
 * whose answer never came (a timeout, a 5xx, a dropped connection, a worker killed mid-request) may have
 * been performed. So the ledger marks the effect uncertain just before each request, and an attempt that
 * finds the mark looks at Twilio first and sends nothing if the earlier request took effect. Each request
 * gets the per-request timeout, or what is left of the deadline if less; past the deadline, or on the
 * last attempt, one last look decides between done and failed. Returns how it ended; throws RetryEffect
 * for BullMQ to try again.
 */
export async function runEffect<T>(effect: Effect<T>, attempt: Attempt): Promise<EffectOutcome<T>> {
  const { ledger } = effect;
  const state = await ledger.read();
  if (state === 'superseded') return { kind: 'superseded' };
  if (state.status === 'done') return { kind: 'done_before' };
  if (state.status === 'failed') return { kind: 'failed_before', error: state.error };

  const startedAt = windowStart(state, attempt, effect.deadlineMs);
  const deadline = effect.deadlineMs === undefined ? Infinity : startedAt + effect.deadlineMs;
  const left = () => deadline - Date.now();
  const lastChance = () => attempt.number >= attempt.attempts || left() < MIN_ATTEMPT_MS + attempt.nextBackoffMs;
  const since = new Date(state.requestedAt);
  const gone = async (reason: string): Promise<EffectOutcome<T>> => {
    await ledger.ended(reason);
    return { kind: 'gone', reason };
  };
  const fail = async (reason: string, cause?: unknown): Promise<EffectOutcome<T>> => {
    await ledger.settle('failed', reason);
    return { kind: 'failed', reason, ...(cause !== undefined ? { cause } : {}) };
  };
  const look = () => withRequestTimeout(Math.min(TWILIO_REQUEST_TIMEOUT_MS, Math.max(MIN_ATTEMPT_MS, left())), () => effect.look(since));

  if (state.uncertain) {
    let evidence: Evidence<T>;
    try {
      evidence = await look();
    } catch (err) {
      if (twilioOutcome(err) === 'gone') return gone('call not in progress');
      // Not knowing, another request could double the effect: look again while there is time.
      const reason = `could not tell whether an earlier request was performed: ${describeTwilioError(err)}`;
      if (lastChance()) return fail(reason);
      throw new RetryEffect(reason);
    }
    if (evidence.found === 'performed') {
      if (!(await ledger.settle('done'))) return { kind: 'superseded' };
      return { kind: 'found', value: evidence.value };
    }
    if (evidence.found === 'gone') return gone('call not in progress');
  }

  if (left() < MIN_ATTEMPT_MS) return fail(`gave up after ${effect.deadlineMs! / 1000} s`);
  if (!(await ledger.sending({ startedAt: new Date(startedAt).toISOString(), takeovers: attempt.takeovers }))) return { kind: 'superseded' };
  let value: T;
  try {
    value = await withRequestTimeout(Math.min(TWILIO_REQUEST_TIMEOUT_MS, left()), () => effect.send());
  } catch (err) {
    const outcome = twilioOutcome(err);
    const reason = describeTwilioError(err);
    if (outcome === 'gone') return gone(reason);
    if (outcome !== 'unknown' && !(await ledger.refused())) return { kind: 'superseded' };
    if (outcome === 'refused') return fail(reason, err);
    if (!lastChance()) throw new RetryEffect(reason);
    if (outcome === 'unknown') {
      // The last request may still have been performed: look once more before calling it failed.
      const evidence = await look().catch((): Evidence<T> => ({ found: 'not_performed' }));
      if (evidence.found === 'performed' && (await ledger.settle('done'))) return { kind: 'found', value: evidence.value };
      if (evidence.found === 'gone') return gone(reason);
    }
    return fail(effect.deadlineMs !== undefined && left() < MIN_ATTEMPT_MS + attempt.nextBackoffMs ? `${reason}; gave up after ${effect.deadlineMs / 1000} s` : reason, err);
  }
  await ledger.settle('done');
  return { kind: 'sent', value };
}

/**
 * Where the deadline counts from: the effect's request, so the agent hears how it went in time whatever
 * Twilio does. Two exceptions, both time lost on our side: a job that reached a worker only after its
 * deadline had passed (none was running), and a job taken over from a worker that died, each get a
 * fresh window from now.
 */
function windowStart(state: EffectState, attempt: Attempt, deadlineMs: number | undefined): number {
  const now = Date.now();
  if (state.startedAt !== undefined && attempt.takeovers <= (state.takeovers ?? 0)) return Date.parse(state.startedAt);
  if (state.startedAt === undefined) {
    const requested = Date.parse(state.requestedAt);
    if (deadlineMs === undefined || now - requested < deadlineMs - MIN_ATTEMPT_MS) return requested;
  }
  return now;
}
