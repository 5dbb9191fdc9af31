import { randomUUID } from 'node:crypto';
import type Retell from 'retell-sdk';
import { ANSWER_BUDGET_MS, type Config } from '../../config';
import { lazyChild, type CallLog, type Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { annotate, ATTR_RETELL_CALL_ID, withSpan } from '../../observability/tracing';
import { registerPhoneCall, RegistrationError, type RegistrationFailureReason } from '../../retell/register';
import type { InboundCallDetails, LookupChoice } from './lookup-contract';
import { fallbackTwiml, rejectTwiml, retellDialVerb, twimlDocument } from '../../twilio/twiml';
import { consentUrl, planRecording, recordedAnswerTwiml, recordingStatusUrl, type RecordingPlan } from '../recording';
import type { CallRepository } from '../../calls/repository';
import type { CallDirection } from '../../formats';
import type { LookupHook, LookupResult } from './lookup-hook';
import { callData, NO_EVENTS, type EventPayloads, type EventSink } from '../events';

/** A call the bridge answers with a SIP dial to Retell (inbound, or one it placed): the parts of Twilio's voice webhook it uses. */
export interface AnsweredCall {
  callSid: string;
  accountSid: string;
  from: string;
  to: string;
  /** Twilio's `Direction`: `inbound`, `outbound-api` or `outbound-dial`. */
  twilioDirection: string | undefined;
  callerName: string | undefined;
  /** Twilio's caller details, passed on to the lookup hook. */
  fromCity?: string;
  fromState?: string;
  fromCountry?: string;
  stirVerstat?: string;
  /** Twilio's CallToken, kept on the record for a warm transfer's leg. */
  callToken?: string;
  /**
   * For a call the bridge placed itself (POST /calls): the agent, variables and metadata its request
   * named. They take the place of the number's routing, the lookup hook and the caller-ID variables.
   */
  registration?: LookupChoice & { agentId: string };
}

export type AnswerOutcome =
  /** This request registered the call with Retell. */
  | 'registered'
  /** A repeat: the stored answer was replayed. */
  | 'duplicate'
  /** Redis could not be used; registered without dedupe. */
  | 'registered_unguarded'
  /** The lookup hook refused the call. */
  | 'rejected'
  | 'fallback';

export type FallbackReason = RegistrationFailureReason | 'no_agent' | 'deadline';

export interface Answer {
  twiml: string;
  outcome: AnswerOutcome;
  callId?: string;
  /** The agent the call was registered with. */
  agentId?: string;
  /** What the lookup hook said, when it was asked. */
  lookup?: LookupResult;
  fallbackReason?: FallbackReason;
  /** How the call is recorded, when it is (the answer says or asks first). */
  recording?: RecordingPlan;
}

export interface CallAnswererOptions {
  config: Pick<Config, 'publicUrl' | 'retell' | 'fallback' | 'recording'>;
  calls: CallRepository;
  retell: Retell;
  logger: Logger;
  /** Times each registration into `bridge_retell_registration_duration_seconds`. */
  metrics: Pick<Metrics, 'retellRegistrationDuration'>;
  /** Asked for the agent and variables of each new inbound call (INBOUND_WEBHOOK_URL); none when unset. */
  lookupHook?: LookupHook;
  /** Told `call.started` once a registration is stored. @defaultValue none */
  events?: EventSink;
}

/**
 * Timing, all derived from what the claim holder waits on (the lookup hook, if any, then Retell) so
 * the settings move them together:
 * - lease: how long a claim protects a registration in progress; longer than the hook and Retell may
 *   take together, so a live holder is never overtaken, short enough that a dead holder's repeat still
 *   gets through.
 * - deadline: when a request must answer whatever happens, inside the answer budget (Twilio's 15 s
 *   less the network); configuration guarantees the budget holds the hook and Retell's full timeouts.
 */
export function answerTiming(retellTimeoutMs: number, lookupTimeoutMs = 0): { leaseMs: number; deadlineMs: number } {
  const workMs = lookupTimeoutMs + retellTimeoutMs;
  const leaseMs = workMs + 1500;
  return { leaseMs, deadlineMs: Math.min(ANSWER_BUDGET_MS, leaseMs + workMs + 1500) };
}

const POLL_FIRST_MS = 15;
const POLL_MAX_MS = 200;
/** Below this much time left, a new registration is not worth starting. */
const MIN_REGISTER_MS = 300;
/** Kept after the registration's timeout for storing and sending the answer. */
const ANSWER_MARGIN_MS = 200;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function toDirection(twilioDirection: string | undefined): CallDirection {
  return twilioDirection?.startsWith('outbound') ? 'outbound' : 'inbound';
}

/**
 * Turns a verified voice webhook into TwiML: exactly one Retell registration per CallSid, the same
 * TwiML for every repeat, and an answer in time whatever Retell or Redis do.
 */
export class CallAnswerer {
  private readonly config: CallAnswererOptions['config'];
  private readonly calls: CallRepository;
  private readonly retell: Retell;
  private readonly logger: Logger;
  private readonly metrics: CallAnswererOptions['metrics'];
  private readonly lookupHook: LookupHook | undefined;
  private readonly events: EventSink;
  private readonly leaseMs: number;
  private readonly deadlineMs: number;
  /** Repeats that reach the same process share one answer without polling Redis. */
  private readonly inflight = new Map<string, Promise<Answer>>();

  constructor(opts: CallAnswererOptions) {
    this.config = opts.config;
    this.calls = opts.calls;
    this.retell = opts.retell;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    this.lookupHook = opts.lookupHook;
    this.events = opts.events ?? NO_EVENTS;
    ({ leaseMs: this.leaseMs, deadlineMs: this.deadlineMs } = answerTiming(opts.config.retell.timeoutMs, opts.lookupHook?.timeoutMs));
  }

  answer(call: AnsweredCall): Promise<Answer> {
    const shared = this.inflight.get(call.callSid);
    if (shared) return shared.then((a) => (a.outcome === 'fallback' ? a : { ...a, outcome: 'duplicate' }));
    const pending = this.answerOnce(call, Date.now() + this.deadlineMs).finally(() => this.inflight.delete(call.callSid));
    this.inflight.set(call.callSid, pending);
    return pending;
  }

  /** The agent for a call: routed by the bridge's own number (the called one inbound, the caller outbound). */
  private agentFor(call: AnsweredCall): string | undefined {
    return routedAgent(this.config.retell, toDirection(call.twilioDirection) === 'outbound' ? call.from : call.to);
  }

  private async answerOnce(call: AnsweredCall, deadline: number): Promise<Answer> {
    const log = lazyChild(this.logger, { callSid: call.callSid });
    const owner = randomUUID();
    const now = new Date().toISOString();
    const initial = {
      callSid: call.callSid,
      accountSid: call.accountSid,
      from: call.from,
      to: call.to,
      direction: toDirection(call.twilioDirection),
      state: 'registering' as const,
      createdAt: now,
      updatedAt: now,
      ...(call.callToken ? { callToken: call.callToken } : {}),
    };

    let poll = POLL_FIRST_MS;
    for (;;) {
      let claim;
      try {
        claim = await withSpan('call.claim', {}, () => this.calls.claimAnswer(call.callSid, owner, this.leaseMs, initial));
      } catch (err) {
        // A dropped call is worse than a rare duplicate registration: connect the caller anyway.
        log.error({ err }, 'redis unavailable: answering without dedupe');
        return this.registerUnguarded(call, deadline, log);
      }
      if (claim.kind === 'done') return { twiml: claim.twiml, outcome: 'duplicate' };
      if (claim.kind === 'claimed') return this.registerAsOwner(call, owner, deadline, log);

      const left = deadline - Date.now();
      if (left <= 0) {
        log.warn('gave up waiting for a concurrent registration of the same call');
        return this.fallback('deadline');
      }
      await sleep(Math.min(poll, claim.retryInMs + 1, left));
      poll = Math.min(poll * 2, POLL_MAX_MS);
    }
  }

  private async registerAsOwner(call: AnsweredCall, owner: string, deadline: number, log: CallLog): Promise<Answer> {
    let answer: Answer;
    try {
      answer = await this.register(call, deadline, log);
    } catch (err) {
      await this.calls.releaseAnswer(call.callSid, owner).catch(() => undefined);
      throw err;
    }
    // Only the registration that is stored is the call's (a lost claim's orphan is not): `call.started` is
    // appended by the script that stores it, so the answer waits on no command more than without events
    // (on a Cluster, where the stream is in another slot, it is one XADD, not awaited). Its data is not
    // even built when no endpoint wants it.
    const started =
      answer.outcome === 'registered' && answer.callId && answer.agentId && this.events.wants?.('call.started') !== false
        ? this.events.prepare('call.started', startedData(call, answer.callId, answer.agentId), { key: call.callSid })
        : undefined;
    try {
      const stored = await withSpan('call.record', {}, () => this.calls.completeAnswer(call.callSid, owner, {
        twiml: answer.twiml,
        state: answer.outcome === 'fallback' || answer.outcome === 'rejected' ? answer.outcome : 'registered',
        callId: answer.callId,
        agentId: answer.agentId,
        lookup: answer.lookup,
        error: answer.fallbackReason,
        ...(answer.recording ? { recording: answer.recording.channels, recordingConsent: answer.recording.consent === 'ask' ? 'asked' : 'announced' } : {}),
        updatedAt: new Date().toISOString(),
      }, started));
      if (stored.kind === 'lost') {
        // Our lease ran out (a stall longer than the Retell timeout) and another request took over;
        // its TwiML is the one Twilio may already be dialing, so every answer must match it. If it is
        // not stored yet, wait for it; ours is only the answer of last resort.
        log.warn({ orphanCallId: answer.callId }, 'claim lost during registration; answering with the new holder\'s TwiML');
        const theirs = stored.twiml ?? (await this.waitForStoredAnswer(call.callSid, deadline));
        if (theirs !== undefined) return { twiml: theirs, outcome: 'duplicate' };
      } else if (started) {
        if (stored.appended) started.appended();
        else void started.write();
      }
    } catch (err) {
      log.error({ err, callId: answer.callId }, 'redis unavailable: answer not stored');
    }
    return answer;
  }

  private async waitForStoredAnswer(callSid: string, deadline: number): Promise<string | undefined> {
    let poll = POLL_FIRST_MS;
    while (Date.now() < deadline) {
      await sleep(Math.min(poll, Math.max(0, deadline - Date.now())));
      const twiml = await this.calls.storedAnswer(callSid);
      if (twiml !== undefined) return twiml;
      poll = Math.min(poll * 2, POLL_MAX_MS);
    }
    return undefined;
  }

  private async registerUnguarded(call: AnsweredCall, deadline: number, log: CallLog): Promise<Answer> {
    const answer = await this.register(call, deadline, log);
    return answer.outcome === 'registered' ? { ...answer, outcome: 'registered_unguarded' } : answer;
  }

  /**
   * Asks the lookup hook (new inbound calls only), registers with Retell and builds the TwiML; never
   * throws for the hook's or Retell's failures, only answers the default agent or the fallback.
   */
  private async register(call: AnsweredCall, deadline: number, log: CallLog): Promise<Answer> {
    if (call.registration) return this.registerWith(call, call.registration, call.registration.agentId, deadline, log);
    const routed = this.agentFor(call);
    const direction = toDirection(call.twilioDirection);
    // The hook gets what is left after the registration's full timeout, never the other way round.
    const lookup =
      this.lookupHook && direction === 'inbound'
        ? await withSpan('lookup_hook', {}, () => this.lookupHook!.lookup(lookupDetails(call, routed), deadline - Date.now() - this.config.retell.timeoutMs - ANSWER_MARGIN_MS, log))
        : undefined;
    if (lookup?.result === 'rejected') return { twiml: rejectTwiml(), outcome: 'rejected', lookup: 'rejected' };
    const answer = await this.registerWith(call, lookup?.result === 'ok' ? lookup.choice : undefined, routed, deadline, log);
    return lookup ? { ...answer, lookup: lookup.result } : answer;
  }

  private async registerWith(call: AnsweredCall, choice: LookupChoice | undefined, routed: string | undefined, deadline: number, log: CallLog): Promise<Answer> {
    const agentId = choice?.agentId ?? routed;
    if (!agentId) {
      log.error({ to: call.to }, 'no agent for this number: add it to AGENT_ROUTES or set RETELL_AGENT_ID');
      return this.fallback('no_agent');
    }
    const timeoutMs = Math.min(this.config.retell.timeoutMs, deadline - Date.now() - ANSWER_MARGIN_MS);
    if (timeoutMs < MIN_REGISTER_MS) return this.fallback('deadline');
    const timer = this.metrics.retellRegistrationDuration.startTimer();
    try {
      const registration = await withSpan('retell.register', { 'retell.agent_id': agentId }, () => registerPhoneCall(
        this.retell,
        {
          agentId,
          agentVersion: choice?.agentVersion,
          agentOverride: choice?.agentOverride,
          callSid: call.callSid,
          accountSid: call.accountSid,
          from: call.from,
          to: call.to,
          direction: toDirection(call.twilioDirection),
          dynamicVariables: call.registration
            ? call.registration.dynamicVariables
            : {
                caller_number: call.from,
                called_number: call.to,
                ...(call.callerName ? { caller_name: call.callerName } : {}),
                // The hook knows the caller better than caller ID does: its values win.
                ...choice?.dynamicVariables,
              },
          metadata: choice?.metadata,
        },
        timeoutMs,
      ));
      timer({ result: 'ok' });
      annotate({ [ATTR_RETELL_CALL_ID]: registration.callId });
      const recording = planRecording(this.config.recording, choice?.recording);
      log.info(recording ? { callId: registration.callId, agentId, recording: recording.channels, consent: recording.consent } : { callId: registration.callId, agentId }, 'registered with retell');
      const { publicUrl } = this.config;
      const dial = retellDialVerb({ publicUrl, ...this.config.retell }, registration.callId);
      if (!recording) return { twiml: twimlDocument(dial), outcome: 'registered', callId: registration.callId, agentId };
      const twiml = recordedAnswerTwiml(recording, dial, {
        statusUrl: recordingStatusUrl(publicUrl),
        consentUrl: consentUrl(publicUrl, registration.callId, recording.channels),
      });
      return { twiml, outcome: 'registered', callId: registration.callId, agentId, recording };
    } catch (err) {
      const reason = err instanceof RegistrationError ? err.reason : 'retell_error';
      timer({ result: reason });
      log.error({ reason, status: (err as RegistrationError).status, err }, 'retell registration failed: answering the fallback');
      return this.fallback(reason);
    }
  }

  fallback(reason: FallbackReason): Answer {
    return { twiml: fallbackTwiml(this.config.fallback), outcome: 'fallback', fallbackReason: reason };
  }
}

/** `call.started`'s data: the call's ids, and an outbound call's request and campaign ids from its registration's metadata. */
function startedData(call: AnsweredCall, callId: string, agentId: string): EventPayloads['call.started'] {
  const ids = callData({ callSid: call.callSid, callId, direction: toDirection(call.twilioDirection), from: call.from, to: call.to }, call.registration?.metadata);
  return { ...ids, retell_call_id: callId, agent_id: agentId };
}

/** The agent for calls on one of the bridge's numbers: its AGENT_ROUTES entry, else RETELL_AGENT_ID. */
export function routedAgent(retell: Pick<Config['retell'], 'agentRoutes' | 'defaultAgentId'>, ourNumber: string): string | undefined {
  return retell.agentRoutes[ourNumber] ?? retell.defaultAgentId;
}

function lookupDetails(call: AnsweredCall, agentId: string | undefined): InboundCallDetails {
  const { callSid, from, to, callerName, fromCity, fromState, fromCountry, stirVerstat } = call;
  return { callSid, from, to, agentId, callerName, fromCity, fromState, fromCountry, stirVerstat };
}
