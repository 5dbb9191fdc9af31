import { PUBLIC_URL, startBridge, type TestBridge } from '../../support/bridge';
import { liveCall, waitFor } from '../../support/calls';
import { functionCallBody, postRetell } from '../../support/retell-signing';
import { ACCOUNT_SID, newCallSid, postSigned, voiceParams } from '../../support/twilio-signing';

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
    SequenceNumber: '0',
    CallbackSource: 'call-progress-events',
    ...extra,
  };
}

function retellEvent(event: string, callId: string, extra: Record<string, unknown> = {}) {
  return {
    event,
    call: {
      call_id: callId,
      call_type: 'phone_call',
      agent_id: 'agent_default',
      call_status: event === 'call_started' ? 'ongoing' : 'ended',
      start_timestamp: 1795694400000,
      ...(event !== 'call_started' ? { end_timestamp: 1795694460000, duration_ms: 60000, disconnection_reason: 'user_hangup' } : {}),
      ...(event === 'call_analyzed' ? { call_analysis: { call_summary: 'Caller asked for opening hours.', user_sentiment: 'Positive', call_successful: true } } : {}),
      ...extra,
    },
  };
}

describe('call lifecycle', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge({ TRANSFER_DESTINATIONS: '{"sales":"+14155550101"}' }, { worker: true });
  });
  afterEach(() => bridge.close());

  const status = (callSid: string, s: string, extra?: Record<string, string>) =>
    postSigned(bridge.url, PUBLIC_URL, '/twilio/status', statusParams(callSid, s, extra));
  const event = (name: string, callId: string, extra?: Record<string, unknown>) =>
    postRetell(bridge.url, '/retell/webhook', retellEvent(name, callId, extra));

  describe('POST /twilio/status', () => {
    it('when Twilio reports the call answered, then completed, then the record moves to in-progress, then ended with the reason', async () => {
      const { callSid } = await liveCall(bridge);
      expect((await status(callSid, 'in-progress')).status).toBe(204);
      expect((await bridge.calls.get(callSid))?.state).toBe('in-progress');

      expect((await status(callSid, 'completed', { CallDuration: '73' })).status).toBe(204);
      expect(await bridge.calls.get(callSid)).toMatchObject({
        state: 'ended',
        endReason: 'completed',
        duration: '73',
        endedAt: '2026-11-26T12:00:00.000Z',
        twilioStatus: 'completed',
      });
    });

    it('when a stale in-progress arrives after completed, then the call stays ended', async () => {
      const { callSid } = await liveCall(bridge);
      await status(callSid, 'completed');
      await status(callSid, 'in-progress');
      await status(callSid, 'completed', { Timestamp: 'Thu, 26 Nov 2026 13:00:00 +0000' });
      const record = await bridge.calls.get(callSid);
      expect(record?.state).toBe('ended');
      expect(record?.endedAt).toBe('2026-11-26T12:00:00.000Z');
    });

    it('when the CallSid is unknown, then 204 and no record is created', async () => {
      const callSid = newCallSid();
      expect((await status(callSid, 'completed')).status).toBe(204);
      expect(await bridge.calls.get(callSid)).toBeNull();
    });

    it('when unsigned, then 403 and nothing changes', async () => {
      const { callSid } = await liveCall(bridge);
      const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/status', statusParams(callSid, 'completed'), { signature: null });
      expect(res.status).toBe(403);
      expect((await bridge.calls.get(callSid))?.state).toBe('registered');
    });

    it('when CallStatus is missing, then 400', async () => {
      const params = statusParams(newCallSid(), 'completed');
      delete params.CallStatus;
      const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/status', params);
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/CallStatus/);
    });
  });

  describe('POST /retell/webhook', () => {
    it('when Retell reports started, ended and analyzed, then the record follows', async () => {
      const { callSid, callId } = await liveCall(bridge);
      expect((await event('call_started', callId)).status).toBe(204);
      expect((await bridge.calls.get(callSid))?.state).toBe('in-progress');
      await event('call_ended', callId);
      await event('call_analyzed', callId);
      expect(await bridge.calls.get(callSid)).toMatchObject({
        state: 'ended',
        agentStartedAt: '2026-11-26T12:00:00.000Z',
        agentEndedAt: '2026-11-26T12:01:00.000Z',
        disconnectionReason: 'user_hangup',
        agentDurationMs: '60000',
        summary: 'Caller asked for opening hours.',
        userSentiment: 'Positive',
        callSuccessful: 'true',
      });
    });

    it('when events and status callbacks arrive in any order, with repeats, then the call ends up ended with every fact recorded once', async () => {
      const deliveries: Array<(callSid: string, callId: string) => Promise<Response>> = [
        (_s, id) => event('call_started', id),
        (_s, id) => event('call_ended', id),
        (_s, id) => event('call_analyzed', id),
        (s) => status(s, 'in-progress'),
        (s) => status(s, 'completed', { CallDuration: '61' }),
      ];
      for (let round = 0; round < 4; round++) {
        const { callSid, callId } = await liveCall(bridge);
        const order = [...deliveries, ...deliveries.slice(0, 3)].sort(() => Math.random() - 0.5);
        for (const deliver of order) expect((await deliver(callSid, callId)).status).toBe(204);
        expect(await bridge.calls.get(callSid)).toMatchObject({
          state: 'ended',
          disconnectionReason: 'user_hangup',
          duration: '61',
          summary: 'Caller asked for opening hours.',
        });
      }
    });

    it('when the agent leg ends after a transfer, then the call is not marked ended until Twilio says so', async () => {
      const { callSid, callId } = await liveCall(bridge);
      await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
      await waitFor('transfer', async () => (await bridge.calls.get(callSid))?.state === 'transferred');
      await event('call_ended', callId, { disconnection_reason: 'user_hangup' });
      expect((await bridge.calls.get(callSid))?.state).toBe('transferred');
      await status(callSid, 'completed');
      expect((await bridge.calls.get(callSid))?.state).toBe('ended');
    });

    it('when the call has ended, then a function call for it is refused with 410 and a sentence', async () => {
      const { callId } = await liveCall(bridge);
      await event('call_ended', callId);
      const res = await postRetell(bridge.url, '/retell/functions/end_call', functionCallBody('end_call', callId, {}));
      expect(res.status).toBe(410);
      expect(await res.json()).toMatchObject({ result: 'This call has already ended.' });
    });

    it('when the event is one the bridge does not use, then 204 and nothing changes', async () => {
      const { callSid, callId } = await liveCall(bridge);
      expect((await event('transcript_updated', callId)).status).toBe(204);
      expect((await bridge.calls.get(callSid))?.state).toBe('registered');
    });

    it('when the call is unknown, then 204 and nothing is created', async () => {
      expect((await event('call_ended', 'call_nobody_knows')).status).toBe(204);
    });

    it('when unsigned or signed with another key, then 401', async () => {
      const { callId } = await liveCall(bridge);
      expect((await postRetell(bridge.url, '/retell/webhook', retellEvent('call_ended', callId), { signature: null })).status).toBe(401);
      expect((await postRetell(bridge.url, '/retell/webhook', retellEvent('call_ended', callId), { apiKey: 'key_other_123456' })).status).toBe(401);
    });

    it('when the body has no event, then 400', async () => {
      const res = await postRetell(bridge.url, '/retell/webhook', { call: { call_id: 'x' } });
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/event is required/);
    });
  });

  describe('states move forward only, whoever writes them', () => {
    it('when a call is transferred while its registration is still in flight, then the registration finishing does not move it back', async () => {
      const slow = await startBridge({ TRANSFER_DESTINATIONS: '{"sales":"+14155550101"}', RETELL_TIMEOUT_MS: '4000' }, { worker: true });
      try {
        slow.retell.behaviour = { kind: 'ok', delayMs: 1500 };
        const params = voiceParams();
        const answer = postSigned(slow.url, PUBLIC_URL, '/twilio/voice', params);
        await waitFor('the claim', async () => (await slow.calls.get(params.CallSid!))?.state === 'registering');
        slow.twilio.addCall(params.CallSid!);
        // A transfer that finds the call by the CallSid in metadata, before the registration is stored.
        const body = functionCallBody('transfer_call', 'call_early', { destination: 'sales' }, {
          metadata: { twilio_call_sid: params.CallSid, twilio_account_sid: ACCOUNT_SID },
        });
        expect((await postRetell(slow.url, '/retell/functions/transfer_call', body)).status).toBe(200);
        await waitFor('the transfer', async () => (await slow.calls.get(params.CallSid!))?.state === 'transferred');

        expect((await answer).status).toBe(200);
        expect(await slow.calls.get(params.CallSid!)).toMatchObject({ state: 'transferred', twiml: expect.stringContaining('<Sip>') });
      } finally {
        await slow.close();
      }
    });
  });
});
