/**
 * Warm transfer's join, exactly once: the redirect that moves the caller into the conference takes no
 * idempotency key at Twilio, and a second one would take the caller out of the room (their leg ends the
 * conference on leaving, so the person is dropped) and back into an empty one. A retry whose earlier
 * redirect may have been performed looks for the caller among the conference's participants first.
 */
import { joinJobId } from '../../../src/features/warm-transfer/jobs';
import { TWILIO_REQUEST_TIMEOUT_MS } from '../../../src/twilio/client';
import { warmTransferRoom } from '../../../src/features/warm-transfer/twiml';
import { startBridge, type TestBridge } from '../../support/bridge';
import { waitFor } from '../../support/wait';
import { BUSINESS, liveCallWithToken, personAt, placedLegs, postWarmTransfer, SALES, WARM_ENV, warmTransferOf } from '../../support/warm-transfer';

describe('warm_transfer: moving the caller into the conference', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge(WARM_ENV, { worker: true });
    bridge.twilio.addNumber(BUSINESS);
  });
  afterEach(() => bridge.close());

  const conferenceLooks = () => bridge.twilio.requests.filter((r) => r.method === 'GET' && r.path.includes('/Conferences'));

  it('when Twilio performs the caller\'s redirect but answers after the request timeout, then the retry finds the caller in the conference and redirects nothing again', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    // The first update of the caller's call is the join's redirect: performed at once, answered too late.
    bridge.twilio.injections.push({ kind: 'late', ms: TWILIO_REQUEST_TIMEOUT_MS + 1500 });
    await postWarmTransfer(bridge, callId);
    const id = `warm_transfer-${callSid}-1`;

    await waitFor('the join job to finish', async () => (await bridge.queue.getJob(joinJobId(id)))?.finishedOn !== undefined, 30_000);
    const room = warmTransferRoom(id);
    const [leg] = placedLegs(bridge);
    expect(bridge.twilio.inConference(room).map((c) => c.sid).sort()).toEqual([callSid, leg!.call.sid].sort());
    expect(leg!.call.status).toBe('in-progress');
    expect(bridge.twilio.callUpdates(callSid)).toHaveLength(1);
    const join = (await bridge.queue.getJob(joinJobId(id)))!;
    expect(join.attemptsMade).toBe(2);
    expect(join.returnvalue).toBe('found_joined');
    // The retry looked at Twilio: the live conference of that name, then the caller's participant in it.
    const [list, participant] = conferenceLooks();
    expect(Object.fromEntries(list!.query)).toMatchObject({ FriendlyName: room, Status: 'in-progress' });
    const conference = bridge.twilio.liveConference(room)!;
    expect(participant!.path).toBe(`/2010-04-01/Accounts/${bridge.config.twilio.accountSid}/Conferences/${conference.sid}/Participants/${callSid}.json`);

    expect((await bridge.calls.get(callSid))?.state).toBe('transferred');
    expect(await warmTransferOf(bridge, callSid)).toMatchObject({ id, status: 'transfer_accepted', legSid: leg!.call.sid });
    const action = await bridge.calls.action(callSid);
    expect(action).toMatchObject({ kind: 'warm_transfer', jobId: id, status: 'done' });
    expect(action!.uncertain).toBeUndefined();
    expect(bridge.retell.liveUpdates).toEqual([]);
    expect(await bridge.worker!.metrics.prometheus.getSingleMetricAsString('bridge_warm_transfers_total')).toContain('result="accepted"} 1');
  });

  it('when the redirect never reached the call (Twilio did not answer and did nothing), then the retry looks, finds the caller absent, and moves them once', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    bridge.twilio.injections.push({ kind: 'hang' });
    await postWarmTransfer(bridge, callId);
    const id = `warm_transfer-${callSid}-1`;

    await waitFor('the join job to finish', async () => (await bridge.queue.getJob(joinJobId(id)))?.finishedOn !== undefined, 30_000);
    expect((await bridge.queue.getJob(joinJobId(id)))!.returnvalue).toBe('joined');
    // Two requests, one performed: the first hung unanswered and did nothing.
    expect(bridge.twilio.callUpdates(callSid).map((r) => r.answered ?? null)).toEqual([null, 200]);
    expect(conferenceLooks().length).toBeGreaterThanOrEqual(2);
    const [leg] = placedLegs(bridge);
    expect(bridge.twilio.inConference(warmTransferRoom(id)).map((c) => c.sid).sort()).toEqual([callSid, leg!.call.sid].sort());
    expect((await bridge.calls.get(callSid))?.state).toBe('transferred');
    expect(await bridge.calls.action(callSid)).toMatchObject({ status: 'done' });
  });

  it('when the redirect is answered at once, then nothing looks at the conference', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    const id = `warm_transfer-${callSid}-1`;
    await waitFor('the join job to finish', async () => (await bridge.queue.getJob(joinJobId(id)))?.finishedOn !== undefined, 15_000);
    expect((await bridge.queue.getJob(joinJobId(id)))!.returnvalue).toBe('joined');
    expect(bridge.twilio.callUpdates(callSid)).toHaveLength(1);
    expect(conferenceLooks()).toEqual([]);
  });
});
