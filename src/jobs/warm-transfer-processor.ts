import { UnrecoverableError, type Job } from 'bullmq';
import type Retell from 'retell-sdk';
import type { Twilio } from 'twilio';
import type { CallActions } from '../calls/actions';
import type { WarmTransfer, WarmTransferFailure, WarmTransfers } from '../calls/warm-transfers';
import { withTimeout } from '../http/timeout';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { TWILIO_REQUEST_TIMEOUT_MS } from '../twilio/client';
import { classifyTwilioError, describeTwilioError } from '../twilio/errors';
import { findCallsCreatedSince } from '../twilio/outbound';
import { joinConferenceTwiml, sayAndHangupTwiml, warmTransferRoom } from '../twilio/twiml';
import { endLeg, isInConference, placeWarmTransferLeg } from '../twilio/warm-transfer';
import { outcomeJobId, type WarmTransferJob, type WarmTransferJoinJob, type WarmTransferOutcomeJob, type WarmTransferStepJob } from './call-action-job';
import { addCallAction, type CallActionQueue } from './queue';

export interface WarmTransferProcessorDeps {
  twilio: Twilio;
  retell: Retell;
  actions: CallActions;
  transfers: WarmTransfers;
  /** Where a failure found by the worker itself (a refused leg, a caller gone) queues its outcome. */
  queue: CallActionQueue;
  config: { publicUrl: string; ringTimeoutS: number; holdMessage: string | undefined; retellTimeoutMs: number };
  logger: Logger;
  metrics: Metrics;
}

export type WarmTransferResult =
  | 'placed'
  | 'adopted'
  | 'already_placed'
  | 'superseded'
  | 'call_ended'
  | 'refused'
  | 'joined'
  | 'already_joined'
  /** An earlier attempt's redirect (its answer lost) had put the caller in the conference. */
  | 'found_joined'
  | 'caller_gone'
  | 'agent_told'
  | 'agent_gone';

/** What the person hears when the transfer no longer needs them (it failed, or the call's action changed). */
export const NO_LONGER_NEEDED = 'Sorry, this call no longer needs you. Goodbye.';

/** What the person hears when they accept but the caller can no longer be reached. */
export const CALLER_GONE_SENTENCE = 'Sorry, the caller has already hung up. Goodbye.';

/** What the agent is told for each failure: what happened, and that the caller is still there. */
const FAILURE_WORDS: Readonly<Record<WarmTransferFailure, string>> = {
  no_answer: 'nobody answered',
  busy: 'the line was busy',
  failed: 'the call could not be connected',
  hung_up: 'they answered but hung up before taking the call',
  declined: 'they declined the call',
  no_response: 'they answered but did not accept the call',
  voicemail: 'voicemail answered',
  caller_hung_up: 'the caller hung up',
  canceled: 'the transfer was canceled',
};

export function agentContext(label: string, reason: WarmTransferFailure): string {
  return (
    `Warm transfer to ${label} failed: ${FAILURE_WORDS[reason]}. You are still on the line with the caller. ` +
    `Tell them ${label} is not available right now and offer to take a message or help another way.`
  );
}

/**
 * A warm transfer's steps in the worker, each a job of the call-action queue:
 *
 * - `warm_transfer` rings the person, once. Twilio's `calls.create` takes no idempotency key, so the
 *   action is marked uncertain before the request is sent; an attempt that finds it so (a timeout, a
 *   worker killed mid-request) first looks at Twilio for the leg and adopts it instead of ringing again.
 *   The leg's own callbacks carry the transfer's id and link it too.
 * - `warm_transfer_join` moves the caller into the conference the person joined on accepting, once: a
 *   second redirect would take the caller out (ending the conference, the person dropped) and back into
 *   an empty room. The action is marked uncertain before the redirect; an attempt that finds it so first
 *   looks for the caller among the conference's participants and sends nothing if they are there.
 * - `warm_transfer_outcome` ends the person's leg and tells the agent, in the live call, what happened.
 */
export class WarmTransferProcessor {
  constructor(private readonly deps: WarmTransferProcessorDeps) {}

  process(job: Job<WarmTransferStepJob>): Promise<WarmTransferResult> {
    const data = job.data;
    const log = this.deps.logger.child({ jobId: job.id, callSid: data.callSid, callId: data.callId, action: data.kind, attempt: job.attemptsMade + 1 });
    if (data.kind === 'warm_transfer') return this.place(job as Job<WarmTransferJob>, log);
    if (data.kind === 'warm_transfer_join') return this.join(job as Job<WarmTransferJoinJob>, log);
    return this.tell(job as Job<WarmTransferOutcomeJob>, log);
  }

  private async place(job: Job<WarmTransferJob>, log: Logger): Promise<WarmTransferResult> {
    const { actions, transfers } = this.deps;
    const data = job.data;
    const id = job.id ?? '';
    const begun = await transfers.begin(data.callSid, {
      id,
      target: data.target,
      label: data.label,
      summary: data.summary,
      from: data.from,
      ...(data.callId ? { callId: data.callId } : {}),
    });
    if (begun.kind === 'ended') {
      await actions.settle(data.callSid, id, 'failed', { error: 'call not in progress' });
      log.info('the caller hung up before the person was rung: not placing the leg');
      return 'call_ended';
    }
    if (begun.kind === 'superseded' || begun.kind === 'unknown') {
      log.warn('a newer action replaced this transfer: skipping');
      return 'superseded';
    }
    const transfer = begun.transfer;
    if (transfer.legSid) return 'already_placed';
    if (transfer.status !== 'transfer_placing' && transfer.status !== 'transfer_ringing') return 'superseded';

    const action = await actions.get(data.callSid);
    if (!action || action.jobId !== id || action.status !== 'queued') return 'superseded';
    const since = new Date(action.requestedAt);
    if (action.uncertain && (await this.adopt(data, id, since, log))) return 'adopted';

    const callToken = data.withCallToken ? await transfers.callToken(data.callSid) : undefined;
    if (!(await actions.markUncertain(data.callSid, id, true, job.stalledCounter ?? 0))) return 'superseded';
    let sid: string;
    try {
      ({ sid } = await placeWarmTransferLeg(this.deps.twilio, this.deps.config.publicUrl, {
        id,
        to: data.target,
        from: data.from,
        callToken,
        ringTimeoutS: this.deps.config.ringTimeoutS,
      }));
    } catch (err) {
      return this.placementFailed(job, err, since, log);
    }
    await actions.markUncertain(data.callSid, id, false);
    await this.linked(data, id, sid, log);
    log.info({ legSid: sid, destination: data.label }, 'warm transfer: ringing the person');
    return 'placed';
  }

  /** Links the leg; if the transfer failed meanwhile (the caller hung up), the leg is ended at once. */
  private async linked(data: WarmTransferJob, id: string, legSid: string, log: Logger): Promise<void> {
    const link = await this.deps.transfers.link(id, legSid);
    if (link === 'failed') {
      log.info({ legSid }, 'the transfer ended while the leg was being placed: ending the leg');
      await endLeg(this.deps.twilio, legSid).catch((err: unknown) => log.warn({ legSid, reason: describeTwilioError(err) }, 'could not end the leg'));
    }
    if (link === 'other') log.error({ legSid }, 'another leg is already linked to this transfer');
  }

  /** A leg an earlier attempt placed (its answer lost), found at Twilio and linked; false if there is none. */
  private async adopt(data: WarmTransferJob, id: string, since: Date, log: Logger): Promise<boolean> {
    const found = await findCallsCreatedSince(this.deps.twilio, { to: data.target, from: data.from, since });
    const leg = found.at(-1);
    if (!leg) return false;
    await this.deps.actions.markUncertain(data.callSid, id, false);
    await this.linked(data, id, leg.sid, log);
    log.warn({ legSid: leg.sid }, 'found the leg an earlier attempt placed: adopted, not ringing again');
    return true;
  }

  private async placementFailed(job: Job<WarmTransferJob>, err: unknown, since: Date, log: Logger): Promise<WarmTransferResult> {
    const data = job.data;
    const id = job.id ?? '';
    const reason = describeTwilioError(err);
    const refused = typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status < 500;
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (refused) await this.deps.actions.markUncertain(data.callSid, id, false);
    if (classifyTwilioError(err) === 'retry' && !lastAttempt) {
      log.warn({ reason, uncertain: !refused }, 'placing the warm transfer leg failed: will retry');
      throw new Error(reason);
    }
    if (!refused && (await this.adopt(data, id, since, log).catch(() => false))) return 'adopted';
    log.error({ reason, to: data.target }, 'Twilio refused the warm transfer leg');
    await this.failed(data, id, 'failed', false);
    throw new UnrecoverableError(reason);
  }

  /** Fails the transfer and queues its outcome (the agent is told); nothing if it already had one. */
  private async failed(data: { callSid: string; callId: string | undefined; label: string }, id: string, reason: WarmTransferFailure, endLegToo: boolean, evenIfAccepted = false) {
    const result = await this.deps.transfers.fail(id, reason, { evenIfAccepted });
    if (!result.failed) return;
    await addCallAction(
      this.deps.queue,
      { kind: 'warm_transfer_outcome', callSid: data.callSid, callId: data.callId, transferId: id, label: data.label, reason, endLeg: endLegToo },
      outcomeJobId(id),
    );
  }

  /**
   * Moves the caller into the conference, once. A redirect sent twice would take the caller out of the
   * room (their leg ends the conference on leaving, dropping the person) and back into an empty one, and
   * Twilio's `calls.update` takes no idempotency key: so the action is marked uncertain just before the
   * redirect, and an attempt that finds the mark first looks at the conference for the caller.
   */
  private async join(job: Job<WarmTransferJoinJob>, log: Logger): Promise<WarmTransferResult> {
    const { actions, transfers, twilio, config } = this.deps;
    const { callSid, transferId } = job.data;
    const transfer = await transfers.get(callSid);
    if (!transfer || transfer.id !== transferId || transfer.status !== 'transfer_accepted') return 'superseded';
    const action = await actions.get(callSid);
    if (action?.jobId === transferId && action.status === 'done') return 'already_joined';
    if (action?.jobId !== transferId || action.status !== 'queued') return this.notJoining(transfer, action?.jobId, log);

    const room = warmTransferRoom(transferId);
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (action.uncertain) {
      let there: boolean;
      try {
        there = await this.callerInRoom(callSid, room);
      } catch (err) {
        // Not knowing, another redirect could drop the person: look again on the next attempt.
        if (!lastAttempt) {
          log.warn({ reason: describeTwilioError(err) }, 'could not look for the caller in the conference: will retry');
          throw new Error(`could not look for the caller in the conference: ${describeTwilioError(err)}`);
        }
        return this.joinFailed(job, transfer, err, log);
      }
      if (there) return this.joined(callSid, transferId, transfer, 'found', log);
      log.info('looked: the caller is not in the conference');
    }

    const twiml = joinConferenceTwiml(room, { message: config.holdMessage, starts: true });
    if (!(await actions.markUncertain(callSid, transferId, true))) return this.notJoining(transfer, (await actions.get(callSid))?.jobId, log);
    try {
      await withTimeout(twilio.calls(callSid).update({ twiml }), TWILIO_REQUEST_TIMEOUT_MS, `Twilio did not answer within ${TWILIO_REQUEST_TIMEOUT_MS} ms`);
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      // An answer that says the redirect was refused (not a 5xx) means nothing was performed.
      if (typeof status === 'number' && status < 500) await actions.markUncertain(callSid, transferId, false);
      const gone = classifyTwilioError(err) === 'call_not_in_progress';
      if (!gone && !lastAttempt && classifyTwilioError(err) === 'retry') {
        log.warn({ reason: describeTwilioError(err) }, 'moving the caller into the conference failed: will retry');
        throw new Error(describeTwilioError(err));
      }
      const unknownOutcome = typeof status !== 'number' || status >= 500;
      if (!gone && unknownOutcome) {
        // The last attempt's redirect may still have been performed: look before giving up on it.
        if (await this.callerInRoom(callSid, room).catch(() => false)) return this.joined(callSid, transferId, transfer, 'found', log);
      }
      return this.joinFailed(job, transfer, err, log);
    }
    return this.joined(callSid, transferId, transfer, 'sent', log);
  }

  /** The caller is in the conference: the transfer is done. */
  private async joined(callSid: string, transferId: string, transfer: WarmTransfer, how: 'sent' | 'found', log: Logger): Promise<WarmTransferResult> {
    await this.deps.actions.settle(callSid, transferId, 'done', { state: 'transferred' });
    this.deps.metrics.warmTransfers.inc({ result: 'accepted' });
    if (how === 'found') {
      log.warn({ destination: transfer.label, legSid: transfer.legSid }, 'found the caller in the conference an earlier attempt moved them to: not redirecting again');
      return 'found_joined';
    }
    log.info({ destination: transfer.label, legSid: transfer.legSid }, 'warm transfer accepted: caller and person joined');
    return 'joined';
  }

  /** An end_call took over after the person accepted: the caller is being hung up, not joined. */
  private async notJoining(transfer: WarmTransfer, current: string | undefined, log: Logger): Promise<WarmTransferResult> {
    await this.deps.transfers.fail(transfer.id, 'canceled', { evenIfAccepted: true });
    if (transfer.legSid) await this.deps.twilio.calls(transfer.legSid).update({ twiml: sayAndHangupTwiml(NO_LONGER_NEEDED) }).catch(() => undefined);
    log.warn({ current }, 'the call\'s action changed after the person accepted: not joining');
    return 'superseded';
  }

  /** The caller could not be moved: the person, waiting in the conference, hears why and their leg ends. */
  private async joinFailed(job: Job<WarmTransferJoinJob>, transfer: WarmTransfer, err: unknown, log: Logger): Promise<WarmTransferResult> {
    const { transfers, twilio } = this.deps;
    const gone = classifyTwilioError(err) === 'call_not_in_progress';
    await transfers.fail(transfer.id, gone ? 'caller_hung_up' : 'failed', { evenIfAccepted: true });
    if (transfer.legSid) {
      await twilio
        .calls(transfer.legSid)
        .update({ twiml: sayAndHangupTwiml(gone ? CALLER_GONE_SENTENCE : 'Sorry, the call could not be connected. Goodbye.') })
        .catch((e: unknown) => log.warn({ reason: describeTwilioError(e) }, 'could not tell the person'));
    }
    this.deps.metrics.warmTransfers.inc({ result: gone ? 'caller_hung_up' : 'failed' });
    log.warn({ reason: describeTwilioError(err) }, gone ? 'the caller hung up as the person accepted' : 'could not move the caller into the conference');
    if (gone) return 'caller_gone';
    await this.tellAgent(job.data.callId ?? transfer.callId, agentContext(transfer.label, 'failed'), log).catch(() => undefined);
    throw new UnrecoverableError(describeTwilioError(err));
  }

  /** Whether the caller is in the transfer's conference now; throws when Twilio cannot tell in time. */
  private callerInRoom(callSid: string, room: string): Promise<boolean> {
    return withTimeout(isInConference(this.deps.twilio, room, callSid), TWILIO_REQUEST_TIMEOUT_MS, `Twilio did not answer the look at the conference within ${TWILIO_REQUEST_TIMEOUT_MS} ms`);
  }

  private async tell(job: Job<WarmTransferOutcomeJob>, log: Logger): Promise<WarmTransferResult> {
    const data = job.data;
    if (data.endLeg) {
      const transfer = await this.deps.transfers.find(data.transferId);
      if (transfer?.legSid) {
        try {
          // A person already listening hears why the call is going away; a machine just hangs up.
          const farewell = data.reason === 'caller_hung_up' ? sayAndHangupTwiml(CALLER_GONE_SENTENCE) : undefined;
          const ended = await endLeg(this.deps.twilio, transfer.legSid, farewell);
          log.info({ legSid: transfer.legSid, ended }, 'ended the person\'s leg');
        } catch (err) {
          if (classifyTwilioError(err) === 'final') log.warn({ reason: describeTwilioError(err) }, 'could not end the person\'s leg');
          else if (classifyTwilioError(err) === 'retry') throw new Error(`could not end the leg: ${describeTwilioError(err)}`);
        }
      }
    }
    if (job.attemptsMade === 0) this.deps.metrics.warmTransfers.inc({ result: data.reason });
    // The caller is gone, and with them the agent's call: there is no one to tell.
    if (data.reason === 'caller_hung_up' || !data.callId) return 'agent_gone';
    const told = await this.tellAgent(data.callId, agentContext(data.label, data.reason), log);
    log.info({ reason: data.reason, told }, 'warm transfer failed: the agent was told');
    return told ? 'agent_told' : 'agent_gone';
  }

  /**
   * Injects the outcome into the live Retell call and has the agent respond. False when Retell no longer
   * has the call live (404 or 4xx: nothing to retry); throws on 5xx and network errors, which BullMQ retries.
   */
  private async tellAgent(callId: string | undefined, context: string, log: Logger): Promise<boolean> {
    if (!callId) return false;
    try {
      await this.deps.retell.call.updateLive(
        callId,
        { call_control: { additional_context: context, trigger_response: true } },
        { timeout: this.deps.config.retellTimeoutMs, maxRetries: 0 },
      );
      return true;
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429) {
        log.warn({ status }, 'retell no longer has the call live: the agent could not be told');
        return false;
      }
      throw new Error(`could not tell the agent: ${(err as Error).message}`);
    }
  }
}
