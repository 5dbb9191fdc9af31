/**
 * Twilio's CallStatus values, grouped as the bridge reads them. One definition, used by the routes
 * (a final status ends the call record), the jobs (a finished call has nothing left to act on) and the
 * looks at a call whose request's answer never came.
 */

/** A call with one of these statuses is over; nothing can be redirected or hung up any more. */
export const FINAL_CALL_STATUSES: ReadonlySet<string> = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

/** A call not answered yet: Twilio ends it with `Status=canceled` (it ignores `completed` for these). */
export const UNANSWERED_CALL_STATUSES: ReadonlySet<string> = new Set(['queued', 'initiated', 'ringing']);

export const isFinalCallStatus = (status: string | undefined): boolean => status !== undefined && FINAL_CALL_STATUSES.has(status);
