/** How a failed Twilio request should be handled. */
export type TwilioFailure =
  /** 429, 5xx, timeouts and network errors: safe to try again after backing off. */
  | 'retry'
  /** 21220: the call is no longer in progress, so there is nothing left to redirect or hang up. */
  | 'call_not_in_progress'
  /** Any other 4xx: the request itself is wrong and will fail the same way every time. */
  | 'final';

export const CALL_NOT_IN_PROGRESS = 21220;

export function classifyTwilioError(err: unknown): TwilioFailure {
  const e = err as { status?: unknown; code?: unknown };
  if (e.code === CALL_NOT_IN_PROGRESS) return 'call_not_in_progress';
  // twilio's RestException carries the HTTP status; transport errors (ECONNRESET, timeouts) do not.
  if (typeof e.status !== 'number') return 'retry';
  if (e.status === 429 || e.status === 408 || e.status >= 500) return 'retry';
  return 'final';
}

/** A short description for logs and the call record; never includes request headers or credentials. */
export function describeTwilioError(err: unknown): string {
  const e = err as { status?: unknown; code?: unknown; message?: unknown };
  const parts = [typeof e.status === 'number' ? `HTTP ${e.status}` : undefined, e.code !== undefined ? `code ${String(e.code)}` : undefined];
  return [...parts.filter(Boolean), typeof e.message === 'string' ? e.message.slice(0, 200) : 'unknown error'].join(' ');
}
