import { Agent, type Dispatcher } from 'undici';
import type { CallLog, Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { callInboundRequest, LOOKUP_LIMITS, parseCallInboundAnswer, type InboundCallDetails, type LookupChoice } from './lookup-contract';
import { signedJsonPost, unsuccessfulAnswer } from '../../retell/signed-post';

/** How a lookup went; the label of `bridge_inbound_webhook_total`. */
export type LookupResult =
  /** The answer was used (it may have changed nothing). */
  | 'ok'
  /** The hook asked for the call to be rejected. */
  | 'rejected'
  | 'timeout'
  | 'unreachable'
  /** A status other than 2xx, redirects included. */
  | 'http_error'
  /** Not JSON, or not the documented shape. */
  | 'invalid'
  | 'too_large'
  /** Not asked: too little time was left to ask it and still register the call. */
  | 'skipped';

export type Lookup =
  | { result: 'ok'; choice: LookupChoice }
  | { result: 'rejected' }
  /** The hook's answer cannot be used: the call goes to the agent the bridge would have used. */
  | { result: Exclude<LookupResult, 'ok' | 'rejected'>; reason: string };

/** A lookup with what was exchanged, for tools that show it. */
export type LookupExchange = Lookup & { ms: number; status?: number; body?: string };

/** Below this, a request is not worth sending: it could only time out. */
const MIN_LOOKUP_MS = 100;

export interface LookupHookOptions {
  url: string;
  /** Signs each request as Retell signs its webhooks (RETELL_API_KEY). */
  apiKey: string;
  /** The most any one lookup may take (INBOUND_WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  metrics?: Metrics;
}

/**
 * The client of the user's lookup hook (INBOUND_WEBHOOK_URL). It never throws and never takes longer
 * than it is given: whatever the hook does, the caller reaches an agent.
 */
export class LookupHook {
  readonly timeoutMs: number;
  private readonly url: string;
  private readonly apiKey: string;
  private readonly metrics: Metrics | undefined;
  // Its own keep-alive pool: the TLS handshake to the hook is paid once per connection, not per call.
  private readonly dispatcher: Dispatcher = new Agent({ keepAliveTimeout: 30_000, pipelining: 1 });

  constructor(opts: LookupHookOptions) {
    this.url = opts.url;
    this.apiKey = opts.apiKey;
    this.timeoutMs = opts.timeoutMs;
    this.metrics = opts.metrics;
  }

  /** Asks the hook about a new inbound call within `budgetMs` (at most `timeoutMs`), counting and logging the result. */
  async lookup(call: InboundCallDetails, budgetMs: number, log: CallLog): Promise<Lookup> {
    const exchange = await this.ask(call, budgetMs);
    const { ms } = exchange;
    this.metrics?.lookupHook.inc({ result: exchange.result });
    if (exchange.result !== 'skipped') this.metrics?.lookupHookDuration.observe({ result: exchange.result }, ms / 1000);
    if (exchange.result === 'ok') {
      const { choice } = exchange;
      log.info(
        { lookup: 'ok', ms, agentId: choice.agentId, agentVersion: choice.agentVersion, variables: Object.keys(choice.dynamicVariables).length },
        'lookup hook answered',
      );
      return { result: 'ok', choice };
    }
    if (exchange.result === 'rejected') {
      log.info({ lookup: 'rejected', ms }, 'lookup hook rejected the call');
      return { result: 'rejected' };
    }
    log.warn({ lookup: exchange.result, reason: exchange.reason, ms }, 'lookup hook gave no usable answer: using the default agent');
    return { result: exchange.result, reason: exchange.reason };
  }

  /** One signed request and what came of it; neither counted nor logged. */
  async ask(call: InboundCallDetails, budgetMs: number = this.timeoutMs): Promise<LookupExchange> {
    const timeoutMs = Math.min(this.timeoutMs, budgetMs);
    if (timeoutMs < MIN_LOOKUP_MS) return { result: 'skipped', reason: `only ${Math.max(0, Math.round(budgetMs))} ms were left`, ms: 0 };
    const answer = await signedJsonPost(this.dispatcher, this.url, JSON.stringify(callInboundRequest(call)), {
      apiKey: this.apiKey,
      timeoutMs,
      maxBytes: LOOKUP_LIMITS.answerBytes,
    });
    if (!answer.ok) return { result: answer.kind, reason: answer.message, ms: answer.ms };
    const seen = { ms: answer.ms, status: answer.status, body: answer.body };
    const failed = unsuccessfulAnswer(answer.status);
    if (failed) return { result: 'http_error', reason: `the hook ${failed}`, ...seen };
    let parsed;
    try {
      parsed = parseCallInboundAnswer(answer.body);
    } catch (err) {
      // Reading an answer should not throw; if it ever does, the answer is unusable, not the call.
      return { result: 'invalid', reason: `the answer could not be read: ${(err as Error).message}`, ...seen };
    }
    if (!parsed.ok) return { result: 'invalid', reason: parsed.reason, ...seen };
    if (parsed.decision.kind === 'reject') return { result: 'rejected', ...seen };
    return { result: 'ok', choice: parsed.decision.choice, ...seen };
  }

  /** Closes the hook's idle connections. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
