/**
 * Fault case: a worker process is SIGKILLed while its warm transfer's `calls.create` is inside Twilio.
 * Twilio's API takes no idempotency key, so whether the person's phone is ringing is only known at
 * Twilio. The worker that takes the job over must look there before placing again: the person is rung
 * once, and the caller stays with the agent until the person accepts, then joins them.
 *
 * The same for the join: a worker killed while the caller's redirect into the conference is inside
 * Twilio. A second redirect would take the caller out of the room (ending it: the person is dropped), so
 * the survivor looks for the caller among the conference's participants before redirecting.
 */
import { joinJobId } from '../../src/features/warm-transfer/jobs';
import { warmTransferRoom } from '../../src/features/warm-transfer/twiml';
import { BUSINESS, creates, liveCallWithToken, personAt, placedLegs, postWarmTransfer, SALES, WARM_ENV, warmTransferOf } from '../support/warm-transfer';
import { TAKEOVER_BOUND_MS, useCrashHarness } from './support/crash-harness';
import { waitFor } from './support/ports';

const crash = useCrashHarness(WARM_ENV, { numbers: [BUSINESS], workerEnv: (b) => ({ RETELL_BASE_URL: b.retell.url, ...WARM_ENV }) });
const startWorker = () => crash.startWorker();

/** The caller is never left alone: until joined with the person, their SIP leg to the agent is up. */
function callerWithAgent(callSid: string): boolean {
  return crash.bridge.twilio.children(callSid).some((c) => c.to.startsWith('sip:') && c.status === 'in-progress');
}

describe('when a worker process is SIGKILLed while placing a warm transfer\'s leg', () => {
  it('and Twilio had created the leg (answering late), then the person is rung once, accepts, and is joined with the caller', async () => {
    personAt(crash.bridge, SALES, { answer: 'human', press: '1', ringMs: 50 });
    crash.bridge.twilio.callee.createInjections.push({ kind: 'late', ms: 120_000 });
    const first = await startWorker();
    const { callSid, callId } = await liveCallWithToken(crash.bridge);
    await postWarmTransfer(crash.bridge, callId);
    await waitFor('the create request to reach Twilio', () => creates(crash.bridge).length === 1, 15_000);
    expect(callerWithAgent(callSid)).toBe(true);

    await first.kill();
    const killedAt = Date.now();
    const second = await startWorker();
    const room = warmTransferRoom(`warm_transfer-${callSid}-1`);
    await waitFor('the caller and the person in the conference', () => crash.bridge.twilio.inConference(room).length === 2, TAKEOVER_BOUND_MS);
    const jobId = `warm_transfer-${callSid}-1`;
    await waitFor('the placement job to be finished by the survivor', async () => (await crash.bridge.queue.getJob(jobId))?.finishedOn !== undefined, TAKEOVER_BOUND_MS);

    expect(Date.now() - killedAt).toBeLessThan(TAKEOVER_BOUND_MS);
    expect(creates(crash.bridge)).toHaveLength(1);
    expect(placedLegs(crash.bridge)).toHaveLength(1);
    expect(['already_placed', 'adopted']).toContain((await crash.bridge.queue.getJob(jobId))?.returnvalue);
    expect(await warmTransferOf(crash.bridge, callSid)).toMatchObject({ status: 'transfer_accepted', legSid: placedLegs(crash.bridge)[0]!.call.sid });
    await waitFor('the call to be recorded as transferred', async () => (await crash.bridge.calls.get(callSid))?.state === 'transferred', 10_000);
    expect(second.alive).toBe(true);
  });

  it('and Twilio had not created the leg, then the survivor looks, finds nothing, rings the person once, and the caller is joined', async () => {
    personAt(crash.bridge, SALES, { answer: 'human', press: '1', ringMs: 50 });
    crash.bridge.twilio.callee.createInjections.push({ kind: 'hang' });
    const first = await startWorker();
    const { callSid, callId } = await liveCallWithToken(crash.bridge);
    await postWarmTransfer(crash.bridge, callId);
    await waitFor('the create request to reach Twilio', () => creates(crash.bridge).length === 1, 15_000);
    expect(placedLegs(crash.bridge)).toHaveLength(0);

    await first.kill();
    // Until the survivor takes over, the caller is still talking with the agent.
    expect(callerWithAgent(callSid)).toBe(true);
    const second = await startWorker();
    const room = warmTransferRoom(`warm_transfer-${callSid}-1`);
    await waitFor('the caller and the person in the conference', () => crash.bridge.twilio.inConference(room).length === 2, TAKEOVER_BOUND_MS);

    expect(creates(crash.bridge)).toHaveLength(2);
    expect(placedLegs(crash.bridge)).toHaveLength(1);
    // The survivor looked for the leg at Twilio before placing it.
    expect(crash.bridge.twilio.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/Calls.json'))).toHaveLength(1);
    expect(second.messages()).toContain('warm transfer: ringing the person');
    await waitFor('the call to be recorded as transferred', async () => (await crash.bridge.calls.get(callSid))?.state === 'transferred', 10_000);
  });
});

describe('when a worker process is SIGKILLed while moving the caller into the warm transfer\'s conference', () => {
  const joinJob = async (callSid: string) => crash.bridge.queue.getJob(joinJobId(`warm_transfer-${callSid}-1`));

  it('and Twilio had performed the redirect (answering late), then the survivor finds the caller in the conference and redirects nothing again', async () => {
    personAt(crash.bridge, SALES, { answer: 'human', press: '1', ringMs: 50 });
    // The caller's redirect is the first update of a call: performed at once, its answer held back.
    crash.bridge.twilio.injections.push({ kind: 'late', ms: 120_000 });
    const first = await startWorker();
    const { callSid, callId } = await liveCallWithToken(crash.bridge);
    await postWarmTransfer(crash.bridge, callId);
    await waitFor('the caller\'s redirect to reach Twilio', () => crash.bridge.twilio.callUpdates(callSid).length === 1, 15_000);
    const room = warmTransferRoom(`warm_transfer-${callSid}-1`);
    expect(crash.bridge.twilio.inConference(room)).toHaveLength(2);

    await first.kill();
    const second = await startWorker();
    await waitFor('the join job to be finished by the survivor', async () => (await joinJob(callSid))?.finishedOn !== undefined, TAKEOVER_BOUND_MS);

    expect(crash.bridge.twilio.callUpdates(callSid)).toHaveLength(1);
    expect(crash.bridge.twilio.inConference(room).map((c) => c.sid).sort()).toEqual([callSid, placedLegs(crash.bridge)[0]!.call.sid].sort());
    expect((await joinJob(callSid))?.returnvalue).toBe('found_joined');
    expect((await crash.bridge.calls.get(callSid))?.state).toBe('transferred');
    expect(await warmTransferOf(crash.bridge, callSid)).toMatchObject({ status: 'transfer_accepted' });
    expect(await crash.bridge.calls.action(callSid)).toMatchObject({ status: 'done' });
    expect(second.alive).toBe(true);
  });

  it('and Twilio had not performed it, then the survivor looks, finds the caller absent, and moves them once', async () => {
    personAt(crash.bridge, SALES, { answer: 'human', press: '1', ringMs: 50 });
    crash.bridge.twilio.injections.push({ kind: 'hang' });
    const first = await startWorker();
    const { callSid, callId } = await liveCallWithToken(crash.bridge);
    await postWarmTransfer(crash.bridge, callId);
    await waitFor('the caller\'s redirect to reach Twilio', () => crash.bridge.twilio.callUpdates(callSid).length === 1, 15_000);
    // Until the survivor takes over, the caller is still talking with the agent; the person waits.
    expect(callerWithAgent(callSid)).toBe(true);

    await first.kill();
    const second = await startWorker();
    await waitFor('the join job to be finished by the survivor', async () => (await joinJob(callSid))?.finishedOn !== undefined, TAKEOVER_BOUND_MS);

    expect((await joinJob(callSid))?.returnvalue).toBe('joined');
    expect(crash.bridge.twilio.callUpdates(callSid).map((r) => r.answered ?? null)).toEqual([null, 200]);
    const room = warmTransferRoom(`warm_transfer-${callSid}-1`);
    expect(crash.bridge.twilio.inConference(room).map((c) => c.sid).sort()).toEqual([callSid, placedLegs(crash.bridge)[0]!.call.sid].sort());
    expect(second.messages()).toContain('warm transfer accepted: caller and person joined');
    expect((await crash.bridge.calls.get(callSid))?.state).toBe('transferred');
  });
});
