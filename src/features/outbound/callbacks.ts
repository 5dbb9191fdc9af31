import {
  FINAL_STATUS_OUTCOME,
  type AnsweredBy,
  type OutboundOutcome,
  type OutboundRecord,
  type OutboundChangeHook,
  type OutboundStatus,
  type OutboundUpdate,
} from './record';
import type { OutboundStore } from './repository';
import type { CallRepository } from '../../calls/repository';
import { addCallAction, type CallActionQueue } from '../../jobs/queues';
import { emitOutboundStatus } from './events';
import { emitCallEnded, type EventSink } from '../events';
import { isFinalCallStatus } from '../../twilio/call-status';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { hangupTwiml } from '../../twilio/twiml';
import type { Answer, CallAnswerer, AnsweredCall } from '../inbound';

export interface OutboundCallbacksDeps {
  accountSid: string;
  store: OutboundStore;
  answerer: CallAnswerer;
  calls: CallRepository;
  actionQueue: CallActionQueue;
  events: EventSink;
  logger: Logger;
  metrics: Metrics;
  /** Told when a call was answered or ended. @defaultValue none */
  onChange?: OutboundChangeHook;
}

/** Twilio's progress of an outbound call (its status callback). */
export interface OutboundProgress {
  callSid: string;
  callStatus: string;
  /** ISO time of the change. */
  at: string;
  duration?: string;
}

/**
 * Agents registered for calls that may reach a voicemail greeting wait for the other side to speak, so
 * they do not talk over the greeting before the beep. Each engine reads its own key and ignores the
 * other's (Retell documents each as applicable only to its engine).
 */
const LISTEN_FIRST = { retell_llm: { start_speaker: 'user' }, conversation_flow: { start_speaker: 'user' } };

/** What a machine's answer makes the bridge do, per voicemail mode. */
function voicemailAction(mode: string, answeredBy: string): 'hangup' | 'message' | undefined {
  if (mode === 'continue') return undefined;
  if (answeredBy === 'fax') return 'hangup';
  if (mode === 'hangup' && answeredBy === 'machine_start') return 'hangup';
  if (mode === 'message' && answeredBy.startsWith('machine_end_')) return 'message';
  return undefined;
}

/**
 * Twilio's requests about a call the bridge placed: the callee answered (register with Retell exactly
 * as an inbound call is, through the same claim), its progress (move the record forward, tell the
 * user), and the answering-machine verdict (hang up or leave the message, as the request asked).
 */
export class OutboundCallbacks {
  constructor(private readonly deps: OutboundCallbacksDeps) {}

  /** The answer URL: TwiML dialing the registered Retell call, the same for every repeat. */
  async answer(id: string, call: Omit<AnsweredCall, 'registration'>): Promise<Answer> {
    const { store } = this.deps;
    const log = this.deps.logger.child({ outboundId: id, callSid: call.callSid });
    const record = await store.get(id);
    if (!record || record.status === 'ended') {
      // Nothing to connect the callee to: an expired record, or a cancel that lost the race with the answer.
      log.warn({ known: Boolean(record) }, 'outbound call answered without a live request: hanging up');
      return { twiml: hangupTwiml(), outcome: 'fallback' };
    }
    await this.link(record, call.callSid, log);
    const answer = await this.deps.answerer.answer({
      ...call,
      registration: {
        agentId: record.agentId,
        ...(record.agentVersion !== undefined ? { agentVersion: Number(record.agentVersion) } : {}),
        dynamicVariables: JSON.parse(record.dynamicVariables) as Record<string, string>,
        metadata: { ...(JSON.parse(record.metadata) as Record<string, unknown>), outbound_id: id },
        ...(record.voicemail === 'message' ? { agentOverride: LISTEN_FIRST } : {}),
        ...(record.record !== undefined ? { recording: { enabled: record.record === '1' } } : {}),
      },
    });
    await this.move(record.id, 'in-progress', { answeredAt: new Date().toISOString() }, {}, log);
    return answer;
  }

  /** The status callback: forward only, final statuses mapped to outcomes, each change told to the user. */
  async progress(id: string, p: OutboundProgress): Promise<'moved' | 'kept' | 'unknown'> {
    const log = this.deps.logger.child({ outboundId: id, callSid: p.callSid, callStatus: p.callStatus });
    // The Twilio call record (registered on answer) follows the same progress as an inbound call's.
    const callResult = await this.deps.calls.twilioStatus(p.callSid, p.callStatus, p.at, p.duration);
    const record = await this.deps.store.get(id);
    if (callResult !== 'unknown' && isFinalCallStatus(p.callStatus)) {
      const metadata = { ...(record ? (JSON.parse(record.metadata) as Record<string, unknown>) : {}), outbound_id: id };
      await emitCallEnded(this.deps.events, this.deps.calls, { callSid: p.callSid, twilioStatus: p.callStatus, duration: p.duration, metadata });
    }
    if (!record) {
      log.info('status callback for an outbound call the bridge no longer knows: ignored');
      return 'unknown';
    }
    await this.link(record, p.callSid, log);
    const latest = { twilioStatus: p.callStatus };
    if (p.callStatus === 'ringing') return this.move(id, 'ringing', { ringingAt: p.at }, latest, log);
    if (p.callStatus === 'in-progress') return this.move(id, 'in-progress', { answeredAt: p.at }, latest, log);
    const outcome = FINAL_STATUS_OUTCOME[p.callStatus];
    if (!outcome) return this.move(id, 'dialing', {}, latest, log);
    const final = outcome === 'completed' ? await this.voicemailOutcome(record, p.callSid) : outcome;
    return this.move(id, 'ended', { outcome: final, endedAt: p.at, ...(p.duration !== undefined ? { duration: p.duration } : {}) }, latest, log);
  }

  /** The asynchronous AMD verdict: recorded, and acted on as the call's voicemail mode says. */
  async machineDetection(id: string, callSid: string, answeredBy: AnsweredBy | string): Promise<'hangup' | 'message' | 'none' | 'unknown'> {
    const log = this.deps.logger.child({ outboundId: id, callSid, answeredBy });
    const record = await this.deps.store.get(id);
    if (!record) return 'unknown';
    await this.deps.store.advance(id, undefined, { answeredBy });
    const action = voicemailAction(record.voicemail, answeredBy);
    if (!action) {
      log.info('answering machine detection: no action');
      return 'none';
    }
    const jobId = await this.endCall(record, callSid, action === 'message' ? record.voicemailMessage : undefined, log);
    if (jobId) await this.deps.store.advance(id, undefined, { voicemailAction: action, voicemailJobId: jobId });
    log.info({ action, jobId }, 'answering machine detected: ending the call');
    return jobId ? action : 'none';
  }

  /**
   * Ends the call through the same one-action-per-call machinery as the agent's end_call, so it cannot
   * cut across a transfer the agent already started, and the worker retries it like any hang-up.
   */
  private async endCall(record: OutboundRecord, callSid: string, message: string | undefined, log: Logger): Promise<string | undefined> {
    const { calls } = this.deps;
    const request = { kind: 'end_call' as const, target: '', answer: message ? 'Leaving a voicemail message.' : 'Hanging up on an answering machine.' };
    let claim = await calls.claimAction(callSid, request);
    if (claim.kind === 'unknown') {
      // The verdict came before the answer webhook wrote the call record: start the record here.
      const now = new Date().toISOString();
      await calls.adopt({ callSid, accountSid: this.deps.accountSid, from: record.from, to: record.to, direction: 'outbound', state: 'registering', createdAt: now, updatedAt: now });
      claim = await calls.claimAction(callSid, request);
    }
    if (claim.kind === 'unknown' || claim.kind === 'ended') return undefined;
    if (claim.kind === 'exists' && claim.action.kind !== 'end_call') {
      log.info({ action: claim.action.kind }, 'the agent already acted on the call: leaving it');
      return undefined;
    }
    if (claim.action.status === 'queued') {
      await addCallAction(this.deps.actionQueue, { kind: 'end_call', callSid, callId: undefined, message }, claim.action.jobId);
    }
    return claim.action.jobId;
  }

  /**
   * A call answered by a machine that the bridge hung up on, or left its message with, ends as a
   * voicemail outcome; the message counts as left once Twilio took the redirect to it.
   */
  private async voicemailOutcome(record: OutboundRecord, callSid: string): Promise<OutboundOutcome> {
    if (record.voicemailAction === 'hangup') return 'voicemail_hangup';
    if (record.voicemailAction !== 'message') return 'completed';
    const action = await this.deps.calls.action(callSid);
    return action !== null && action.jobId === record.voicemailJobId && action.status === 'done' ? 'voicemail_message_left' : 'completed';
  }

  private async link(record: OutboundRecord, callSid: string, log: Logger): Promise<void> {
    if (record.callSid === callSid) return;
    const linked = await this.deps.store.link(record.id, callSid);
    if (linked.kind === 'other') log.error({ linked: linked.callSid }, 'Twilio reported another call for this outbound request');
  }

  private async move(id: string, status: OutboundStatus, once: OutboundUpdate, latest: OutboundUpdate, log: Logger): Promise<'moved' | 'kept' | 'unknown'> {
    const result = await this.deps.store.advance(id, status, once, latest);
    // Answered or ended: Retell counts the call now, or it needs no slot at all.
    if (status === 'in-progress' || status === 'ended') await this.deps.store.releaseSlot(id);
    if (result !== 'moved') return result;
    if (this.deps.onChange && (status === 'in-progress' || status === 'ended')) {
      const changed = await this.deps.store.get(id);
      if (changed) await this.deps.onChange(changed, status).catch((err: Error) => log.error({ err: err.message }, 'outbound change hook failed'));
    }
    const { events } = this.deps;
    const wanted = !events.wants || events.wants(status === 'ended' ? 'outbound.completed' : 'outbound.status');
    if (status !== 'ended' && !wanted) {
      log.info({ status }, 'outbound call status');
      return result;
    }
    const record = await this.deps.store.get(id);
    if (!record) return result;
    if (status === 'ended') this.deps.metrics.outboundOutcomes.inc({ outcome: record.outcome ?? 'completed' });
    log.info({ status, outcome: record.outcome }, 'outbound call status');
    if (!wanted) return result;
    const retellCallId = record.callSid ? (await this.deps.calls.get(record.callSid))?.callId : undefined;
    await emitOutboundStatus(events, record, status, retellCallId);
    return result;
  }
}
