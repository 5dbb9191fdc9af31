import { randomUUID } from 'node:crypto';
import type Retell from 'retell-sdk';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { registerPhoneCall, RegistrationError, type RegistrationFailureReason } from '../retell/register';
import { dialRetellTwiml, fallbackTwiml } from '../twilio/twiml';
import type { AnswerClaims } from '../calls/claim';
import type { CallDirection } from '../formats';

/** The parts of Twilio's voice webhook the bridge uses. */
export interface InboundCall {
  callSid: string;
  accountSid: string;
  from: string;
  to: string;
  /** Twilio's `Direction`: `inbound`, `outbound-api` or `outbound-dial`. */
  twilioDirection: string | undefined;
  callerName: string | undefined;
  /**
   * For a call the bridge placed itself (POST /calls): the agent, variables and metadata its request
   * named, used instead of the number's routing and the caller's details.
   */
  registration?: RegistrationOverrides;
}

export interface RegistrationOverrides {
  agentId: string;
  agentVersion?: number;
  dynamicVariables: Record<string, string>;
  metadata: Record<string, unknown>;
  agentOverride?: Record<string, unknown>;
}

export type AnswerOutcome =
  /** This request registered the call with Retell. */
  | 'registered'
  /** A repeat: the stored answer was replayed. */
  | 'duplicate'
  /** Redis could not be used; registered without dedupe. */
  | 'registered_unguarded'
  | 'fallback';

export type FallbackReason = RegistrationFailureReason | 'no_agent' | 'deadline';

export interface Answer {
  twiml: string;
  outcome: AnswerOutcome;
  callId?: string;
  fallbackReason?: FallbackReason;
}

export interface CallAnswererOptions {
  config: Pick<Config, 'publicUrl' | 'retell' | 'fallback'>;
  claims: AnswerClaims;
  retell: Retell;
  logger: Logger;
}

/**
 * Timing, all derived from the Retell timeout (default 4 s) so one setting moves them together:
 * - lease: how long a claim protects a registration in progress; longer than Retell may take, so a
 *   live holder is never overtaken, short enough that a dead holder's repeat still gets through.
 * - deadline: when a request must answer whatever happens, well inside Twilio's 15 s.
 */
export function answerTiming(retellTimeoutMs: number): { leaseMs: number; deadlineMs: number } {
  const leaseMs = retellTimeoutMs + 1500;
  return { leaseMs, deadlineMs: Math.min(13_000, leaseMs + retellTimeoutMs + 1500) };
}

const POLL_FIRST_MS = 15;
const POLL_MAX_MS = 200;
/** Below this much time left, a new registration is not worth starting. */
const MIN_REGISTER_MS = 300;

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
  private readonly claims: AnswerClaims;
  private readonly retell: Retell;
  private readonly logger: Logger;
  private readonly leaseMs: number;
  private readonly deadlineMs: number;
  /** Repeats that reach the same process share one answer without polling Redis. */
  private readonly inflight = new Map<string, Promise<Answer>>();

  constructor(opts: CallAnswererOptions) {
    this.config = opts.config;
    this.claims = opts.claims;
    this.retell = opts.retell;
    this.logger = opts.logger;
    ({ leaseMs: this.leaseMs, deadlineMs: this.deadlineMs } = answerTiming(opts.config.retell.timeoutMs));
  }

  answer(call: InboundCall): Promise<Answer> {
    const shared = this.inflight.get(call.callSid);
    if (shared) return shared.then((a) => (a.outcome === 'fallback' ? a : { ...a, outcome: 'duplicate' }));
    const pending = this.answerOnce(call, Date.now() + this.deadlineMs).finally(() => this.inflight.delete(call.callSid));
    this.inflight.set(call.callSid, pending);
    return pending;
  }

  /** The agent for a call: routed by the bridge's own number (the called one inbound, the caller outbound). */
  agentFor(call: InboundCall): string | undefined {
    if (call.registration) return call.registration.agentId;
    const ourNumber = toDirection(call.twilioDirection) === 'outbound' ? call.from : call.to;
    return this.config.retell.agentRoutes[ourNumber] ?? this.config.retell.defaultAgentId;
  }

  private async answerOnce(call: InboundCall, deadline: number): Promise<Answer> {
    const log = this.logger.child({ callSid: call.callSid });
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
    };

    let poll = POLL_FIRST_MS;
    for (;;) {
      let claim;
      try {
        claim = await this.claims.claim(call.callSid, owner, this.leaseMs, initial);
      } catch (err) {
        // A dropped call is worse than a rare duplicate registration: connect the caller anyway.
        log.error({ err: (err as Error).message }, 'redis unavailable: answering without dedupe');
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

  private async registerAsOwner(call: InboundCall, owner: string, deadline: number, log: Logger): Promise<Answer> {
    let answer: Answer;
    try {
      answer = await this.register(call, deadline, log);
    } catch (err) {
      await this.claims.release(call.callSid, owner).catch(() => undefined);
      throw err;
    }
    try {
      const stored = await this.claims.complete(call.callSid, owner, {
        twiml: answer.twiml,
        state: answer.outcome === 'fallback' ? 'fallback' : 'registered',
        callId: answer.callId,
        agentId: answer.callId ? this.agentFor(call) : undefined,
        error: answer.fallbackReason,
        updatedAt: new Date().toISOString(),
      });
      if (stored.kind === 'lost') {
        // Our lease ran out (a stall longer than the Retell timeout) and another request took over;
        // its TwiML is the one Twilio may already be dialing, so every answer must match it. If it is
        // not stored yet, wait for it; ours is only the answer of last resort.
        log.warn({ orphanCallId: answer.callId }, 'claim lost during registration; answering with the new holder\'s TwiML');
        const theirs = stored.twiml ?? (await this.waitForStoredAnswer(call.callSid, deadline));
        if (theirs !== undefined) return { twiml: theirs, outcome: 'duplicate' };
      }
    } catch (err) {
      log.error({ err: (err as Error).message, callId: answer.callId }, 'redis unavailable: answer not stored');
    }
    return answer;
  }

  private async waitForStoredAnswer(callSid: string, deadline: number): Promise<string | undefined> {
    let poll = POLL_FIRST_MS;
    while (Date.now() < deadline) {
      await sleep(Math.min(poll, Math.max(0, deadline - Date.now())));
      const twiml = await this.claims.storedAnswer(callSid);
      if (twiml !== undefined) return twiml;
      poll = Math.min(poll * 2, POLL_MAX_MS);
    }
    return undefined;
  }

  private async registerUnguarded(call: InboundCall, deadline: number, log: Logger): Promise<Answer> {
    const answer = await this.register(call, deadline, log);
    return answer.outcome === 'registered' ? { ...answer, outcome: 'registered_unguarded' } : answer;
  }

  /** Registers with Retell and builds the TwiML; never throws for Retell's failures, only answers the fallback. */
  private async register(call: InboundCall, deadline: number, log: Logger): Promise<Answer> {
    const agentId = this.agentFor(call);
    if (!agentId) {
      log.error({ to: call.to }, 'no agent for this number: add it to AGENT_ROUTES or set RETELL_AGENT_ID');
      return this.fallback('no_agent');
    }
    const timeoutMs = Math.min(this.config.retell.timeoutMs, deadline - Date.now() - 200);
    if (timeoutMs < MIN_REGISTER_MS) return this.fallback('deadline');
    try {
      const registration = await registerPhoneCall(
        this.retell,
        {
          agentId,
          callSid: call.callSid,
          accountSid: call.accountSid,
          from: call.from,
          to: call.to,
          direction: toDirection(call.twilioDirection),
          dynamicVariables: call.registration?.dynamicVariables ?? {
            caller_number: call.from,
            called_number: call.to,
            ...(call.callerName ? { caller_name: call.callerName } : {}),
          },
          agentVersion: call.registration?.agentVersion,
          metadata: call.registration?.metadata,
          agentOverride: call.registration?.agentOverride,
        },
        timeoutMs,
      );
      log.info({ callId: registration.callId, agentId }, 'registered with retell');
      const { sipHost, sipTransport } = this.config.retell;
      const twiml = dialRetellTwiml(registration.callId, sipHost, sipTransport, `${this.config.publicUrl}/twilio/dial-action`);
      return { twiml, outcome: 'registered', callId: registration.callId };
    } catch (err) {
      const reason = err instanceof RegistrationError ? err.reason : 'retell_error';
      log.error({ reason, status: (err as RegistrationError).status, err: (err as Error).message }, 'retell registration failed: answering the fallback');
      return this.fallback(reason);
    }
  }

  fallback(reason: FallbackReason): Answer {
    return { twiml: fallbackTwiml(this.config.fallback), outcome: 'fallback', fallbackReason: reason };
  }
}
