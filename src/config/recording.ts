/** Recording in the user's own Twilio account: whether calls are recorded, the disclosure said first, and consent. */
import { z } from 'zod';
import { isXmlSafe } from '../formats';
import { setting, type Rule, type ValuesOf } from './parse';

export const title = 'Recording';

/** How a recorded call is recorded: `dual` keeps the caller and the agent (then the person) on two channels. */
export type RecordingChannels = 'mono' | 'dual';

export const settings = {
  RECORDING: setting(z.enum(['off', 'mono', 'dual']).default('off'), {
    description: 'off, mono or dual: Twilio records each bridged call in your account, the whole call including after a transfer; dual puts the caller on channel 1',
    example: 'dual',
    deploy: { how: 'group', heroku: 'off, mono or dual: Twilio records each call in your own account, transfers included; dual puts the caller on channel 1, the agent (then the person) on channel 2.' },
    docs: { meaning: '`off`, `mono` or `dual`: Twilio [records](recording.md) each bridged call in your own account, the whole call including after a transfer; dual puts the caller on channel 1 and the agent (then the person) on channel 2' },
    dotenv: {
      comment:
        'Recording (see docs/recording.md): off, mono or dual. Twilio records each call in your own account, the whole\ncall including after a transfer; dual puts the caller on channel 1 and the agent (then the person) on channel 2.',
      paragraph: true,
    },
  }),
  RECORDING_DISCLOSURE: setting(
    z
      .string()
      .max(1000, 'must be at most 1000 characters')
      .refine(isXmlSafe, 'must not contain control characters or other characters XML cannot carry')
      .optional()
      .transform((s) => (s?.trim() ? s.trim() : undefined)),
    {
      description: 'Said to the caller before the agent answers, on recorded calls; with RECORDING_CONSENT=ask, the question asked',
      example: 'This call is recorded for quality and training.',
      deploy: { how: 'optional', heroku: 'Said to the caller before the agent answers, on recorded calls (with RECORDING_CONSENT=ask: the question asked).' },
      docs: { meaning: 'said to the caller before the agent answers, on recorded calls; with `ask`, the question' },
      dotenv: { comment: 'Said to the caller before the agent answers, on recorded calls (with RECORDING_CONSENT=ask: the question).' },
    },
  ),
  RECORDING_CONSENT: setting(z.enum(['announce', 'ask']).default('announce'), {
    description: 'announce: the disclosure, then record; ask: the caller presses 1 or says yes to allow recording, otherwise the call goes on unrecorded',
    example: 'ask',
    deploy: { how: 'group', heroku: 'announce (the disclosure, then record) or ask (the caller presses 1 or says yes to allow recording; otherwise unrecorded).' },
    docs: { meaning: '`announce`: the disclosure, then record; `ask`: the caller presses 1 (or says yes) to allow recording, otherwise the call goes on unrecorded' },
    dotenv: { comment: 'announce: say the disclosure, then record; ask: the caller presses 1 or says yes to allow recording.' },
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules: readonly Rule[] = [];

export function toConfig(e: Values) {
  return {
    recording: {
      /** What a call is recorded with when nothing else is said for it; `off`: not recorded unless asked for. */
      mode: e.RECORDING,
      disclosure: e.RECORDING_DISCLOSURE,
      consent: e.RECORDING_CONSENT,
    },
  };
}
