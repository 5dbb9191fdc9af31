/**
 * Warm transfer end to end: the agent's warm_transfer, the worker ringing the person on the fake Twilio,
 * the person's leg played by the fake callee (answers, presses a key, times out, is busy, is a machine),
 * every callback signed as Twilio signs it, and the agent told through the fake Retell's update-live-call.
 */
import { warmTransferRoom } from '../../../src/features/warm-transfer/twiml';
import { PUBLIC_URL, startBridge, type TestBridge } from '../../support/bridge';
import { functionCallBody, postRetell } from '../../support/retell-signing';
import { postSigned } from '../../support/twilio-signing';
import { waitFor } from '../../support/wait';
import {
  BUSINESS,
  CALLER,
  creates,
  liveCallWithToken,
  personAt,
  placedLegs,
  postWarmTransfer,
  SALES,
  SUMMARY,
  waitForTransfer,
  WARM_ENV,
  warmTransferOf,
} from '../../support/warm-transfer';
import { liveCall } from '../../support/calls';

const FINAL = ['completed', 'busy', 'no-answer', 'failed', 'canceled'];

describe('warm_transfer', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge(WARM_ENV, { worker: true });
    bridge.twilio.addNumber(BUSINESS);
  });
  afterEach(() => bridge.close());

  it('when the person presses 1, then both legs are moved into one conference, the agent leaves, and the call is transferred', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId, callToken } = await liveCallWithToken(bridge);

    const res = await postWarmTransfer(bridge, callId);
    expect(res.status).toBe(200);
    const id = `warm_transfer-${callSid}-1`;
    expect(await res.json()).toEqual({
      status: 'queued',
      result: "Calling sales now; stay with the caller and keep talking. I'll tell you if sales doesn't take the call.",
      job_id: id,
    });

    await waitFor('the call to be transferred', async () => (await bridge.calls.get(callSid))?.state === 'transferred');
    const [leg] = placedLegs(bridge);
    // The person sees the caller's own number, which Twilio allows with the inbound call's CallToken.
    expect(Object.fromEntries(leg!.params)).toMatchObject({
      To: SALES,
      From: CALLER,
      CallToken: callToken,
      Url: `${PUBLIC_URL}/twilio/warm-transfer/answer?x=${id}`,
      StatusCallback: `${PUBLIC_URL}/twilio/warm-transfer/status?x=${id}`,
      Timeout: '20',
      MachineDetection: 'Enable',
      AsyncAmd: 'true',
      AsyncAmdStatusCallback: `${PUBLIC_URL}/twilio/warm-transfer/amd?x=${id}`,
    });
    expect(leg!.answerTwiml).toContain(`<Gather numDigits="1" timeout="8" finishOnKey="" action="${PUBLIC_URL}/twilio/warm-transfer/gather?x=${id}" method="POST" actionOnEmptyResult="true">`);
    expect(leg!.answerTwiml).toContain(`<Say>${SUMMARY} Press 1 to take this call.</Say>`);

    const room = warmTransferRoom(id);
    const caller = bridge.twilio.calls.get(callSid)!;
    expect(caller.conference).toBe(room);
    expect(leg!.call.conference).toBe(room);
    expect(bridge.twilio.inConference(room).map((c) => c.sid).sort()).toEqual([callSid, leg!.call.sid].sort());
    // Moving the caller ended the SIP leg to Retell.
    expect(bridge.twilio.children(callSid).map((c) => c.status)).toEqual(['completed']);
    expect(await warmTransferOf(bridge, callSid)).toMatchObject({ id, status: 'transfer_accepted', legSid: leg!.call.sid, label: 'sales' });
    expect(await bridge.calls.action(callSid)).toMatchObject({ kind: 'warm_transfer', jobId: id, status: 'done' });
    expect(bridge.retell.liveUpdates).toEqual([]);
    expect(await bridge.worker!.metrics.prometheus.getSingleMetricAsString('bridge_warm_transfers_total')).toContain('result="accepted"} 1');
  });

  it('when a hold message is set, then the caller hears it before joining', async () => {
    await bridge.close();
    bridge = await startBridge({ ...WARM_ENV, WARM_TRANSFER_HOLD_MESSAGE: 'Connecting you to sales now.', WARM_TRANSFER_ACCEPT_DIGIT: '#' }, { worker: true });
    bridge.twilio.addNumber(BUSINESS);
    personAt(bridge, SALES, { answer: 'human', press: '#' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    await waitFor('the call to be transferred', async () => (await bridge.calls.get(callSid))?.state === 'transferred');
    expect(placedLegs(bridge)[0]!.answerTwiml).toContain('Press pound to take this call.');
    expect(bridge.twilio.calls.get(callSid)!.twiml).toMatch(/^<\?xml[^>]*><Response><Say>Connecting you to sales now\.<\/Say><Dial><Conference /);
  });

  it.each([
    ['is busy', { answer: 'busy' as const }, 'busy', 'the line was busy'],
    ['does not answer', { answer: 'no-answer' as const }, 'no_answer', 'nobody answered'],
    ['cannot be reached', { answer: 'failed' as const }, 'failed', 'the call could not be connected'],
    ['presses another key', { answer: 'human' as const, press: '9' }, 'declined', 'they declined the call'],
    ['answers and presses nothing (the prompt times out)', { answer: 'human' as const }, 'no_response', 'they answered but did not accept the call'],
    ['is a voicemail (AMD)', { answer: 'machine' as const, amdDelayMs: 10, pressAfterMs: 5000 }, 'voicemail', 'voicemail answered'],
  ])('when the person %s, then the agent is told in the live call, the person\'s leg ends, and the caller stays with the agent', async (_what, script, reason, words) => {
    personAt(bridge, SALES, script);
    const { callSid, callId } = await liveCallWithToken(bridge);
    expect((await postWarmTransfer(bridge, callId)).status).toBe(200);

    const update = await waitFor('the agent to be told', () => bridge.retell.liveUpdates[0]);
    expect(update).toMatchObject({ callId, status: 200 });
    expect(update.body).toEqual({
      call_control: {
        additional_context: expect.stringContaining(`Warm transfer to sales failed: ${words}.`),
        trigger_response: true,
      },
    });
    const transfer = await waitForTransfer(bridge, callSid, 'the transfer to fail', (t) => t.status === 'transfer_failed');
    expect(transfer.reason).toBe(reason);
    const leg = placedLegs(bridge)[0]!;
    await waitFor('the person\'s leg to end', () => FINAL.includes(leg.call.status));
    expect(await bridge.calls.action(callSid)).toMatchObject({ kind: 'warm_transfer', status: 'failed', error: `warm transfer failed: ${reason}` });
    // The caller was never moved: still on the SIP leg to the agent, no REST request touched the call.
    expect(bridge.twilio.callUpdates(callSid)).toEqual([]);
    expect(bridge.twilio.children(callSid).map((c) => c.status)).toEqual(['in-progress']);
    expect(bridge.retell.liveUpdates).toHaveLength(1);
    expect(await bridge.worker!.metrics.prometheus.getSingleMetricAsString('bridge_warm_transfers_total')).toContain(`result="${reason}"} 1`);
  });

  it('when signals come after the person accepted (the leg\'s end, a late AMD verdict, the key again), then the transfer stays accepted and the agent is not told', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    await waitFor('the call to be transferred', async () => (await bridge.calls.get(callSid))?.state === 'transferred');
    const id = `warm_transfer-${callSid}-1`;
    const leg = placedLegs(bridge)[0]!.call.sid;
    const base = { AccountSid: bridge.config.twilio.accountSid, CallSid: leg };
    expect((await postSigned(bridge.url, PUBLIC_URL, `/twilio/warm-transfer/amd?x=${id}`, { ...base, AnsweredBy: 'machine_start' })).status).toBe(204);
    const again = await postSigned(bridge.url, PUBLIC_URL, `/twilio/warm-transfer/gather?x=${id}`, { ...base, Digits: '1' });
    expect(await again.text()).toContain(`<Conference startConferenceOnEnter="true" endConferenceOnExit="true" beep="false">${warmTransferRoom(id)}</Conference>`);
    expect((await postSigned(bridge.url, PUBLIC_URL, `/twilio/warm-transfer/status?x=${id}`, { ...base, CallStatus: 'completed' })).status).toBe(204);

    expect(await warmTransferOf(bridge, callSid)).toMatchObject({ status: 'transfer_accepted' });
    expect(await bridge.calls.action(callSid)).toMatchObject({ status: 'done' });
    expect(await bridge.queue.getJob(`outcome-${id}`)).toBeUndefined();
    expect(bridge.retell.liveUpdates).toEqual([]);
  });

  it('when Retell answers 500 to the first update-live-call, then the outcome job retries and the agent is told once it succeeds', async () => {
    personAt(bridge, SALES, { answer: 'busy' });
    bridge.retell.liveUpdateFaults.push(500);
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    await waitFor('the agent to be told', () => bridge.retell.liveUpdates.some((u) => u.status === 200));
    expect(bridge.retell.liveUpdates.map((u) => u.status)).toEqual([500, 200]);
    expect(bridge.retell.liveUpdates[1]!.body).toEqual(bridge.retell.liveUpdates[0]!.body);
    await waitFor('the outcome job to complete', async () => (await bridge.queue.getJob(`outcome-warm_transfer-${callSid}-1`))?.returnvalue === 'agent_told');
  });

  it('when the agent\'s call has ended at Retell, then the 404 ends the outcome job without retries', async () => {
    personAt(bridge, SALES, { answer: 'no-answer' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    bridge.retell.endedCalls.add(callId);
    await postWarmTransfer(bridge, callId);
    await waitFor('the outcome job to complete', async () => (await bridge.queue.getJob(`outcome-warm_transfer-${callSid}-1`))?.returnvalue === 'agent_gone');
    expect(bridge.retell.liveUpdates.map((u) => u.status)).toEqual([404]);
  });

  it('when Twilio refuses the leg, then the transfer fails at once and the agent is told', async () => {
    bridge.twilio.callee.refusals.set(SALES, { status: 400, code: 21215, message: 'Geo permissions do not allow this call' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    const update = await waitFor('the agent to be told', () => bridge.retell.liveUpdates[0]);
    expect(update.body).toMatchObject({ call_control: { additional_context: expect.stringContaining('the call could not be connected'), trigger_response: true } });
    expect(await warmTransferOf(bridge, callSid)).toMatchObject({ status: 'transfer_failed', reason: 'failed' });
    expect(creates(bridge)).toHaveLength(1);
  });

  it('when a transfer failed, then the agent may try again and the second one is accepted', async () => {
    personAt(bridge, SALES, { answer: 'busy' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    await waitFor('the agent to be told', () => bridge.retell.liveUpdates[0]);

    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const again = await postWarmTransfer(bridge, callId);
    expect(await again.json()).toMatchObject({ status: 'queued', job_id: `warm_transfer-${callSid}-2` });
    await waitFor('the call to be transferred', async () => (await bridge.calls.get(callSid))?.state === 'transferred');
    expect(bridge.twilio.calls.get(callSid)!.conference).toBe(warmTransferRoom(`warm_transfer-${callSid}-2`));
    expect(placedLegs(bridge)).toHaveLength(2);
  });

  it('when the caller hangs up while the person is rung, then the person\'s leg is canceled and the agent is not told', async () => {
    personAt(bridge, SALES, { answer: 'unanswered' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    await waitForTransfer(bridge, callSid, 'the person to be rung', (t) => t.status === 'transfer_ringing');
    const leg = placedLegs(bridge)[0]!;
    await waitFor('the leg to ring', () => leg.call.status === 'ringing');

    // The caller hangs up: Twilio ends the call and posts the number's status callback.
    bridge.twilio.calls.get(callSid)!.status = 'completed';
    const status = await postSigned(bridge.url, PUBLIC_URL, '/twilio/status', {
      AccountSid: bridge.config.twilio.accountSid,
      CallSid: callSid,
      CallStatus: 'completed',
      CallDuration: '42',
    });
    expect(status.status).toBe(204);

    await waitFor('the leg to be canceled', () => leg.call.status === 'canceled');
    expect(bridge.twilio.callUpdates(leg.call.sid).map((u) => u.form)).toEqual([{ Status: 'canceled' }]);
    expect(await warmTransferOf(bridge, callSid)).toMatchObject({ status: 'transfer_failed', reason: 'caller_hung_up' });
    await waitFor('the outcome job to finish', async () => (await bridge.queue.getJob(`outcome-warm_transfer-${callSid}-1`))?.returnvalue === 'agent_gone');
    expect(bridge.retell.liveUpdates).toEqual([]);
  });

  it('when the caller hangs up while the person listens to the summary, then the person hears why and the leg ends', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1', pressAfterMs: 10_000 });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    const leg = await waitFor('the person to pick up', () => placedLegs(bridge).find((p) => p.answerTwiml !== undefined));
    bridge.twilio.calls.get(callSid)!.status = 'completed';
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/status', { AccountSid: bridge.config.twilio.accountSid, CallSid: callSid, CallStatus: 'completed' });

    await waitFor('the person\'s leg to end', () => FINAL.includes(leg.call.status));
    expect(bridge.twilio.callUpdates(leg.call.sid).map((u) => u.form.Twiml)).toEqual([
      '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Sorry, the caller has already hung up. Goodbye.</Say><Hangup/></Response>',
    ]);
    expect(await warmTransferOf(bridge, callSid)).toMatchObject({ status: 'transfer_failed', reason: 'caller_hung_up' });
    expect(bridge.retell.liveUpdates).toEqual([]);
  });

  it('when the person accepts after the caller hung up, then the person hears one sentence and the leg ends', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1', pressAfterMs: 200 });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    await waitForTransfer(bridge, callSid, 'the person to be rung', (t) => t.status === 'transfer_ringing');
    // The caller is gone at Twilio, and no status callback told the bridge (none configured on the number).
    const caller = bridge.twilio.calls.get(callSid)!;
    caller.status = 'completed';

    const leg = placedLegs(bridge)[0]!;
    await waitFor('the person\'s leg to end', () => FINAL.includes(leg.call.status));
    expect(leg.call.twiml).toContain('<Say>Sorry, the caller has already hung up. Goodbye.</Say><Hangup/>');
    expect(await warmTransferOf(bridge, callSid)).toMatchObject({ status: 'transfer_failed', reason: 'caller_hung_up' });
    expect(caller.conference).toBeUndefined();
    expect(bridge.retell.liveUpdates).toEqual([]);
  });

  it('when the agent ends the call while the person is rung, then the hang-up wins and the person\'s leg is canceled', async () => {
    personAt(bridge, SALES, { answer: 'unanswered' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    await waitForTransfer(bridge, callSid, 'the person to be rung', (t) => t.status === 'transfer_ringing');
    const end = await postRetell(bridge.url, '/retell/functions/end_call', functionCallBody('end_call', callId, {}));
    expect(await end.json()).toMatchObject({ status: 'queued', job_id: `end_call-${callSid}-2` });
    await waitFor('the caller to be hung up', () => bridge.twilio.calls.get(callSid)!.status === 'completed');
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/status', { AccountSid: bridge.config.twilio.accountSid, CallSid: callSid, CallStatus: 'completed' });
    const leg = placedLegs(bridge)[0]!;
    await waitFor('the leg to be canceled', () => leg.call.status === 'canceled');
    expect(await warmTransferOf(bridge, callSid)).toMatchObject({ status: 'transfer_failed', reason: 'caller_hung_up' });
  });

  it('when the person accepts after the agent asked to end the call, then they are not joined: they hear a sentence and the leg ends', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1', pressAfterMs: 1500 });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    const leg = await waitFor('the person to pick up', () => placedLegs(bridge).find((p) => p.answerTwiml !== undefined));
    // The hang-up is slow at Twilio, so the person presses 1 while it is still under way.
    bridge.twilio.injections.push({ kind: 'delay', ms: 3000 });
    await postRetell(bridge.url, '/retell/functions/end_call', functionCallBody('end_call', callId, {}));

    await waitFor('the person\'s leg to end', () => FINAL.includes(leg.call.status));
    expect(leg.call.twiml).toContain('<Say>Sorry, this call no longer needs you. Goodbye.</Say><Hangup/>');
    expect(await warmTransferOf(bridge, callSid)).toMatchObject({ status: 'transfer_failed', reason: 'canceled' });
    expect(bridge.twilio.calls.get(callSid)!.conference).toBeUndefined();
    await waitFor('the caller to be hung up', () => bridge.twilio.calls.get(callSid)!.status === 'completed', 10_000);
  });

  it('when the person has accepted and the caller is being moved to them, then end_call is refused with 409 and the caller is joined, not hung up', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    // The next redirect Twilio is sent, the caller's into the conference, is slow: the agent asks to hang up meanwhile.
    bridge.twilio.injections.push({ kind: 'delay', ms: 2000 });
    await postWarmTransfer(bridge, callId);
    await waitForTransfer(bridge, callSid, 'the person to accept', (t) => t.status === 'transfer_accepted');
    const end = await postRetell(bridge.url, '/retell/functions/end_call', functionCallBody('end_call', callId, {}));
    expect(end.status).toBe(409);
    expect(((await end.json()) as { result: string }).result).toMatch(/being connected to sales/);
    await waitFor('the call to be transferred', async () => (await bridge.calls.get(callSid))?.state === 'transferred');
    expect(bridge.twilio.calls.get(callSid)!.status).not.toBe('completed');
    expect(bridge.twilio.callUpdates(callSid).map((u) => Object.keys(u.form))).toEqual([['Twiml']]);
  });

  it('when Retell repeats the function call, then one person is rung, and every repeat gets the same answer', async () => {
    personAt(bridge, SALES, { answer: 'unanswered' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    const answers = await Promise.all([1, 2, 3].map(() => postWarmTransfer(bridge, callId)));
    const bodies = await Promise.all(answers.map((r) => r.json() as Promise<{ job_id: string; result: string }>));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(new Set(bodies.map((b) => b.job_id))).toEqual(new Set([`warm_transfer-${callSid}-1`]));
    await waitForTransfer(bridge, callSid, 'the person to be rung', (t) => t.status === 'transfer_ringing');
    const late = await postWarmTransfer(bridge, callId);
    expect(await late.json()).toMatchObject({ job_id: `warm_transfer-${callSid}-1` });
    expect(creates(bridge)).toHaveLength(1);
    expect(placedLegs(bridge)).toHaveLength(1);
  });

  it('when the agent asks for another transfer while one rings, then 409 and nothing more is rung', async () => {
    personAt(bridge, SALES, { answer: 'unanswered' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    await waitForTransfer(bridge, callSid, 'the person to be rung', (t) => t.status === 'transfer_ringing');
    const other = await postWarmTransfer(bridge, callId, { destination: '+16465550100', summary: 'Another.' });
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ status: 'conflict', result: "I'm already calling sales for this caller; wait for that to finish." });
    const cold = await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
    expect(cold.status).toBe(409);
    expect(creates(bridge)).toHaveLength(1);
  });

  it('when the caller ID was withheld, then the person sees the business number, without the token', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId } = await liveCallWithToken(bridge, { From: 'Anonymous', Caller: 'Anonymous' });
    await postWarmTransfer(bridge, callId);
    await waitFor('the call to be transferred', async () => (await bridge.calls.get(callSid))?.state === 'transferred');
    const params = placedLegs(bridge)[0]!.params;
    expect(params.get('From')).toBe(BUSINESS);
    expect(params.get('CallToken')).toBeNull();
  });

  it('when the voice webhook carried no CallToken, then the leg is placed from the business number', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId } = await liveCall(bridge);
    await postWarmTransfer(bridge, callId);
    await waitFor('the call to be transferred', async () => (await bridge.calls.get(callSid))?.state === 'transferred');
    expect(placedLegs(bridge)[0]!.params.get('From')).toBe(BUSINESS);
  });

  it('when the agent calls it through the shared /retell/functions route, then it works the same', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    const res = await postWarmTransfer(bridge, callId, { destination: 'Sales', summary: SUMMARY }, '/retell/functions');
    expect(res.status).toBe(200);
    await waitFor('the call to be transferred', async () => (await bridge.calls.get(callSid))?.state === 'transferred');
  });
});

describe('warm_transfer refusals and bad input', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startBridge(WARM_ENV);
  });
  afterAll(() => bridge.close());

  const jobs = async () => Object.values(await bridge.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed')).reduce((a, b) => a + b, 0);

  it.each([
    ['no summary', { destination: 'sales' }, 'summary: args.summary is required'],
    ['an empty summary', { destination: 'sales', summary: ' \u0000 ' }, 'summary: args.summary must not be empty'],
    ['a summary too long', { destination: 'sales', summary: 'x'.repeat(601) }, 'summary: args.summary must be at most 600 characters'],
    ['no destination', { summary: SUMMARY }, 'destination: args.destination is required'],
  ])('when the arguments have %s, then 400 naming the problem and nothing is queued', async (_what, args, reason) => {
    const before = await jobs();
    const { callId } = await liveCall(bridge);
    const res = await postWarmTransfer(bridge, callId, args);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain(reason);
    expect(await jobs()).toBe(before);
  });

  it.each([
    ['a number not on the allowlist', '+19005550199'],
    ['a SIP URI not configured by name', 'sip:attacker@evil.example.com'],
  ])('when the destination is %s, then 422 and nothing is queued', async (_what, destination) => {
    const before = await jobs();
    const { callId } = await liveCall(bridge);
    const res = await postWarmTransfer(bridge, callId, { destination, summary: SUMMARY });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ status: 'not_allowed', result: "I can't transfer calls to that destination. I can transfer to: sales." });
    expect(await jobs()).toBe(before);
  });

  it('when the call is unknown, then 404; when it has ended, then 410', async () => {
    expect((await postWarmTransfer(bridge, 'call_unknown0123456789')).status).toBe(404);
    const { callSid, callId } = await liveCall(bridge);
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/status', { AccountSid: bridge.config.twilio.accountSid, CallSid: callSid, CallStatus: 'completed' });
    expect((await postWarmTransfer(bridge, callId)).status).toBe(410);
  });

  it('when the signature is forged, then 401 and nothing is queued', async () => {
    const before = await jobs();
    const { callId } = await liveCall(bridge);
    const res = await postRetell(bridge.url, '/retell/functions/warm_transfer', functionCallBody('warm_transfer', callId, { destination: 'sales', summary: SUMMARY }), {
      apiKey: 'key_forged_0123456789',
    });
    expect(res.status).toBe(401);
    expect(await jobs()).toBe(before);
  });

  it('when a transfer_call body is replayed to the warm_transfer URL, then 400', async () => {
    const { callId } = await liveCall(bridge);
    const res = await postRetell(bridge.url, '/retell/functions/warm_transfer', functionCallBody('transfer_call', callId, { destination: 'sales', summary: SUMMARY }));
    expect(res.status).toBe(400);
  });

  const id = `warm_transfer-CA${'0'.repeat(32)}-1`;
  const leg = { AccountSid: '', CallSid: `CA${'1'.repeat(32)}`, CallStatus: 'in-progress', Digits: '1' };

  it.each(['answer', 'gather', 'status', 'amd'])('when Twilio\'s %s callback is unsigned or forged, then 403', async (path) => {
    const params = { ...leg, AccountSid: bridge.config.twilio.accountSid, AnsweredBy: 'human' };
    const url = `/twilio/warm-transfer/${path}?x=${id}`;
    expect((await postSigned(bridge.url, PUBLIC_URL, url, params, { signature: null })).status).toBe(403);
    expect((await postSigned(bridge.url, PUBLIC_URL, url, params, { token: 'f'.repeat(32) })).status).toBe(403);
  });

  it.each([
    ['a transfer id that is not one', '/twilio/warm-transfer/answer?x=transfer-CA1-1', {}, 'x must be a warm transfer id'],
    ['no CallSid', `/twilio/warm-transfer/gather?x=${id}`, { CallSid: undefined }, 'CallSid'],
    ['an unknown AMD verdict', `/twilio/warm-transfer/amd?x=${id}`, { AnsweredBy: 'robot' }, 'AnsweredBy'],
    ['no CallStatus', `/twilio/warm-transfer/status?x=${id}`, { CallStatus: undefined }, 'CallStatus'],
  ])('when a signed callback has %s, then 400 with the reason', async (_what, url, change, reason) => {
    const params: Record<string, string> = { ...leg, AccountSid: bridge.config.twilio.accountSid, AnsweredBy: 'human' };
    for (const [k, v] of Object.entries(change)) {
      if (v === undefined) delete params[k];
      else params[k] = v;
    }
    const res = await postSigned(bridge.url, PUBLIC_URL, url, params);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain(reason);
  });

  it('when the person answers a transfer the bridge does not know, then they hear a sentence and the leg hangs up', async () => {
    const res = await postSigned(bridge.url, PUBLIC_URL, `/twilio/warm-transfer/answer?x=${id}`, { ...leg, AccountSid: bridge.config.twilio.accountSid });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Say>Sorry, this call no longer needs you. Goodbye.</Say><Hangup/></Response>');
  });
});
