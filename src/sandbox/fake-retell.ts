import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackServer } from './loopback-server';

// Register Phone Call's `agent_version` tag pattern (Retell's OpenAPI `AgentVersionReference`).
const AGENT_VERSION_TAG = /^[a-z0-9_-]{1,20}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A Register Phone Call request as the fake Retell API received it: the whole body, so tests see
 * `agent_version`, `agent_override`, `metadata` and `retell_llm_dynamic_variables` exactly as sent.
 */
export interface ReceivedRegistration {
  body: Record<string, unknown>;
  callId: string;
  receivedAt: number;
}

/** An Update Live Call request (`PATCH /v2/update-live-call/{call_id}`) as received, answered or not. */
export interface ReceivedLiveUpdate {
  callId: string;
  body: Record<string, unknown>;
  /** 200, or 404 for a call Retell does not have live. */
  status: number;
  receivedAt: number;
}

export type RetellBehaviour =
  | { kind: 'ok'; delayMs?: number }
  | { kind: 'status'; status: number; delayMs?: number }
  /** Accept the connection and never answer. */
  | { kind: 'hang' };

/**
 * Speaks Retell's wire format for what the bridge uses: `POST /v2/register-phone-call` with a
 * Bearer key and a JSON body (the field types Retell checks are checked), answered 201 with a
 * PhoneCallResponse, or Retell's JSON error shape; and `GET /get-concurrency`.
 *
 * Outside Retell's paths, with the same key, the sandbox's tools can see what the bridge registered:
 * `GET /sandbox/registrations?twilio_call_sid=CA…` lists the registrations for that Twilio call.
 */
export class FakeRetell extends LoopbackServer {
  readonly registrations: ReceivedRegistration[] = [];
  /** Register requests that arrived, including those still waiting on a delay or hanging. */
  received = 0;
  behaviour: RetellBehaviour = { kind: 'ok' };
  /**
   * What `GET /get-concurrency` reports: `current` calls of `limit` (Retell's pay-as-you-go default is
   * 20). `current` may be a function, e.g. to count the registrations of calls still going.
   */
  concurrency: { current: number | (() => number); limit: number } = { current: 0, limit: 20 };
  /** get-concurrency requests received. */
  concurrencyRequests = 0;
  /** Update Live Call requests, in arrival order. */
  readonly liveUpdates: ReceivedLiveUpdate[] = [];
  /** Calls that have ended (Retell answers 404 to updating them), e.g. after the caller was moved away. */
  readonly endedCalls = new Set<string>();
  /** Status for the next Update Live Call requests instead of the normal answer (e.g. 500), one each. */
  readonly liveUpdateFaults: number[] = [];

  constructor(readonly apiKey: string) {
    super();
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const send = (status: number, body: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.method === 'GET' && url.pathname === '/sandbox/registrations') {
      if (req.headers.authorization !== `Bearer ${this.apiKey}`) return send(401, { error_message: 'Invalid API key' });
      const sid = url.searchParams.get('twilio_call_sid');
      const registrations = this.registrations
        .filter((r) => !sid || (r.body.metadata as { twilio_call_sid?: unknown } | undefined)?.twilio_call_sid === sid)
        .map((r) => ({ call_id: r.callId, request: r.body, received_at: new Date(r.receivedAt).toISOString() }));
      return send(200, { registrations });
    }
    const liveUpdate = /^\/v2\/update-live-call\/([^/?]+)$/.exec(url.pathname);
    if (liveUpdate && req.method === 'PATCH') return this.updateLive(decodeURIComponent(liveUpdate[1]!), req, chunks, send);
    const isConcurrency = req.method === 'GET' && req.url === '/get-concurrency';
    if (!isConcurrency && (req.method !== 'POST' || req.url !== '/v2/register-phone-call')) return send(404, { error_message: 'Not Found' });
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) return send(401, { error_message: 'Invalid API key' });
    if (isConcurrency) {
      this.concurrencyRequests += 1;
      const { current, limit } = this.concurrency;
      return send(200, {
        current_concurrency: typeof current === 'function' ? current() : current,
        concurrency_limit: limit,
        base_concurrency: limit,
        purchased_concurrency: 0,
        concurrency_purchase_limit: 100,
        remaining_purchase_limit: 100,
        concurrency_burst_enabled: false,
        concurrency_burst_limit: 0,
        reserved_inbound_concurrency: 0,
      });
    }
    if (!String(req.headers['content-type']).startsWith('application/json')) return send(400, { error_message: 'Expected JSON' });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      return send(400, { error_message: 'Invalid JSON' });
    }
    if (typeof body.agent_id !== 'string' || body.agent_id === '') return send(400, { error_message: 'agent_id is required' });
    const vars = body.retell_llm_dynamic_variables as Record<string, unknown> | undefined;
    if (vars !== undefined && (!isObject(vars) || Object.values(vars).some((v) => typeof v !== 'string'))) {
      return send(400, { error_message: 'retell_llm_dynamic_variables values must be strings' });
    }
    const version = body.agent_version;
    if (version !== undefined && !(Number.isInteger(version) && (version as number) >= 0) && !(typeof version === 'string' && AGENT_VERSION_TAG.test(version))) {
      return send(400, { error_message: 'agent_version must be a version number or a version tag' });
    }
    if (body.agent_override !== undefined && !isObject(body.agent_override)) return send(400, { error_message: 'agent_override must be an object' });
    if (body.metadata !== undefined && !isObject(body.metadata)) return send(400, { error_message: 'metadata must be an object' });

    this.received += 1;
    const behaviour = this.behaviour;
    if (behaviour.kind === 'hang') return; // the socket stays open until the client gives up or stop()
    if (behaviour.delayMs) await new Promise((r) => setTimeout(r, behaviour.delayMs));
    if (behaviour.kind === 'status') return send(behaviour.status, { error_message: `fake error ${behaviour.status}` });

    const callId = `call_${randomBytes(16).toString('hex')}`;
    this.registrations.push({ body, callId, receivedAt: Date.now() });
    send(201, {
      call_id: callId,
      call_type: 'phone_call',
      agent_id: body.agent_id,
      // Retell resolves a tag to the version it names; the fake's versions are all 1.
      agent_version: typeof version === 'number' ? version : 1,
      call_status: 'registered',
      direction: body.direction ?? 'inbound',
      from_number: body.from_number,
      to_number: body.to_number,
      ...(body.metadata ? { metadata: body.metadata } : {}),
      ...(vars ? { retell_llm_dynamic_variables: vars } : {}),
    });
  }

  /**
   * `PATCH /v2/update-live-call/{call_id}`: `call_control.additional_context` (a string) and
   * `call_control.trigger_response` (a boolean), for a call registered here and not ended; 404 otherwise,
   * as Retell answers for a call it does not have live.
   */
  private updateLive(callId: string, req: IncomingMessage, chunks: Buffer[], send: (status: number, body: unknown) => void): void {
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) return send(401, { error_message: 'Invalid API key' });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      return send(400, { error_message: 'Invalid JSON' });
    }
    const control = body.call_control;
    if (control !== undefined && !isObject(control)) return send(400, { error_message: 'call_control must be an object' });
    if (control && control.additional_context !== undefined && typeof control.additional_context !== 'string') {
      return send(400, { error_message: 'call_control.additional_context must be a string' });
    }
    if (control && control.trigger_response !== undefined && typeof control.trigger_response !== 'boolean') {
      return send(400, { error_message: 'call_control.trigger_response must be a boolean' });
    }
    const fault = this.liveUpdateFaults.shift();
    const live = this.registrations.some((r) => r.callId === callId) && !this.endedCalls.has(callId);
    const status = fault ?? (live ? 200 : 404);
    this.liveUpdates.push({ callId, body, status, receivedAt: Date.now() });
    if (status !== 200) return send(status, { error_message: status === 404 ? 'Call not found or not ongoing' : `fake error ${status}` });
    send(200, { call_id: callId, call_type: 'phone_call', call_status: 'ongoing' });
  }
}
