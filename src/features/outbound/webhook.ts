import { UnrecoverableError, type Job } from 'bullmq';
import { signRetellBody } from '../../retell/signature';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import type { OutboundEventJob } from './jobs';

export interface OutboundEventSenderDeps {
  /** OUTBOUND_WEBHOOK_URL. */
  url: string;
  /** API_TOKEN: the receiver holds it already, so it needs no second secret to check the signature. */
  secret: string;
  logger: Logger;
  metrics: Metrics;
  /** @defaultValue 10000 */
  timeoutMs?: number;
}

export const BRIDGE_SIGNATURE_HEADER = 'x-bridge-signature';

/**
 * Delivers one status change to OUTBOUND_WEBHOOK_URL: JSON, signed `X-Bridge-Signature: v=<ms>,d=<hex
 * HMAC-SHA256(body + ms, API_TOKEN)>` (Retell's scheme, so the same verifier works). A 2xx is
 * delivered; 408, 429, 5xx and network errors are retried with backoff; any other answer is final,
 * since the receiver would refuse the same bytes again.
 */
export class OutboundEventSender {
  constructor(private readonly deps: OutboundEventSenderDeps) {}

  async process(job: Job<OutboundEventJob>): Promise<'delivered'> {
    const { id, status, body } = job.data;
    const log = this.deps.logger.child({ jobId: job.id, outboundId: id, status, attempt: job.attemptsMade + 1 });
    let answer: number;
    try {
      const res = await fetch(this.deps.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [BRIDGE_SIGNATURE_HEADER]: signRetellBody(body, this.deps.secret), 'user-agent': 'twilio-retell-bridge' },
        body,
        signal: AbortSignal.timeout(this.deps.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      answer = res.status;
    } catch (err) {
      return this.retry(job, `webhook unreachable: ${(err as Error).message}`, log);
    }
    if (answer >= 200 && answer < 300) {
      this.deps.metrics.outboundWebhooks.inc({ result: 'delivered' });
      log.debug('outbound webhook delivered');
      return 'delivered';
    }
    if (answer === 408 || answer === 429 || answer >= 500) return this.retry(job, `webhook answered ${answer}`, log);
    this.deps.metrics.outboundWebhooks.inc({ result: 'failed' });
    log.error({ answer }, 'outbound webhook refused the event: not retrying');
    throw new UnrecoverableError(`webhook answered ${answer}`);
  }

  private retry(job: Job<OutboundEventJob>, reason: string, log: Logger): never {
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    this.deps.metrics.outboundWebhooks.inc({ result: last ? 'failed' : 'retried' });
    if (last) log.error({ reason }, 'outbound webhook not delivered: out of attempts');
    else log.warn({ reason }, 'outbound webhook not delivered: will retry');
    throw new Error(reason);
  }
}
