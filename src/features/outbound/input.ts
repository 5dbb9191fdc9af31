/** Request fields shared by every way of asking for outbound calls (POST /calls and campaigns). */
import { z } from 'zod';
import { speakable } from '../../formats';

/** How a call is dialled and what happens at a voicemail: the same fields, bounds and reasons wherever calls are requested. */
export const dialOptions = {
  voicemail: z.enum(['hangup', 'message', 'continue'], { error: 'voicemail must be hangup, message or continue' }).optional(),
  // Said at the beep, long after this request has been answered: characters XML cannot carry (control
  // characters, U+FFFE) are dropped now, as in the agent's messages, so what is stored can always be said.
  voicemail_message: z
    .string({ error: 'voicemail_message must be a string' })
    .max(1000)
    .transform(speakable)
    .pipe(z.string({ error: 'voicemail_message must not be empty: it needs words to say (control characters are removed)' }))
    .optional(),
  ring_timeout_s: z.number({ error: 'ring_timeout_s must be a number of seconds' }).int().min(5).max(600).optional(),
  record: z.boolean({ error: 'record must be true or false' }).optional(),
};
