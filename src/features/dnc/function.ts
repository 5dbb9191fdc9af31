import { z } from 'zod';
import { orStoreUnavailable, StoreUnavailableError } from '../../calls/errors';
import { findOrAdoptCall } from '../../calls/find-call';
import type { CallRepository } from '../../calls/repository';
import type { Config } from '../../config';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { retellFunction, type FunctionOutcome, type RetellFunction } from '../../retell/functions';
import { numbersOf, refusal } from '../actions';
import { normalizeNumber } from './number';
import type { DoNotCallList } from './repository';

/** No arguments; whatever Retell sends beside none is ignored. */
const noArgs = z.looseObject({});

export interface DoNotCallFunctionDeps {
  config: Pick<Config, 'twilio'>;
  calls: CallRepository;
  list: DoNotCallList;
  logger: Logger;
  metrics: Metrics;
}

/**
 * `do_not_call`: for a person who asks not to be called again. Lists the other party of the call (the
 * caller of an inbound call, the person called on an outbound one), at once; asking twice is harmless.
 */
export function doNotCallFunction(deps: DoNotCallFunctionDeps): RetellFunction {
  return retellFunction('do_not_call', noArgs, async (call): Promise<FunctionOutcome> => {
    const log = deps.logger.child({ callId: call.call_id, action: 'do_not_call' });
    let record;
    try {
      record = await orStoreUnavailable(() => findOrAdoptCall(deps.calls, call, deps.config.twilio.accountSid));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      log.error({ err }, 'redis unavailable: function call refused with 503');
      return refusal('unavailable', "I can't update the list right now. Please try again in a moment.");
    }
    if (!record) return refusal('unknown_call', "I can't find this phone call, so I can't add the number to the do-not-call list.");
    const { callSid } = record;
    const number = normalizeNumber(numbersOf(record).theirs);
    if (!number) return refusal('not_allowed', "I can't add this number to the do-not-call list: it is withheld.", callSid);
    let added;
    try {
      ({ added } = await orStoreUnavailable(() => deps.list.add([number], 'agent')));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      log.error({ callSid, err }, 'redis unavailable: function call refused with 503');
      return refusal('unavailable', "I can't update the list right now. Please try again in a moment.", callSid);
    }
    if (added) deps.metrics.doNotCallAdded.inc({ source: 'agent' });
    log.info({ callSid, added: added === 1 }, 'other party put on the do-not-call list');
    return {
      outcome: added ? 'queued' : 'repeat',
      status: 'done',
      result: "Done: this number is on our do-not-call list, and we won't call it again.",
      callSid,
    };
  });
}
