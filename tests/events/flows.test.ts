/**
 * Each event type produced by its flow, end to end: the fake Twilio and Retell drive a call through the
 * real web and worker, and a local receiver gets the events with the fields docs/events.md documents.
 */
import { PUBLIC_URL, startBridge, type TestBridge } from '../support/bridge';
import { liveCall } from '../support/calls';
import { EventReceiver, type ReceivedRequest } from '../support/event-receiver';
import { CALLEE, OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForOutcome } from '../support/outbound';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { ACCOUNT_SID, postSigned, voiceParams } from '../support/twilio-signing';
import { sleep, waitFor } from '../support/wait';
import { BUSINESS, liveCallWithToken, personAt, postWarmTransfer, SALES, WARM_ENV } from '../support/warm-transfer';

const FAST_RETRIES = [200, 400, 600];

function statusParams(callSid: string, status: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AccountSid: ACCOUNT_SID,
    ApiVersion: '2010-04-01',
    CallSid: callSid,
    CallStatus: status,
    Direction: 'inbound',
    From: '+14155550199',
    To: '+14155550100',
    Timestamp: 'Thu, 26 Nov 2026 12:00:00 +0000',
    ...extra,
  };
}

function callAnalyzed(callId: string, extra: Record<string, unknown> = {}) {
  return {
    event: 'call_analyzed',
    call: {
      call_id: callId,
      call_type: 'phone_call',
      agent_id: 'agent_default',
      call_status: 'ended',
      start_timestamp: 1795694400000,
      end_timestamp: 1795694460000,
      duration_ms: 60000,
      disconnection_reason: 'user_hangup',
      transcript: 'Agent: Hello!\nUser: What are your opening hours?',
      call_analysis: { call_summary: 'Caller asked for opening hours.', user_sentiment: 'Positive', call_successful: true },
      ...extra,
    },
  };
}

describe('events from their flows', () => {
  let receiver: EventReceiver;
  let bridge: TestBridge;
  beforeEach(async () => {
    receiver = await EventReceiver.start();
    bridge = await startBridge(
      { ...OUTBOUND_ENV, ...WARM_ENV, EVENTS_WEBHOOK_URL: receiver.url, EVENTS_WEBHOOK_SECRET: receiver.secret },
      { worker: true, eventRetryDelaysMs: FAST_RETRIES },
    );
    bridge.twilio.addNumber(BUSINESS);
  });
  afterEach(async () => {
    await bridge.close();
    await receiver.stop();
  });

  /** The events of `callSid` the receiver got, by type, each verified. */
  const eventsOf = (callSid: string) => receiver.received.filter((r) => r.json.data.call_sid === callSid);
  const typesOf = (requests: ReceivedRequest[]) => requests.map((r) => r.json.type);

  it('when an inbound call is answered, ends and is analysed, then call.started, call.ended and call.analyzed arrive once each, signed, with their fields', async () => {
    const params = voiceParams();
    const callSid = params.CallSid!;
    const { callId } = await liveCall(bridge, params);
    // Twilio repeating the voice webhook is the same call: no second call.started.
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', params);
    const startedEvent = await receiver.waitFor('call.started');
    expect(startedEvent.json.data).toEqual({ call_sid: callSid, retell_call_id: callId, direction: 'inbound', from: params.From, to: params.To, agent_id: 'agent_default' });

    for (let i = 0; i < 2; i++) await postSigned(bridge.url, PUBLIC_URL, '/twilio/status', statusParams(callSid, 'completed', { CallDuration: '73' }));
    const ended = await receiver.waitFor('call.ended');
    expect(ended.json.data).toEqual({ call_sid: callSid, retell_call_id: callId, direction: 'inbound', from: params.From, to: params.To, twilio_status: 'completed', duration_s: 73 });

    const analyzed = callAnalyzed(callId);
    expect((await postRetell(bridge.url, '/retell/webhook', analyzed)).status).toBe(204);
    const event = await receiver.waitFor('call.analyzed');
    expect(event.json.data).toEqual({ call_sid: callSid, retell_call_id: callId, retell: analyzed.call });

    await sleep(800);
    expect(typesOf(eventsOf(callSid))).toEqual(['call.started', 'call.ended', 'call.analyzed']);
    for (const r of eventsOf(callSid)) expect(r.verified).toBe(true);
    // The call's own index, which simulate and the console read, oldest first.
    expect((await bridge.eventStore.forCall(callSid)).map((e) => e.type)).toEqual(['call.started', 'call.ended', 'call.analyzed']);
  });

  it('when Retell\'s call object is MiBs of transcript, then call.analyzed carries it under 256 KiB, the word timings dropped first, and says so', async () => {
    const { callSid, callId } = await liveCall(bridge);
    const words = Array.from({ length: 60 }, (_, i) => ({ word: `word${i}`, start: i * 0.3, end: i * 0.3 + 0.25 }));
    const transcript_object = Array.from({ length: 400 }, (_, i) => ({ role: i % 2 ? 'user' : 'agent', content: `Utterance number ${i} of a long call.`, words }));
    const analyzed = callAnalyzed(callId, { transcript_object, transcript_with_tool_calls: transcript_object });
    expect(JSON.stringify(analyzed).length).toBeGreaterThan(2 * 1024 * 1024);
    expect((await postRetell(bridge.url, '/retell/webhook', analyzed)).status).toBe(204);

    const event = await receiver.waitFor('call.analyzed');
    expect(Buffer.byteLength(event.body)).toBeLessThan(256 * 1024 + 1024);
    const data = event.json.data as { retell: Record<string, unknown>; retell_trimmed: string[] };
    expect(data.retell_trimmed).toEqual(['transcript_object[].words', 'transcript_with_tool_calls[].words']);
    expect((data.retell.transcript_object as unknown[]).length).toBe(400);
    expect((data.retell.transcript_object as Array<Record<string, unknown>>)[1]).toEqual({ role: 'user', content: 'Utterance number 1 of a long call.' });
    expect(data.retell).toMatchObject({ call_id: callId, call_analysis: analyzed.call.call_analysis, transcript: analyzed.call.transcript });
    expect(data).toMatchObject({ call_sid: callSid, retell_call_id: callId });
  });

  it('when the agent transfers the call (cold), then transfer.started and transfer.completed', async () => {
    const { callSid, callId } = await liveCall(bridge);
    await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
    const completed = await receiver.waitFor('transfer.completed');
    const started = receiver.ofType('transfer.started');
    const transfer = { call_sid: callSid, retell_call_id: callId, kind: 'cold', destination: 'sales', to: SALES };
    expect(started.map((r) => r.json.data)).toEqual([transfer]);
    expect(completed.json.data).toEqual(transfer);
  });

  it('when Retell\'s own transfer arrives as a SIP REFER to an allowed destination, then transfer.started and transfer.completed (cold), once however often Twilio asks', async () => {
    const { callSid } = await liveCall(bridge);
    const params = { ...voiceParams({ CallSid: callSid, CallStatus: 'in-progress' }), ReferTransferTarget: `<sip:${SALES}@sip.retellai.com>` };
    for (let i = 0; i < 2; i++) expect((await postSigned(bridge.url, PUBLIC_URL, '/twilio/refer', params)).status).toBe(200);
    const completed = await receiver.waitFor('transfer.completed');
    const transfer = { call_sid: callSid, kind: 'cold', destination: 'sales', to: SALES };
    expect(completed.json.data).toEqual(transfer);
    await sleep(500);
    expect(receiver.ofType('transfer.started').map((r) => r.json.data)).toEqual([transfer]);
    expect(receiver.ofType('transfer.completed')).toHaveLength(1);
  });

  it('when Twilio refuses the transfer, then transfer.failed with the reason', async () => {
    bridge.twilio.injections.push({ kind: 'error', status: 404, code: 20404, message: 'The requested resource was not found' });
    const { callSid, callId } = await liveCall(bridge);
    await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
    const failed = await receiver.waitFor('transfer.failed');
    expect(failed.json.data).toEqual({ call_sid: callSid, retell_call_id: callId, kind: 'cold', destination: 'sales', to: SALES, reason: 'failed', detail: expect.stringMatching(/404/) });
    expect(receiver.ofType('transfer.completed')).toEqual([]);
  });

  it('when the person takes a warm transfer, then transfer.started and transfer.completed with kind warm', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    const completed = await receiver.waitFor('transfer.completed');
    const transfer = { call_sid: callSid, retell_call_id: callId, kind: 'warm', destination: 'sales', to: SALES };
    expect(receiver.ofType('transfer.started').map((r) => r.json.data)).toEqual([transfer]);
    expect(completed.json.data).toEqual(transfer);
  });

  it('when the person declines a warm transfer, then transfer.failed with reason declined', async () => {
    personAt(bridge, SALES, { answer: 'human', press: '9' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    await postWarmTransfer(bridge, callId);
    const failed = await receiver.waitFor('transfer.failed');
    expect(failed.json.data).toEqual({ call_sid: callSid, retell_call_id: callId, kind: 'warm', destination: 'sales', to: SALES, reason: 'declined' });
  });

  it('when an outbound call of a campaign is answered and hung up, then outbound.status for each status, call.started and call.ended with its ids, then outbound.completed with the outcome', async () => {
    bridge.twilio.addNumber(OUR_NUMBER);
    bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 300 };
    const id = await placeCall(bridge, { metadata: { campaign_id: 'cmp_1', task_id: 'tsk_1', crm: 7 } });
    const view = await waitForOutcome(bridge, id);
    const completed = await receiver.waitFor('outbound.completed');
    const ids = { campaign_id: 'cmp_1', task_id: 'tsk_1' };
    expect(completed.json.data).toMatchObject({ id, status: 'ended', call_sid: view.call_sid, outcome: 'completed', answered_by: 'human', ...ids, call: { id, status: 'ended', outcome: 'completed', metadata: { campaign_id: 'cmp_1', task_id: 'tsk_1', crm: 7 } } });

    await waitFor('the call\'s events', () => receiver.ofType('call.ended').length === 1 && receiver.ofType('outbound.status').length === 3);
    const statuses = receiver.ofType('outbound.status').map((r) => r.json.data);
    expect(statuses.map((d) => d.status).sort()).toEqual(['dialing', 'in-progress', 'ringing']);
    for (const d of statuses) expect(d).toMatchObject({ id, ...ids, call: { id, status: d.status } });

    const call = { call_sid: view.call_sid, retell_call_id: view.retell_call_id, direction: 'outbound', from: OUR_NUMBER, to: CALLEE, outbound_id: id, ...ids };
    expect(receiver.ofType('call.started').map((r) => r.json.data)).toEqual([{ ...call, agent_id: 'agent_default' }]);
    expect(receiver.ofType('call.ended')[0]!.json.data).toMatchObject({ ...call, twilio_status: 'completed' });
    for (const r of receiver.received) expect(r.verified).toBe(true);
  });
});
