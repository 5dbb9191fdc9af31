import { UnrecoverableError, type Job } from 'bullmq';
import type Retell from 'retell-sdk';
import type { Twilio } from 'twilio';
import { callSidOfTransfer, type WarmTransfer, type WarmTransferFailure } from '../../calls/record';
import type { CallRepository } from '../../calls/repository';
import type { Logger } from '../../observability/logger';
import { tellAgent } from '../../retell/live-call';
import type { Metrics } from '../../observability/metrics';
import { classifyTwilioError, describeTwilioError } from '../../twilio/errors';
import { findCallsCreatedSince } from '../../twilio/calls';
import { sayAndHangupTwiml } from '../../twilio/twiml';
import { joinConferenceTwiml, warmTransferRoom } from './twiml';
import { endLeg, isInConference, placeWarmTransferLeg } from './twilio';
import { outcomeJobId, type WarmTransferJob, type WarmTransferJoinJob, type WarmTransferOutcomeJob, type WarmTransferStepJob } from './jobs';
import { ACTION_DEADLINE_MS } from '../actions';
import { attemptOf, runEffect, type EffectLedger } from '../../jobs/effect';
import { addCallAction, type CallActionQueue } from '../../jobs/queues';
import type { EventSink } from '../events';

export interface WarmTransferProcessorDeps {
  twilio: Twilio;
  retell: Retell;
  calls: CallRepository;
  /** Where a failure found by the worker itself (a refused leg, a caller gone) queues its outcome. */
  queue: CallActionQueue;
  /** Told how each warm transfer ended (`transfer.completed`, `transfer.failed`). @defaultValue none */
  events?: EventSink;
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
    const { calls } = this.deps;
    const data = job.data;
    const id = job.id ?? '';
    const begun = await calls.beginWarmTransfer(data.callSid, {
      id,
      target: data.target,
      label: data.label,
      summary: data.summary,
      from: data.from,
      ...(data.callId ? { callId: data.callId } : {}),
    });
    if (begun.kind === 'ended') {
      await calls.settleAction(data.callSid, id, 'failed', { error: 'call not in progress' });
      log.info('the caller hung up before the person was rung: not placing the leg');
      return 'call_ended';
    }
    if (begun.kind === 'superseded' || begun.kind === 'unknown') {
      log.warn('a newer action replaced this transfer: skipping');
      return 'superseded';
    }

    const callToken = data.withCallToken ? await calls.callToken(data.callSid) : undefined;
    const outcome = await runEffect<string>(
      {
        ledger: this.placementLedger(data.callSid, id),
        deadlineMs: ACTION_DEADLINE_MS,
        send: async () =>
          (await placeWarmTransferLeg(this.deps.twilio, this.deps.config.publicUrl, { id, to: data.target, from: data.from, callToken, ringTimeoutS: this.deps.config.ringTimeoutS })).sid,
        look: async (since) => {
          const leg = (await findCallsCreatedSince(this.deps.twilio, { to: data.target, from: data.from, since })).at(-1);
          return leg ? { found: 'performed', value: leg.sid } : { found: 'not_performed' };
        },
      },
      attemptOf(job),
    );
    switch (outcome.kind) {
      case 'sent':
        await this.linked(id, outcome.value, log);
        log.info({ legSid: outcome.value, destination: data.label }, 'warm transfer: ringing the person');
        return 'placed';
      case 'found':
        if (outcome.value) await this.linked(id, outcome.value, log);
        log.warn({ legSid: outcome.value }, 'found the leg an earlier attempt placed: adopted, not ringing again');
        return 'adopted';
      case 'done_before':
        return 'already_placed';
      case 'superseded':
        return 'superseded';
      case 'gone':
        return 'call_ended';
      case 'failed_before':
        // Failed by a callback (the caller hung up) or by an attempt that died before queueing the outcome.
        await this.queueOutcome(data.callSid, id);
        return 'superseded';
      case 'failed':
        log.error({ reason: outcome.reason, to: data.target }, 'the warm transfer leg could not be placed');
        await this.queueOutcome(data.callSid, id);
        throw new UnrecoverableError(outcome.reason);
    }
  }

  /**
   * Placing the person's leg, as the runner sees it: uncertain on the call's action while calls.create is
   * unanswered, done once the transfer has the leg, failed once the transfer failed (which fails the action).
   */
  private placementLedger(callSid: string, id: string): EffectLedger {
    const { calls } = this.deps;
    return {
      read: async () => {
        const [action, transfer] = await Promise.all([calls.action(callSid), calls.warmTransfer(callSid)]);
        if (!action || action.jobId !== id || !transfer || transfer.id !== id) return 'superseded';
        if (transfer.legSid) return { status: 'done', requestedAt: action.requestedAt };
        if (transfer.status === 'transfer_failed' || action.status === 'failed') return { status: 'failed', requestedAt: action.requestedAt, error: action.error };
        if (action.status !== 'queued' || transfer.status !== 'transfer_placing') return 'superseded';
        return { status: 'queued', uncertain: action.uncertain, requestedAt: action.requestedAt, startedAt: action.startedAt, takeovers: action.takeovers };
      },
      sending: (window) => calls.markAction(callSid, id, true, window),
      refused: () => calls.markAction(callSid, id, false),
      settle: async (status) => (status === 'done' ? calls.markAction(callSid, id, false) : (await calls.failWarmTransfer(id, 'failed')).failed),
      ended: async () => (await calls.failWarmTransfer(id, 'caller_hung_up')).failed,
    };
  }

  /** Links the leg; if the transfer failed meanwhile (the caller hung up), the leg is ended at once. */
  private async linked(id: string, legSid: string, log: Logger): Promise<void> {
    const link = await this.deps.calls.linkWarmLeg(id, legSid);
    if (link === 'failed') {
      log.info({ legSid }, 'the transfer ended while the leg was being placed: ending the leg');
      await endLeg(this.deps.twilio, legSid).catch((err: unknown) => log.warn({ legSid, reason: describeTwilioError(err) }, 'could not end the leg'));
    }
    if (link === 'other') log.error({ legSid }, 'another leg is already linked to this transfer');
  }

  /** Queues the outcome of a transfer that failed (the person's leg ended, the agent told); once per transfer. */
  private async queueOutcome(callSid: string, id: string): Promise<void> {
    const transfer = await this.deps.calls.findWarmTransfer(id);
    if (transfer?.status !== 'transfer_failed' || !transfer.reason) return;
    await addCallAction(
      this.deps.queue,
      { kind: 'warm_transfer_outcome', callSid, callId: transfer.callId, transferId: id, label: transfer.label, reason: transfer.reason, endLeg: true },
      outcomeJobId(id),
    );
  }

  /**
   * Moves the caller into the conference, once. A redirect sent twice would take the caller out of the
   * room (their leg ends the conference on leaving, dropping the person) and back into an empty one, and
   * Twilio's `calls.update` takes no idempotency key: the runner marks the action uncertain just before
   * the redirect, and an attempt that finds the mark first looks at the conference for the caller.
   */
  private async join(job: Job<WarmTransferJoinJob>, log: Logger): Promise<WarmTransferResult> {
    const { calls, twilio, config } = this.deps;
    const { callSid, transferId } = job.data;
    const transfer = await calls.warmTransfer(callSid);
    if (!transfer || transfer.id !== transferId || transfer.status !== 'transfer_accepted') return 'superseded';
    const room = warmTransferRoom(transferId);
    const twiml = joinConferenceTwiml(room, { message: config.holdMessage, starts: true });
    const outcome = await runEffect(
      {
        ledger: {
          read: async () => {
            const action = await calls.action(callSid);
            if (!action || action.jobId !== transferId) return 'superseded';
            if (action.status === 'done') return { status: 'done', requestedAt: action.requestedAt };
            if (action.status !== 'queued') return 'superseded';
            // The join's deadline counts from the acceptance, not from the agent's request long before.
            return { status: 'queued', uncertain: action.uncertain, requestedAt: transfer.acceptedAt ?? action.requestedAt };
          },
          sending: (window) => calls.markAction(callSid, transferId, true, window),
          refused: () => calls.markAction(callSid, transferId, false),
          settle: async (status) =>
            status === 'done'
              ? calls.settleAction(callSid, transferId, 'done', { state: 'transferred' })
              : (await calls.failWarmTransfer(transferId, 'failed', { evenIfAccepted: true })).failed,
          ended: async () => (await calls.failWarmTransfer(transferId, 'caller_hung_up', { evenIfAccepted: true })).failed,
        },
        deadlineMs: ACTION_DEADLINE_MS,
        send: () => twilio.calls(callSid).update({ twiml }),
        look: async () => ((await isInConference(twilio, room, callSid)) ? { found: 'performed' } : { found: 'not_performed' }),
      },
      attemptOf(job),
    );
    switch (outcome.kind) {
      case 'sent':
      case 'found':
        await this.transferEvent(callSid, transfer, 'completed');
        return this.joined(transfer, outcome.kind === 'sent' ? 'sent' : 'found', log);
      case 'done_before':
        return 'already_joined';
      case 'superseded':
      case 'failed_before':
        return this.notJoining(transfer, (await calls.action(callSid))?.jobId, log);
      case 'gone':
        return this.joinFailed(job, transfer, true, outcome.reason, log);
      case 'failed':
        return this.joinFailed(job, transfer, false, outcome.reason, log);
    }
  }

  /** The caller is in the conference: the transfer is done (the runner settled it). */
  private joined(transfer: WarmTransfer, how: 'sent' | 'found', log: Logger): WarmTransferResult {
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
    await this.deps.calls.failWarmTransfer(transfer.id, 'canceled', { evenIfAccepted: true });
    await this.transferEvent(callSidOfTransfer(transfer.id) ?? '', transfer, 'canceled');
    if (transfer.legSid) await this.deps.twilio.calls(transfer.legSid).update({ twiml: sayAndHangupTwiml(NO_LONGER_NEEDED) }).catch(() => undefined);
    log.warn({ current }, 'the call\'s action changed after the person accepted: not joining');
    return 'superseded';
  }

  /** The caller could not be moved (the runner failed the transfer): the person, waiting in the conference, hears why and their leg ends. */
  private async joinFailed(job: Job<WarmTransferJoinJob>, transfer: WarmTransfer, gone: boolean, reason: string, log: Logger): Promise<WarmTransferResult> {
    if (transfer.legSid) {
      await this.deps.twilio
        .calls(transfer.legSid)
        .update({ twiml: sayAndHangupTwiml(gone ? CALLER_GONE_SENTENCE : 'Sorry, the call could not be connected. Goodbye.') })
        .catch((e: unknown) => log.warn({ reason: describeTwilioError(e) }, 'could not tell the person'));
    }
    this.deps.metrics.warmTransfers.inc({ result: gone ? 'caller_hung_up' : 'failed' });
    log.warn({ reason }, gone ? 'the caller hung up as the person accepted' : 'could not move the caller into the conference');
    await this.transferEvent(job.data.callSid, transfer, gone ? 'caller_hung_up' : 'failed', reason);
    if (gone) return 'caller_gone';
    await this.tellAgent(job.data.callId ?? transfer.callId, agentContext(transfer.label, 'failed'), log).catch(() => undefined);
    throw new UnrecoverableError(reason);
  }

  private async tell(job: Job<WarmTransferOutcomeJob>, log: Logger): Promise<WarmTransferResult> {
    const data = job.data;
    if (data.endLeg) {
      const transfer = await this.deps.calls.findWarmTransfer(data.transferId);
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
    const failed = await this.deps.calls.findWarmTransfer(data.transferId);
    if (failed) await this.transferEvent(data.callSid, failed, data.reason);
    // The caller is gone, and with them the agent's call: there is no one to tell.
    if (data.reason === 'caller_hung_up' || !data.callId) return 'agent_gone';
    const told = await this.tellAgent(data.callId, agentContext(data.label, data.reason), log);
    log.info({ reason: data.reason, told }, 'warm transfer failed: the agent was told');
    return told ? 'agent_told' : 'agent_gone';
  }

  /** A warm transfer's end, told once per transfer (its id): `completed`, or why it failed. */
  private async transferEvent(callSid: string, transfer: WarmTransfer, outcome: 'completed' | WarmTransferFailure, detail?: string): Promise<void> {
    const { events } = this.deps;
    if (!events) return;
    const data = { call_sid: callSid, ...(transfer.callId ? { retell_call_id: transfer.callId } : {}), kind: 'warm' as const, destination: transfer.label, to: transfer.target };
    if (outcome === 'completed') await events.emit('transfer.completed', data, { key: transfer.id });
    else await events.emit('transfer.failed', { ...data, reason: outcome, ...(detail ? { detail: detail.slice(0, 500) } : {}) }, { key: transfer.id });
  }

  /** Tells the agent in its live call; false when Retell no longer has it (or there is none). */
  private async tellAgent(callId: string | undefined, context: string, log: Logger): Promise<boolean> {
    if (!callId) return false;
    const told = await tellAgent(this.deps.retell, callId, context, this.deps.config.retellTimeoutMs);
    if (!told) log.warn('retell no longer has the call live: the agent could not be told');
    return told;
  }
}
