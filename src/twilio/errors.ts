/** How a failed Twilio request should be handled. */
export type TwilioFailure =
  /** 429, 5xx, timeouts and network errors: safe to try again after backing off. */
  | 'retry'
  /** 21220: the call is no longer in progress, so there is nothing left to redirect or hang up. */
  | 'call_not_in_progress'
  /** Any other 4xx: the request itself is wrong and will fail the same way every time. */
  | 'final';

export const CALL_NOT_IN_PROGRESS = 21220;

/** What twilio-node's RestException carries; transport errors (ECONNRESET, timeouts) have no status. */
export interface TwilioErrorParts {
  status: number | undefined;
  code: number | string | undefined;
  message: string;
}

function parts(err: unknown): TwilioErrorParts {
  const e = (err ?? {}) as { status?: unknown; code?: unknown; message?: unknown };
  return {
    status: typeof e.status === 'number' ? e.status : undefined,
    code: typeof e.code === 'number' || typeof e.code === 'string' ? e.code : undefined,
    message: typeof e.message === 'string' ? e.message.slice(0, 200) : String(err).slice(0, 200),
  };
}

/** Twilio's HTTP status, error code and message, for a record a person reads (e.g. a refused outbound call). */
export function twilioErrorDetail(err: unknown): TwilioErrorParts {
  return parts(err);
}

/**
 * What a failed request tells about its effect, the one rule every exactly-once job follows:
 * - `refused`: Twilio answered 4xx (not 408/429): nothing was performed, and the same request fails again;
 * - `throttled`: 429 or 408: nothing was performed, and the request may be sent again after a pause;
 * - `unknown`: a 5xx, a timeout or a dropped connection: it may have been performed, so look before resending;
 * - `gone`: 21220, the call is no longer in progress: there is nothing left to act on.
 */
export type TwilioOutcome = 'refused' | 'throttled' | 'unknown' | 'gone';

export function twilioOutcome(err: unknown): TwilioOutcome {
  const { status, code } = parts(err);
  if (code === CALL_NOT_IN_PROGRESS) return 'gone';
  if (status === undefined || status >= 500) return 'unknown';
  if (status === 429 || status === 408) return 'throttled';
  return 'refused';
}

export function classifyTwilioError(err: unknown): TwilioFailure {
  const { status, code } = parts(err);
  if (code === CALL_NOT_IN_PROGRESS) return 'call_not_in_progress';
  if (status === undefined) return 'retry';
  if (status === 429 || status === 408 || status >= 500) return 'retry';
  return 'final';
}

/** A short description for logs and the call record; never includes request headers or credentials. */
export function describeTwilioError(err: unknown): string {
  const { status, code, message } = parts(err);
  return [status !== undefined ? `HTTP ${status}` : undefined, code !== undefined ? `code ${code}` : undefined, message || 'unknown error']
    .filter(Boolean)
    .join(' ');
}

/** The same failure in a sentence for a person at a terminal, with what to do about bad credentials. */
export function explainTwilioError(err: unknown, apiBaseUrl: string): string {
  const { status, code, message } = parts(err);
  if (status === undefined) return `could not reach the Twilio API at ${apiBaseUrl}: ${message}`;
  const hint =
    status === 401 || code === 20003
      ? ': TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN were not accepted; copy both from the Twilio Console (Account Info)'
      : '';
  return `Twilio answered ${status}${code !== undefined ? ` (Twilio error ${code})` : ''}: ${message || 'no message'}${hint}`;
}
