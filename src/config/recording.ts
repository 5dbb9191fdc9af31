/** Recording in the user's own Twilio account: whether calls are recorded, the disclosure said first, and consent. */
import { z } from 'zod';
import { setting, type Rule, type ValuesOf } from './parse';
import { optionalSpokenText } from './values';

export const title = 'Recording';

/** How a recorded call is recorded: `dual` keeps the caller and the agent (then the person) on two channels. */
export type RecordingChannels = 'mono' | 'dual';

export const settings = {
  RECORDING: setting(z.enum(['off', 'mono', 'dual']).default('off'), {
    description:
      'off, mono or dual: Twilio records each bridged call in your own account, the whole call including after a transfer; dual puts the caller on channel 1 and the agent (then the person) on channel 2',
    example: 'dual',
    docs: { meaning: '`off`, `mono` or `dual`: Twilio [records](recording.md) each bridged call in your own account, the whole call including after a transfer; dual puts the caller on channel 1 and the agent (then the person) on channel 2' },
    dotenv: {
      comment:
        'Recording (see docs/recording.md): off, mono or dual. Twilio records each call in your own account, the whole\ncall including after a transfer; dual puts the caller on channel 1 and the agent (then the person) on channel 2.',
      paragraph: true,
    },
  }),
  RECORDING_DISCLOSURE: setting(optionalSpokenText(1000), {
    description: 'Said to the caller before the agent answers, on recorded calls (with RECORDING_CONSENT=ask: the question asked)',
    example: 'This call is recorded for quality and training.',
  }),
  RECORDING_CONSENT: setting(z.enum(['announce', 'ask']).default('announce'), {
    description: 'announce: the disclosure, then record; ask: the caller presses 1 or says yes to allow recording, otherwise the call goes on unrecorded',
    example: 'ask',
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
