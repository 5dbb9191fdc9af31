/**
 * The lookup hook's wire format: Retell's inbound call webhook (`call_inbound`). Retell does not call
 * it for dial-to-SIP calls, so the bridge does, with the same request and answer, and a handler
 * written for Retell's own numbers works unchanged. The bridge adds `event_timestamp` and what Twilio
 * knows about the caller under `twilio`.
 */
import { z } from 'zod';
import { MAX_JSON_DEPTH, nestedDeeperThan, speakable, tooDeepReason } from '../../formats';
import type { RecordingChoice } from '../recording';

export interface CallInboundRequest {
  event: 'call_inbound';
  event_timestamp: number;
  call_inbound: { agent_id?: string; from_number: string; to_number: string };
  twilio: {
    call_sid: string;
    caller_name?: string;
    from_city?: string;
    from_state?: string;
    from_country?: string;
    stir_verstat?: string;
  };
}

/** What the bridge knows about a new inbound call when it asks the hook. */
export interface InboundCallDetails {
  callSid: string;
  from: string;
  to: string;
  /** The agent the bridge would use without the hook (routed by the called number). */
  agentId: string | undefined;
  callerName?: string;
  fromCity?: string;
  fromState?: string;
  fromCountry?: string;
  stirVerstat?: string;
}

export function callInboundRequest(call: InboundCallDetails, now = Date.now()): CallInboundRequest {
  const twilio: CallInboundRequest['twilio'] = { call_sid: call.callSid };
  if (call.callerName) twilio.caller_name = call.callerName;
  if (call.fromCity) twilio.from_city = call.fromCity;
  if (call.fromState) twilio.from_state = call.fromState;
  if (call.fromCountry) twilio.from_country = call.fromCountry;
  if (call.stirVerstat) twilio.stir_verstat = call.stirVerstat;
  return {
    event: 'call_inbound',
    event_timestamp: now,
    call_inbound: { ...(call.agentId ? { agent_id: call.agentId } : {}), from_number: call.from, to_number: call.to },
    twilio,
  };
}

/**
 * Bounds on an answer. The answer is read into memory and its variables go into every prompt of the
 * call, so a hook that answers a database dump must not take the web process or the call down.
 */
export const LOOKUP_LIMITS = {
  answerBytes: 64 * 1024,
  variables: 100,
  variableNameChars: 100,
  variableValueChars: 10_000,
} as const;

/** A choice the hook made for the call; anything left out stays as the bridge would have it. */
export interface LookupChoice {
  agentId?: string;
  agentVersion?: number | string;
  /** Already strings, as Retell requires. */
  dynamicVariables: Record<string, string>;
  metadata?: Record<string, unknown>;
  agentOverride?: Record<string, unknown>;
  /** Whether this call is recorded (and what it is told first), instead of RECORDING's answer. */
  recording?: RecordingChoice;
}

export type LookupDecision = { kind: 'reject' } | { kind: 'route'; choice: LookupChoice };

// Handlers serialise absent fields as null often enough (Pydantic, Jackson) that null counts as absent.
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === null ? undefined : v), schema.optional());

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const jsonObject = z.custom<Record<string, unknown>>(isObject, 'must be a JSON object');

const variableValue = z
  .union([z.string(), z.number(), z.boolean()], { error: 'must be a string, number or boolean' })
  .transform(String)
  .refine((v) => v.length <= LOOKUP_LIMITS.variableValueChars, `must be at most ${LOOKUP_LIMITS.variableValueChars} characters`);

const dynamicVariables = jsonObject
  .refine((vars) => Object.keys(vars).length <= LOOKUP_LIMITS.variables, `must hold at most ${LOOKUP_LIMITS.variables} variables`)
  .refine(
    (vars) => Object.keys(vars).every((name) => name.length >= 1 && name.length <= LOOKUP_LIMITS.variableNameChars),
    `names must be 1-${LOOKUP_LIMITS.variableNameChars} characters`,
  )
  .pipe(z.record(z.string(), optional(variableValue)));

// The forms Retell's Register Phone Call accepts for `agent_version`.
const VERSION_FORMS = 'must be a version number or a tag such as "prod"';
const agentVersion = z.union([z.number().int(VERSION_FORMS).min(0, VERSION_FORMS), z.string().regex(/^[a-z0-9_-]{1,20}$/, VERSION_FORMS)], {
  error: VERSION_FORMS,
});

/** Fields beside the known ones are ignored, as Retell ignores them. */
const answerSchema = z.looseObject({
  call_inbound: optional(
    z.looseObject(
      {
        override_agent_id: optional(z.string({ error: 'must be a string' }).regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be an agent id such as agent_abc123')),
        override_agent_version: optional(agentVersion),
        dynamic_variables: optional(dynamicVariables),
        metadata: optional(jsonObject),
        agent_override: optional(jsonObject),
        reject: optional(z.boolean({ error: 'must be true or false' })),
        recording: optional(
          z.looseObject(
            {
              enabled: z.boolean({ error: 'must be true or false' }),
              // Said to the caller: characters TwiML cannot carry are dropped, as in every sentence the bridge says.
              disclosure: optional(z.string({ error: 'must be a string' }).max(1000, 'must be at most 1000 characters').transform(speakable)),
            },
            { error: 'must be a JSON object such as {"enabled": true}' },
          ),
        ),
      },
      { error: 'must be a JSON object' },
    ),
  ),
}, { error: 'must be a JSON object' });

/**
 * Reads the body of a 2xx answer. An empty body changes nothing, as does `{}`; anything that is not
 * the documented shape is refused whole (a half-applied answer would be a surprise), with the reason.
 */
export function parseCallInboundAnswer(body: string): { ok: true; decision: LookupDecision } | { ok: false; reason: string } {
  let json: unknown = {};
  if (body.trim() !== '') {
    try {
      json = JSON.parse(body);
    } catch {
      return { ok: false, reason: 'the answer is not JSON' };
    }
  }
  // Before anything walks it: metadata and agent_override are serialised for Retell's registration,
  // and an answer nested thousands of levels deep (well within answerBytes) overflows the stack there.
  // Retell's events carry metadata back at the same depth (body, call, metadata), so they stay within
  // the bridge's own body limit too.
  const deep = nestedDeeperThan(json, MAX_JSON_DEPTH);
  if (deep) return { ok: false, reason: tooDeepReason('the answer', MAX_JSON_DEPTH, deep.under) };
  const parsed = answerSchema.safeParse(json);
  if (!parsed.success) {
    const reasons = parsed.error.issues.slice(0, 3).map((issue) => {
      const path = issue.path.map((part) => String(part).slice(0, 40)).join('.');
      return `${path || 'the answer'}: ${issue.message}`;
    });
    return { ok: false, reason: reasons.join('; ') };
  }
  const answer = parsed.data.call_inbound ?? {};
  if (answer.reject) return { ok: true, decision: { kind: 'reject' } };
  const dynamicVariables: Record<string, string> = {};
  for (const [name, value] of Object.entries(answer.dynamic_variables ?? {})) if (value !== undefined) dynamicVariables[name] = value;
  const choice: LookupChoice = { dynamicVariables };
  if (answer.override_agent_id) choice.agentId = answer.override_agent_id;
  if (answer.override_agent_version !== undefined) choice.agentVersion = answer.override_agent_version;
  if (answer.metadata) choice.metadata = answer.metadata;
  if (answer.agent_override) choice.agentOverride = answer.agent_override;
  if (answer.recording) choice.recording = { enabled: answer.recording.enabled, ...(answer.recording.disclosure ? { disclosure: answer.recording.disclosure } : {}) };
  return { ok: true, decision: { kind: 'route', choice } };
}
