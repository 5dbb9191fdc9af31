import { startBridge, type TestBridge } from '../../support/bridge';
import { CALLEE, OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForCall, waitForOutcome } from '../../support/outbound';
import { functionCallBody, postRetell } from '../../support/retell-signing';
import { waitFor } from '../../support/wait';

const XML = '<?xml version="1.0" encoding="UTF-8"?>';

/**
 * The agent's transfer_call and end_call on a call the bridge placed, through the same public endpoints
 * as on an inbound call: Retell's function call names the call by its call_id (and echoes the metadata
 * the bridge registered), the worker acts on the live Twilio call.
 */
describe('Retell custom functions on outbound calls', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge(
      { ...OUTBOUND_ENV, TRANSFER_DESTINATIONS: JSON.stringify({ sales: '+14155550101' }), TRANSFER_ALLOWLIST: '+1646*' },
      { worker: true },
    );
    bridge.twilio.addNumber(OUR_NUMBER);
  });
  afterEach(() => bridge.close());

  /** An answered outbound call, and the call object Retell sends with its function calls. */
  async function answeredCall(): Promise<{ id: string; callSid: string; call: Record<string, unknown> }> {
    const id = await placeCall(bridge, { metadata: { crm_id: 7 } });
    const live = await waitForCall(bridge, id, 'answered', (v) => v.status === 'in-progress' && v.retell_call_id !== undefined);
    const registration = bridge.retell.registrations[0]!;
    return {
      id,
      callSid: live.call_sid!,
      call: { call_id: registration.callId, direction: 'outbound', from_number: OUR_NUMBER, to_number: CALLEE, metadata: registration.body.metadata },
    };
  }

  const fn = (name: string, call: Record<string, unknown>, args: Record<string, unknown>) =>
    postRetell(bridge.url, `/retell/functions/${name}`, functionCallBody(name, call.call_id as string, args, call));

  it('when the agent transfers the call, then the live Twilio call is redirected to the destination, showing the callee\'s number, and the call ends completed later', async () => {
    const { id, callSid, call } = await answeredCall();
    const res = await fn('transfer_call', call, { destination: 'sales' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'queued', result: 'Transferring the call to sales now.', job_id: `transfer-${callSid}-1` });
    const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
    expect(update!.path).toBe(`/2010-04-01/Accounts/${bridge.config.twilio.accountSid}/Calls/${callSid}.json`);
    expect(update!.form).toEqual({ Twiml: `${XML}<Response><Dial callerId="${CALLEE}"><Number>+14155550101</Number></Dial></Response>` });
    await waitFor('transferred', async () => (await bridge.calls.get(callSid))?.state === 'transferred');

    // The person the call went to hangs up in time; the outbound call ends as completed.
    bridge.twilio.callee.hangUp(callSid);
    expect(await waitForOutcome(bridge, id)).toMatchObject({ outcome: 'completed' });
  });

  it('when the agent ends the call, then Twilio completes it and the outbound call ends completed', async () => {
    const { id, callSid, call } = await answeredCall();
    const res = await fn('end_call', call, {});
    expect(res.status).toBe(200);
    const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
    expect(update!.form).toEqual({ Status: 'completed' });
    expect(await waitForOutcome(bridge, id)).toMatchObject({ status: 'ended', outcome: 'completed' });
    expect(await bridge.calls.get(callSid)).toMatchObject({ state: 'ended' });
  });

  it('when the agent ends the call with a goodbye, then it is said before hanging up', async () => {
    const { id, call } = await answeredCall();
    await fn('end_call', call, { message: 'Thanks, goodbye!' });
    const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
    expect(update!.form).toEqual({ Twiml: `${XML}<Response><Say>Thanks, goodbye!</Say><Hangup/></Response>` });
    expect(await waitForOutcome(bridge, id)).toMatchObject({ outcome: 'completed' });
  });

  it('when the agent names a destination that is not allowed, then 422 and nothing is dialed, as on an inbound call', async () => {
    const { call } = await answeredCall();
    const res = await fn('transfer_call', call, { destination: '+19005550100' });
    expect(res.status).toBe(422);
    expect(bridge.twilio.callUpdates()).toHaveLength(0);
  });

  it('when only the metadata identifies the call (no record of the call_id), then the call is still found through twilio_call_sid', async () => {
    const { callSid, call } = await answeredCall();
    await bridge.redis.del(bridge.calls.keys.byRetellId(call.call_id as string));
    const res = await fn('end_call', call, {});
    expect(res.status).toBe(200);
    const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
    expect(update!.path).toContain(callSid);
  });

  it('when the agent warm-transfers the call and the callee hangs up while the person is rung, then the person is shown our number and their leg is canceled', async () => {
    bridge.twilio.callee.scripts.set('+14155550101', { answer: 'unanswered' });
    const { callSid, call } = await answeredCall();
    const res = await fn('warm_transfer', call, { destination: 'sales', summary: 'Ada called back about her order.' });
    expect(res.status).toBe(200);
    const leg = await waitFor('the person to be rung', () => [...bridge.twilio.callee.placed.values()].find((p) => p.call.to === '+14155550101' && p.call.status === 'ringing'));
    expect(leg.params.get('From')).toBe(OUR_NUMBER);
    expect(leg.params.get('CallToken')).toBeNull();

    // The callee hangs up: Twilio's status callback for the outbound call says so.
    bridge.twilio.callee.hangUp(callSid);
    await waitFor('the person\'s leg to be canceled', () => leg.call.status === 'canceled');
    expect(bridge.retell.liveUpdates).toEqual([]);
  });
});
