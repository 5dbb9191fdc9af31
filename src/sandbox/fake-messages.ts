/**
 * The Messages half of the fake Twilio API, with Twilio's wire format and checks:
 *
 * - `POST …/Messages.json` (To, From or MessagingServiceSid, Body, StatusCallback) → 201 with the message
 *   (`SM…`, status `queued`, or `accepted` through a Messaging Service); Twilio's refusals: 21604 no To,
 *   21211 a To that is not a number, 21603 no sender, 21606 a From that is not one of the account's
 *   numbers, 21602 no Body, 21617 a Body over 1600 characters, 21610 a To that texted STOP;
 * - then, every `stepMs`, the statuses a text goes through (queued → sending → sent → delivered, or
 *   undelivered / failed with an ErrorCode, as `outcomes` says for its number), each posted signed and
 *   form-encoded to its StatusCallback;
 * - `GET …/Messages.json` (To, From, PageSize, Page), newest first, and `GET …/Messages/{SM}.json`.
 *
 * `messageTo` plays a person texting one of the account's numbers: the messaging webhook is posted as
 * Twilio posts it, with `OptOutType=STOP` for an opt-out keyword, after which texts to that person are
 * refused (21610) until they text START.
 */
import { randomBytes } from 'node:crypto';
import { smsSegments } from '../formats';
import type { Injection } from './fake-twilio';
import { performInjected, twilioPage } from './twilio-rest';
import type { SentWebhook } from './fake-callee';

export interface FakeMessage {
  sid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  status: 'accepted' | 'queued' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed';
  statusCallback?: string;
  createdAt: number;
  updatedAt: number;
  sentAt?: number;
  errorCode?: number;
  /** The statuses posted to its StatusCallback, in order. */
  callbacks: string[];
}

/** How a text to a number ends. */
export type MessageOutcome = { status: 'delivered' } | { status: 'undelivered' | 'failed'; errorCode: number };

const E164 = /^\+[1-9]\d{6,14}$/;
const MESSAGING_SERVICE = /^MG[0-9a-fA-F]{32}$/;
const OPT_OUT = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE']);
const OPT_IN = new Set(['START', 'UNSTOP', 'YES']);

const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000');

interface Reply {
  send(status: number, body: unknown): void;
  error(status: number, code: number, message: string): void;
}

export class FakeMessages {
  readonly messages = new Map<string, FakeMessage>();
  /** Consumed one per create request, before normal handling (`late`: created at once, answered after `ms`). */
  readonly injections: Injection[] = [];
  /** How texts to each number end; delivered otherwise. */
  readonly outcomes = new Map<string, MessageOutcome>();
  /** Numbers that texted an opt-out keyword: Twilio refuses texts to them (21610). */
  readonly optedOut = new Set<string>();
  /** Between one status and the next. @defaultValue 30 */
  stepMs = 30;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly api: {
      accountSid: string;
      /** Whether `phoneNumber` is one of the account's numbers (a sender it may use). */
      ownsNumber(phoneNumber: string): boolean;
      /** The account's first number: the sender a Messaging Service picks. */
      serviceSender(): string | undefined;
      deliver(kind: SentWebhook['kind'], callSid: string, url: string, params: Record<string, string>): Promise<SentWebhook>;
    },
  ) {}

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** The texts sent to `to`, oldest first. */
  to(to: string): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.to === to).sort((a, b) => a.createdAt - b.createdAt);
  }

  /** The REST side; true when the request was one of the Messages paths. */
  async handle(method: string, path: string, query: URLSearchParams, form: URLSearchParams, reply: Reply): Promise<boolean> {
    const base = `/2010-04-01/Accounts/${this.api.accountSid}`;
    if (path === `${base}/Messages.json` && method === 'POST') {
      await performInjected(
        this.injections.shift(),
        (status, code, message) => reply.error(status, code, message),
        () => this.create(form),
        (created) => ('error' in created ? reply.error(400, created.error.code, created.error.message) : reply.send(201, this.json(created.message))),
      );
      return true;
    }
    if (path === `${base}/Messages.json` && method === 'GET') {
      const list = [...this.messages.values()]
        .filter((m) => (!query.has('To') || m.to === query.get('To')) && (!query.has('From') || m.from === query.get('From')))
        .sort((a, b) => b.createdAt - a.createdAt);
      reply.send(200, twilioPage('messages', `${base}/Messages.json`, query, list, (m) => this.json(m)));
      return true;
    }
    const one = new RegExp(`^${base}/Messages/((SM|MM)[0-9a-f]{32})\\.json$`, 'i').exec(path);
    if (one && method === 'GET') {
      const m = this.messages.get(one[1]!);
      if (!m) reply.error(404, 20404, `The requested resource ${path} was not found`);
      else reply.send(200, this.json(m));
      return true;
    }
    return false;
  }

  /**
   * A person at `from` texts `body` to the account's number `to`: the messaging webhook at `url` gets it
   * as Twilio sends it, signed. Returns what the webhook answered.
   */
  async messageTo(url: string, from: string, to: string, body: string): Promise<SentWebhook> {
    const keyword = body.trim().toUpperCase();
    const optOut = OPT_OUT.has(keyword);
    if (optOut) this.optedOut.add(from);
    if (OPT_IN.has(keyword)) this.optedOut.delete(from);
    const sid = `SM${randomBytes(16).toString('hex')}`;
    return this.api.deliver('message', '', url, {
      ToCountry: 'US',
      SmsMessageSid: sid,
      NumMedia: '0',
      SmsSid: sid,
      SmsStatus: 'received',
      Body: body,
      To: to,
      NumSegments: '1',
      MessageSid: sid,
      AccountSid: this.api.accountSid,
      From: from,
      ApiVersion: '2010-04-01',
      ...(optOut ? { OptOutType: 'STOP' } : OPT_IN.has(keyword) ? { OptOutType: 'START' } : {}),
    });
  }

  private create(form: URLSearchParams): { message: FakeMessage } | { error: { code: number; message: string } } {
    const to = form.get('To');
    const from = form.get('From');
    const service = form.get('MessagingServiceSid');
    const body = form.get('Body');
    if (!to) return { error: { code: 21604, message: "A 'To' phone number is required." } };
    if (!E164.test(to)) return { error: { code: 21211, message: `The 'To' number ${to} is not a valid phone number.` } };
    if (!from && !service) return { error: { code: 21603, message: "A 'From' phone number is required." } };
    if (service && !MESSAGING_SERVICE.test(service)) return { error: { code: 21701, message: `The Messaging Service Sid ${service} is invalid.` } };
    if (!service && !this.api.ownsNumber(from!)) {
      return { error: { code: 21606, message: `The From phone number ${from} is not a valid, SMS-capable inbound phone number or short code for your account.` } };
    }
    if (!body) return { error: { code: 21602, message: 'Message body is required.' } };
    if (body.length > 1600) return { error: { code: 21617, message: 'The concatenated message body exceeds the 1600 character limit.' } };
    if (this.optedOut.has(to)) return { error: { code: 21610, message: 'Attempt to send to unsubscribed recipient' } };
    const now = Date.now();
    const message: FakeMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      to,
      from: service ? null : from,
      messagingServiceSid: service,
      body,
      status: service ? 'accepted' : 'queued',
      statusCallback: form.get('StatusCallback') ?? undefined,
      createdAt: now,
      updatedAt: now,
      callbacks: [],
    };
    this.messages.set(message.sid, message);
    this.progress(message);
    return { message };
  }

  /** The statuses the text goes through, each told to its StatusCallback. */
  private progress(m: FakeMessage): void {
    const outcome = this.outcomes.get(m.to) ?? { status: 'delivered' };
    const steps: Array<FakeMessage['status']> = [...(m.status === 'accepted' ? ['queued' as const] : []), 'sending', 'sent', outcome.status];
    const next = (i: number) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        const status = steps[i]!;
        m.status = status;
        m.updatedAt = Date.now();
        if (status === 'queued' && !m.from) m.from = this.api.serviceSender() ?? null;
        if (status === 'sent') m.sentAt = m.updatedAt;
        if (outcome.status !== 'delivered' && status === outcome.status) m.errorCode = outcome.errorCode;
        this.callback(m);
        if (i + 1 < steps.length) next(i + 1);
      }, this.stepMs);
      this.timers.add(timer);
    };
    this.callback(m);
    next(0);
  }

  private callback(m: FakeMessage): void {
    m.callbacks.push(m.status);
    if (!m.statusCallback) return;
    void this.api.deliver('message', '', m.statusCallback, {
      AccountSid: this.api.accountSid,
      ApiVersion: '2010-04-01',
      From: m.from ?? '',
      To: m.to,
      MessageSid: m.sid,
      SmsSid: m.sid,
      SmsStatus: m.status,
      MessageStatus: m.status,
      ...(m.messagingServiceSid ? { MessagingServiceSid: m.messagingServiceSid } : {}),
      ...(m.errorCode !== undefined ? { ErrorCode: String(m.errorCode) } : {}),
    });
  }

  /** A message as Twilio's Message resource shows it. */
  private json(m: FakeMessage) {
    return {
      account_sid: this.api.accountSid,
      api_version: '2010-04-01',
      body: m.body,
      date_created: rfc2822(m.createdAt),
      date_sent: m.sentAt ? rfc2822(m.sentAt) : null,
      date_updated: rfc2822(m.updatedAt),
      direction: 'outbound-api',
      error_code: m.errorCode ?? null,
      error_message: null,
      from: m.from,
      messaging_service_sid: m.messagingServiceSid,
      num_media: '0',
      // Twilio counts a Messaging Service's text once it has a sender.
      num_segments: m.status === 'accepted' ? '0' : String(smsSegments(m.body).segments),
      price: null,
      price_unit: 'USD',
      sid: m.sid,
      status: m.status,
      subresource_uris: { media: `/2010-04-01/Accounts/${this.api.accountSid}/Messages/${m.sid}/Media.json` },
      to: m.to,
      uri: `/2010-04-01/Accounts/${this.api.accountSid}/Messages/${m.sid}.json`,
    };
  }

}
