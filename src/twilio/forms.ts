/**
 * The forms Twilio posts to more than one of the bridge's routes (status callbacks, AMD verdicts), as
 * zod schemas whose messages name the field. Twilio adds parameters without notice: the rest pass by.
 */
import { z } from 'zod';
import { CALL_SID } from '../formats';

/** A parameter Twilio sends exactly once. */
export const single = (what: string) => z.string({ error: `${what} must be present, once` });

export const callSidField = single('CallSid').regex(CALL_SID, 'CallSid must be CA followed by 32 hex digits');

/** A form about a call: its CallSid and AccountSid (checked against ours by accountForm), and `fields`. */
export function callForm<F extends z.ZodRawShape>(fields: F) {
  return z.looseObject({ CallSid: callSidField, AccountSid: single('AccountSid'), ...fields });
}

/** Any call's status callback. */
export const statusForm = callForm({
  CallStatus: single('CallStatus').max(32),
  CallDuration: z.string().max(16).optional(),
  Timestamp: z.string().max(64).optional(),
});

/** Twilio's asynchronous answering-machine verdict, for calls the bridge placed. */
export const amdForm = callForm({
  AnsweredBy: z.enum(['human', 'machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax', 'unknown'], {
    error: "AnsweredBy must be one of Twilio's AMD verdicts",
  }),
  MachineDetectionDuration: z.string().max(16).optional(),
});

/** Twilio's RFC 2822 `Timestamp`, as ISO 8601; the time of receipt when absent or unreadable. */
export function parseTimestamp(value: string | undefined): string {
  const ms = value ? Date.parse(value) : Number.NaN;
  return new Date(Number.isNaN(ms) ? Date.now() : ms).toISOString();
}
