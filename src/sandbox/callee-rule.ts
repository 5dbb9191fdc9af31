/**
 * Who answers in the sandbox, by the number's last digit, so a campaign (examples/leads.csv) shows every
 * outcome and its retries within a minute:
 *
 * | last digit | the callee |
 * |---|---|
 * | 0–5 | a person answers after 1.5 s, talks for 8 s and hangs up (`completed`) |
 * | 6 | nobody answers: it rings 4 s and Twilio reports `no-answer` (`dial_no_answer`) |
 * | 7 | busy after 1 s (`dial_busy`) |
 * | 8 | an answering machine picks up (AMD says machine) and its greeting runs 6 s (a voicemail) |
 * | 9 | nobody answers the first call; a person answers every later one (a retry that succeeds) |
 */
import type { CalleeScript } from './fake-callee';

/** The person of digits 0–5 (and of 9 from the second call): picks up, presses 1 when a warm transfer asks. */
export const SANDBOX_PERSON: CalleeScript = { answer: 'human', ringMs: 1500, hangUpAfterMs: 8000, press: '1', pressAfterMs: 1000 };

const NO_ANSWER: CalleeScript = { answer: 'no-answer', ringMs: 4000 };
const BUSY: CalleeScript = { answer: 'busy', ringMs: 1000 };
const MACHINE: CalleeScript = { answer: 'machine', ringMs: 1500, hangUpAfterMs: 6000 };

/** The sandbox callee's script for a call to `to`, the `earlierCalls`-th to that number. */
export function sandboxCallee(to: string, earlierCalls: number): CalleeScript {
  switch (to.slice(-1)) {
    case '6':
      return NO_ANSWER;
    case '7':
      return BUSY;
    case '8':
      return MACHINE;
    case '9':
      return earlierCalls === 0 ? NO_ANSWER : SANDBOX_PERSON;
    default:
      return SANDBOX_PERSON;
  }
}
