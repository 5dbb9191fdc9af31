import { UnrecoverableError, type Job } from 'bullmq';
import type { Twilio } from 'twilio';
import type { CallAction, CallActions } from '../calls/actions';
import { TimeoutError, withTimeout } from '../http/timeout';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { lookForEffect, type Evidence } from '../twilio/call-evidence';
import { TWILIO_REQUEST_TIMEOUT_MS } from '../twilio/client';
import { classifyTwilioError, describeTwilioError } from '../twilio/errors';
import { sayAndHangupTwiml, transferTwiml } from '../twilio/twiml';
import type { CallActionStepJob as CallActionJob } from './call-action-job';

/**
 * How long an action may keep trying, from its first request to Twilio: a person is waiting on the line.
 * Attempts, backoff and the looks between them all fit inside; past it the action fails and the agent may
 * ask again (or hang up). Time lost to our own side does not count: queued while no worker ran (a
 * restart), or waiting to be taken over from a worker that died (the survivor starts a fresh limit).
 */
export const ACTION_DEADLINE_MS = 12_000;

/** An attempt that could not finish a Twilio request in less than this is not started. */
const MIN_ATTEMPT_MS = 1000;

export interface CallActionProcessorDeps {
  twilio: Twilio;
  actions: CallActions;
  logger: Logger;
  metrics: Metrics;
}

export type CallActionResult = 'done' | 'found_done' | 'already_done' | 'superseded' | 'call_already_ended';

/**
 * Performs a queued transfer or hang-up on the live Twilio call, at most once.
 *
 * BullMQ delivers at least once, and a Twilio request that times out may still have been performed, so
 * the action on the call record carries `uncertain` from just before a request is sent until Twilio's
 * answer says what happened. An attempt that finds it set (after a timeout, a 5xx, a dropped connection
 * or a worker that died mid-request) first looks at the call through the REST API, and sends nothing if
 * the earlier request took effect. Every attempt, the looks included, fits in ACTION_DEADLINE_MS.
 */
export class CallActionProcessor {
  constructor(private readonly deps: CallActionProcessorDeps) {}

  async process(job: Job<CallActionJob>): Promise<CallActionResult> {
    const data = job.data;
    const jobId = job.id ?? '';
    const log = this.deps.logger.child({ jobId, callSid: data.callSid, callId: data.callId, action: data.kind, attempt: job.attemptsMade + 1 });

    const action = await this.deps.actions.get(data.callSid);
    if (!action || action.jobId !== jobId || action.status === 'failed') {
      log.warn({ current: action?.jobId }, 'a newer action replaced this one: skipping');
      return 'superseded';
    }
    if (action.status === 'done') {
      log.info('already performed: skipping');
      return 'already_done';
    }
    const takeovers = job.stalledCounter ?? 0;
    const fresh = !action.startedAt || takeovers > (action.takeovers ?? 0);
    const deadline = (fresh ? Date.now() : Date.parse(action.startedAt!)) + ACTION_DEADLINE_MS;

    if (action.uncertain) {
      let found: Evidence;
      try {
        found = await this.look(data, action, deadline, log);
      } catch (err) {
        const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        if (lastAttempt || deadline - Date.now() < MIN_ATTEMPT_MS + nextBackoffMs(job)) return this.fail(job, (err as Error).message, log);
        throw err;
      }
      if (found === 'performed') {
        await this.deps.actions.settle(data.callSid, jobId, 'done', { state: data.kind === 'transfer' ? 'transferred' : 'ended' });
        log.info('an earlier attempt had been performed: not sending it again');
        return 'found_done';
      }
      if (found === 'call_ended') return this.callEnded(job, log);
    }

    const left = deadline - Date.now();
    if (left < MIN_ATTEMPT_MS) return this.fail(job, `gave up after ${ACTION_DEADLINE_MS / 1000} s`, log);

    let update: Parameters<ReturnType<Twilio['calls']>['update']>[0];
    try {
      update = this.request(data);
    } catch (err) {
      // The same input builds the same broken TwiML on every attempt.
      return this.fail(job, `could not build TwiML: ${(err as Error).message}`, log);
    }
    if (!(await this.deps.actions.markUncertain(data.callSid, jobId, true, takeovers))) {
      log.warn('a newer action replaced this one: skipping');
      return 'superseded';
    }
    try {
      await withTimeout(
        this.deps.twilio.calls(data.callSid).update(update),
        Math.min(TWILIO_REQUEST_TIMEOUT_MS, left),
        `Twilio did not answer within ${Math.round(Math.min(TWILIO_REQUEST_TIMEOUT_MS, left))} ms`,
      );
    } catch (err) {
      return this.failed(job, err, deadline, log);
    }

    const settled = await this.deps.actions.settle(data.callSid, jobId, 'done', { state: data.kind === 'transfer' ? 'transferred' : 'ended' });
    log.info(data.kind === 'transfer' ? { destination: data.label, settled } : { settled }, `${data.kind} performed`);
    return 'done';
  }

  /** What to send Twilio; throws when the TwiML cannot be built. */
  private request(data: CallActionJob): { twiml: string } | { status: 'completed' } {
    if (data.kind === 'transfer') {
      return { twiml: transferTwiml({ target: data.target, targetKind: data.targetKind, callerId: data.callerId, message: data.message }) };
    }
    return data.message ? { twiml: sayAndHangupTwiml(data.message) } : { status: 'completed' };
  }

  /** Looks at the call for an earlier attempt's effect; throws when Twilio cannot tell (the caller retries the look). */
  private async look(data: CallActionJob, action: CallAction, deadline: number, log: Logger): Promise<Evidence> {
    const since = new Date(action.requestedAt);
    try {
      const found = await withTimeout(
        lookForEffect(this.deps.twilio, data.callSid, data.kind === 'transfer' ? { kind: 'transfer', target: data.target, since } : { kind: 'end_call', since }),
        Math.max(MIN_ATTEMPT_MS, Math.min(TWILIO_REQUEST_TIMEOUT_MS, deadline - Date.now())),
        'Twilio did not answer the look at the call in time',
      );
      log.info({ found }, 'looked at the call for an earlier attempt');
      return found;
    } catch (err) {
      if (classifyTwilioError(err) === 'call_not_in_progress') return 'call_ended';
      // Not knowing, another request could double the action; retry the look while there is time.
      log.warn({ reason: describeTwilioError(err) }, 'could not look at the call');
      throw new Error(`could not look at the call: ${describeTwilioError(err)}`);
    }
  }

  private async failed(job: Job<CallActionJob>, err: unknown, deadline: number, log: Logger): Promise<CallActionResult> {
    const data = job.data;
    const jobId = job.id ?? '';
    const failure = err instanceof TimeoutError ? 'retry' : classifyTwilioError(err);
    const reason = err instanceof TimeoutError ? err.message : describeTwilioError(err);

    if (failure === 'call_not_in_progress') return this.callEnded(job, log, reason);
    // A 4xx (429 included) means Twilio did not perform the request; anything else may have been.
    const refused = typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status < 500;
    const owned = await this.deps.actions.markUncertain(data.callSid, jobId, !refused);
    if (!owned) {
      log.warn({ reason }, 'a newer action replaced this one while it was failing: not retrying');
      return 'superseded';
    }
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const outOfTime = deadline - Date.now() < MIN_ATTEMPT_MS + nextBackoffMs(job);
    if (failure === 'final' || lastAttempt || outOfTime) {
      return this.fail(job, outOfTime && failure !== 'final' ? `${reason}; gave up after ${ACTION_DEADLINE_MS / 1000} s` : reason, log);
    }
    this.deps.metrics.jobs.inc({ name: data.kind, result: 'retried' });
    log.warn({ reason, uncertain: !refused }, `${data.kind} failed: will retry`);
    throw new Error(reason);
  }

  private async callEnded(job: Job<CallActionJob>, log: Logger, reason = 'call not in progress'): Promise<CallActionResult> {
    const data = job.data;
    if (data.kind === 'end_call') {
      // The caller already hung up: what end_call wanted has happened.
      await this.deps.actions.settle(data.callSid, job.id ?? '', 'done', { state: 'ended' });
      log.info('call had already ended');
      return 'call_already_ended';
    }
    await this.deps.actions.settle(data.callSid, job.id ?? '', 'failed', { error: 'call not in progress', state: 'ended' });
    log.warn({ reason }, 'transfer impossible: the call is no longer in progress');
    throw new UnrecoverableError(`call not in progress: ${reason}`);
  }

  private async fail(job: Job<CallActionJob>, reason: string, log: Logger): Promise<never> {
    await this.deps.actions.settle(job.data.callSid, job.id ?? '', 'failed', { error: reason });
    log.error({ reason }, `${job.data.kind} failed for good`);
    throw new UnrecoverableError(reason);
  }
}

/** The longest BullMQ's exponential backoff waits before the next attempt (jitter only shortens it). */
function nextBackoffMs(job: Job): number {
  const backoff = job.opts.backoff;
  const delay = typeof backoff === 'number' ? backoff : (backoff?.delay ?? 0);
  return delay * 2 ** job.attemptsMade;
}
