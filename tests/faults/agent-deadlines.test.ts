/**
 * Fault case: Twilio takes the worker's requests and never answers them. A person is waiting on the
 * line, so whatever Twilio does the agent hears how its request went within 15 s of the function call,
 * in its live call (the fake Retell's Update Live Call), and can ask for something else by then.
 */
import { startBridge, type TestBridge } from '../support/bridge';
import { liveCall } from '../support/calls';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { BUSINESS, liveCallWithToken, personAt, postWarmTransfer, SALES, WARM_ENV } from '../support/warm-transfer';
import { waitFor } from './support/ports';

/** What the issue asks: told within 15 s of the function call, whatever Twilio does. */
const AGENT_TOLD_WITHIN_MS = 15_000;

let bridge: TestBridge;
beforeEach(async () => {
  bridge = await startBridge(WARM_ENV, { worker: true });
  bridge.twilio.addNumber(BUSINESS);
});
afterEach(() => bridge.close());

describe('when every redirect Twilio is sent goes unanswered', () => {
  it('then a transfer fails within its deadline, the agent is told within 15 s of transfer_call, and end_call can start then', async () => {
    for (let i = 0; i < 20; i++) bridge.twilio.injections.push({ kind: 'hang' });
    const { callSid, callId } = await liveCall(bridge);
    const askedAt = Date.now();
    const res = await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
    expect(res.status).toBe(200);

    // While the redirect may have been performed, a hang-up is refused at once rather than queued behind it.
    await waitFor('the first redirect to reach Twilio', () => bridge.twilio.callUpdates(callSid).length >= 1);
    const early = await postRetell(bridge.url, '/retell/functions/end_call', functionCallBody('end_call', callId, {}));
    expect(early.status).toBe(409);

    const notice = await waitFor('the agent to be told', () => bridge.retell.liveUpdates.find((u) => u.callId === callId), AGENT_TOLD_WITHIN_MS + 5000);
    expect(notice.receivedAt - askedAt).toBeLessThanOrEqual(AGENT_TOLD_WITHIN_MS);
    expect(notice.body).toMatchObject({ call_control: { trigger_response: true, additional_context: expect.stringContaining('The transfer to sales did not go through') } });
    expect(await bridge.calls.action(callSid)).toMatchObject({ status: 'failed', error: expect.stringContaining('gave up after 11 s') });

    // The agent acts on it: a hang-up starts at once and is performed once Twilio answers again.
    bridge.twilio.injections.length = 0;
    const end = await postRetell(bridge.url, '/retell/functions/end_call', functionCallBody('end_call', callId, {}));
    expect(end.status).toBe(200);
    expect(Date.now() - askedAt).toBeLessThan(AGENT_TOLD_WITHIN_MS + 5000);
    await waitFor('the hang-up', () => bridge.twilio.calls.get(callSid)?.status === 'completed');
  });
});

describe('when calls.create for a warm transfer\'s person is never answered', () => {
  it('then the leg is given up within the deadline and the agent is told within 15 s of warm_transfer', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    for (let i = 0; i < 20; i++) bridge.twilio.callee.createInjections.push({ kind: 'hang' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    const askedAt = Date.now();
    expect((await postWarmTransfer(bridge, callId)).status).toBe(200);

    const notice = await waitFor('the agent to be told', () => bridge.retell.liveUpdates.find((u) => u.callId === callId), AGENT_TOLD_WITHIN_MS + 5000);
    expect(notice.receivedAt - askedAt).toBeLessThanOrEqual(AGENT_TOLD_WITHIN_MS);
    expect(notice.body).toMatchObject({ call_control: { additional_context: expect.stringContaining('Warm transfer to sales failed') } });
    expect(await bridge.calls.action(callSid)).toMatchObject({ kind: 'warm_transfer', status: 'failed' });
    // Nobody was rung (every create went unanswered and did nothing), and the caller is still with the agent.
    expect(bridge.twilio.callee.placed.size).toBe(0);
    expect(bridge.twilio.calls.get(callSid)?.status).toBe('in-progress');
  });
});
