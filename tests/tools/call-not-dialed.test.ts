/** `npm run call --wait` on a call the worker did not dial: said as such (not as Twilio's error), and exit 1. */
import type { OutboundView } from '../../src/features/outbound';
import { describeProgress } from '../../src/tools/call';

const base: OutboundView = {
  id: `out_${'a'.repeat(32)}`,
  status: 'ended',
  to: '+14155550199',
  from: '+14155550100',
  agent_id: 'agent_default',
  voicemail: 'continue',
  ring_timeout_s: 30,
  dynamic_variables: {},
  metadata: {},
  created_at: '2026-12-07T12:00:00.000Z',
  updated_at: '2026-12-07T12:00:01.000Z',
};

describe('describeProgress', () => {
  it('when a call ended do_not_call or predial_refused, then the line says it was not dialed and why', () => {
    expect(describeProgress({ ...base, outcome: 'do_not_call', error: { code: 'do_not_call', message: '+14155550199 is on the do-not-call list' } })).toBe(
      'ended, outcome do_not_call, not dialed: +14155550199 is on the do-not-call list',
    );
    expect(describeProgress({ ...base, outcome: 'predial_refused', error: { code: 'predial_denied', message: 'customer asked for no calls' } })).toBe(
      'ended, outcome predial_refused, not dialed: customer asked for no calls',
    );
  });

  it('when Twilio refused a call, then its code and message are shown as before', () => {
    expect(describeProgress({ ...base, outcome: 'dial_failed', error: { code: 21215, message: 'Account not authorized' } })).toBe('ended, outcome dial_failed, Twilio 21215 Account not authorized');
  });
});
