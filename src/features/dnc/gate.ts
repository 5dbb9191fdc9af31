import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import type { PredialHook, PredialRequest } from './predial-hook';
import type { DoNotCallList } from './repository';

/** Whether an outbound call may be dialed now; when not, its outcome and why. */
export type DialVerdict =
  | { allow: true }
  | {
      allow: false;
      outcome: 'do_not_call' | 'predial_refused';
      /** What stopped it: `do_not_call`, `predial_denied`, `predial_timeout`, ... (the error code the call shows). */
      code: string;
      reason: string;
    };

export interface DialGateDeps {
  list: DoNotCallList;
  /** PREDIAL_WEBHOOK_URL's client; none when it is unset. */
  hook: PredialHook | undefined;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Asked by the worker just before each outbound dial: the do-not-call list first (a number listed after
 * the call was queued), then the pre-dial hook. A Redis failure reading the list throws (the placement is
 * retried, never dialed unchecked); the hook's failures refuse the dial.
 */
export class DialGate {
  constructor(private readonly deps: DialGateDeps) {}

  async check(request: PredialRequest, log: Logger = this.deps.logger): Promise<DialVerdict> {
    const { list, hook, metrics } = this.deps;
    if (await list.has(request.to)) {
      metrics.dialRefusals.inc({ stage: 'predial', reason: 'do_not_call' });
      log.info({ to: request.to }, 'number on the do-not-call list: not dialed');
      return { allow: false, outcome: 'do_not_call', code: 'do_not_call', reason: `${request.to} is on the do-not-call list` };
    }
    if (!hook) return { allow: true };
    const answer = await hook.ask(request);
    metrics.predialHookDuration.observe({ result: answer.result }, answer.ms / 1000);
    if (answer.result === 'allow') {
      log.info({ predial: 'allow', ms: answer.ms }, 'pre-dial hook allowed the call');
      return { allow: true };
    }
    const code = answer.result === 'deny' ? 'predial_denied' : `predial_${answer.result}`;
    metrics.dialRefusals.inc({ stage: 'predial', reason: code });
    log.warn({ predial: answer.result, reason: answer.reason, ms: answer.ms }, 'pre-dial hook did not allow the call: not dialed');
    return { allow: false, outcome: 'predial_refused', code, reason: answer.reason };
  }
}
