import { PUBLIC_URL } from '../../support/bridge';
import { postSigned, voiceParams } from '../../support/twilio-signing';

export const VOICE = '/twilio/voice';

/** One voice webhook as the test (standing in for Twilio) saw it. */
export interface Answered {
  callSid: string;
  startedAt: number;
  elapsedMs: number;
  /** 0 when no HTTP answer came (connection refused, reset, or the client gave up). */
  status: number;
  contentType: string;
  body: string;
  error?: string;
}

/** Posts a signed voice webhook for `params` and records the answer; never throws. */
export async function sendVoice(baseUrl: string, params: Record<string, string>, timeoutMs = 15_000): Promise<Answered> {
  const startedAt = Date.now();
  const callSid = params.CallSid ?? '';
  try {
    const res = await Promise.race([
      postSigned(baseUrl, PUBLIC_URL, VOICE, params),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    const body = await res.text();
    return { callSid, startedAt, elapsedMs: Date.now() - startedAt, status: res.status, contentType: res.headers.get('content-type') ?? '', body };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { callSid, startedAt, elapsedMs: Date.now() - startedAt, status: 0, contentType: '', body: '', error: cause ?? (err as Error).message };
  }
}

/** The Retell call id a TwiML answer dials, if it dials one. */
export function dialedCallId(twiml: string): string | undefined {
  return /<Sip>sip:([^@<]+)@/.exec(twiml)?.[1];
}

export function isFallback(twiml: string): boolean {
  return /<Say>[^<]*<\/Say><Hangup\/>/.test(twiml) && !twiml.includes('<Sip>');
}

/** A well-formed TwiML answer that either dials a Retell call or plays the fallback. */
export function isCallTwiml(answer: Answered): boolean {
  return (
    answer.status === 200 &&
    answer.contentType.startsWith('text/xml') &&
    answer.body.startsWith('<?xml version="1.0" encoding="UTF-8"?><Response>') &&
    answer.body.endsWith('</Response>') &&
    (dialedCallId(answer.body) !== undefined || isFallback(answer.body))
  );
}

/** A compact description of answers that broke an expectation, for assertion messages. */
export function summarize(answers: Answered[], limit = 5): string {
  return answers
    .slice(0, limit)
    .map((a) => `${a.callSid} +${a.elapsedMs}ms status=${a.status} ${a.error ?? a.body.slice(0, 120)}`)
    .join('\n');
}

/**
 * Webhooks at a steady rate, as Twilio delivers them during business hours: every `intervalMs`, a new
 * call or (every `repeatEvery`-th tick) a repeat of a recent one, until stopped or `maxRequests` sent.
 */
export class SteadyTraffic {
  readonly answers: Answered[] = [];
  readonly sent: Record<string, string>[] = [];
  private readonly pending = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private tick = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly opts: { intervalMs: number; maxRequests: number; repeatEvery?: number },
  ) {}

  start(): this {
    this.timer = setInterval(() => this.send(), this.opts.intervalMs);
    return this;
  }

  /** Stops sending and waits for every answer. */
  async stop(): Promise<Answered[]> {
    clearInterval(this.timer);
    await Promise.all([...this.pending]);
    return this.answers;
  }

  /** Waits until all `maxRequests` were sent (at most `timeoutMs`), then stops and returns every answer. */
  async finished(timeoutMs: number): Promise<Answered[]> {
    const until = Date.now() + timeoutMs;
    while (this.tick < this.opts.maxRequests && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return this.stop();
  }

  /** How many webhooks were sent so far. */
  get count(): number {
    return this.tick;
  }

  private send(): void {
    if (this.tick >= this.opts.maxRequests) return clearInterval(this.timer);
    this.tick += 1;
    const repeatEvery = this.opts.repeatEvery ?? 0;
    const recent = this.sent.slice(-10);
    const params =
      repeatEvery > 0 && this.tick % repeatEvery === 0 && recent.length > 0
        ? recent[this.tick % recent.length]!
        : voiceParams();
    this.sent.push(params);
    const p = sendVoice(this.baseUrl, params).then((a) => void this.answers.push(a));
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}
