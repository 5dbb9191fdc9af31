/**
 * Recording end to end against the fake Twilio: the voice webhook's answer starts a call recording (or
 * asks for consent first), the fake records the call across a cold or a warm transfer, Twilio's signed
 * recording status callback lands on the call record and in the events, and the per-call choices (lookup
 * hook, POST /calls) override RECORDING.
 */
import { twiml } from 'twilio';
import { PUBLIC_URL, startBridge, type TestBridge } from '../../support/bridge';
import { liveCall } from '../../support/calls';
import { eventsOf, EVENTS_ENV } from '../../support/events';
import { HookServer } from '../../support/hook-server';
import { OUTBOUND_ENV, placeCall, waitForCall } from '../../support/outbound';
import { functionCallBody, postRetell } from '../../support/retell-signing';
import { ACCOUNT_SID, postSigned, voiceParams } from '../../support/twilio-signing';
import { waitFor } from '../../support/wait';
import { BUSINESS, liveCallWithToken, personAt, placedLegs, postWarmTransfer, SALES, WARM_ENV } from '../../support/warm-transfer';

const DISCLOSURE = 'This call is recorded for quality & training.';
const STATUS_URL = `${PUBLIC_URL}/twilio/recording/status`;

/** The answer a recorded call gets, built with twilio's own VoiceResponse. */
function expectedAnswer(callId: string, opts: { channels: 'mono' | 'dual'; disclosure?: string }): string {
  const response = new twiml.VoiceResponse();
  response.start().recording({
    channels: opts.channels,
    track: 'both',
    trim: 'do-not-trim',
    recordingStatusCallback: STATUS_URL,
    recordingStatusCallbackMethod: 'POST',
    recordingStatusCallbackEvent: ['in-progress', 'completed', 'absent'],
  });
  if (opts.disclosure) response.say(opts.disclosure);
  response
    .dial({ answerOnBridge: true, action: `${PUBLIC_URL}/twilio/dial-action`, method: 'POST', referUrl: `${PUBLIC_URL}/twilio/refer`, referMethod: 'POST' })
    .sip(`sip:${callId}@sip.retellai.com;transport=tcp`);
  return response.toString();
}

describe('recording', () => {
  let bridge: TestBridge;
  afterEach(() => bridge?.close());

  async function start(env: Record<string, string>, worker = false) {
    bridge = await startBridge({ ...EVENTS_ENV, ...env }, { worker });
    bridge.twilio.addNumber(BUSINESS);
    bridge.twilio.recordings.processingMs = 50;
  }

  async function answer(overrides: Record<string, string> = {}) {
    const params = voiceParams(overrides);
    const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', params);
    expect(res.status).toBe(200);
    const body = await res.text();
    const callId = bridge.retell.registrations.find((r) => (r.body.metadata as { twilio_call_sid: string }).twilio_call_sid === params.CallSid)!.callId;
    return { params, body, callId };
  }

  it('when RECORDING=dual with a disclosure, then the answer starts a dual recording, says the disclosure, then dials the agent, and the record says so', async () => {
    await start({ RECORDING: 'dual', RECORDING_DISCLOSURE: DISCLOSURE });
    const { params, body, callId } = await answer();
    expect(body).toBe(expectedAnswer(callId, { channels: 'dual', disclosure: DISCLOSURE }));
    expect(await bridge.calls.get(params.CallSid!)).toMatchObject({ recording: 'dual', recordingConsent: 'announced' });

    // A repeat of the webhook gets the same answer, and Twilio starts one recording.
    expect(await (await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', params)).text()).toBe(body);
    bridge.twilio.addCall(params.CallSid!, params.From, params.To);
    bridge.twilio.playTwiml(params.CallSid!, body);
    const [recording, ...others] = bridge.twilio.recordings.of(params.CallSid!);
    expect(others).toEqual([]);
    expect(recording).toMatchObject({ startedBy: 'Start', channels: 2, track: 'both', status: 'in-progress' });
    expect([...recording!.heard]).toEqual([`sip:${callId}@sip.retellai.com;transport=tcp`]);
  });

  it('when RECORDING=mono without a disclosure, then the answer starts a mono recording and dials at once', async () => {
    await start({ RECORDING: 'mono' });
    const { body, callId } = await answer();
    expect(body).toBe(expectedAnswer(callId, { channels: 'mono' }));
  });

  it('when RECORDING is off, then the answer is the plain dial and the record holds no recording', async () => {
    await start({});
    const { params, body } = await answer();
    expect(body).not.toContain('<Start>');
    expect(await bridge.calls.get(params.CallSid!)).not.toHaveProperty('recording');
  });

  it('when a recorded call is transferred cold, then the one recording goes on with the person, and when it completes after hang-up the record and recording.completed have it', async () => {
    await start({ RECORDING: 'dual', TRANSFER_DESTINATIONS: JSON.stringify({ sales: SALES }) }, true);
    const { callSid, callId } = await liveCall(bridge);
    const res = await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
    expect(res.status).toBe(200);
    await waitFor('the transfer', async () => (await bridge.calls.get(callSid))?.state === 'transferred');

    const [recording, ...others] = bridge.twilio.recordings.of(callSid);
    expect(others).toEqual([]);
    expect(recording!.status).toBe('in-progress');
    // The agent's leg was redirected away; the recording heard the agent, then the person.
    expect([...recording!.heard]).toEqual([`sip:${callId}@sip.retellai.com;transport=tcp`, SALES]);

    bridge.twilio.hangUp(callSid);
    const record = await waitFor('the recording to complete', async () => {
      const r = await bridge.calls.get(callSid);
      return r?.recordingStatus === 'completed' && r;
    });
    expect(record).toMatchObject({
      recordingSid: recording!.sid,
      recordingUrl: `${bridge.twilio.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings/${recording!.sid}`,
      recordingChannels: '2',
      recordingDuration: expect.stringMatching(/^\d+$/),
    });
    const completed = await eventsOf(bridge, 'recording.completed');
    expect(completed.map((e) => e.data)).toEqual([
      { call_sid: callSid, recording_sid: recording!.sid, url: record.recordingUrl, duration_s: Number(record.recordingDuration), channels: 2 },
    ]);
    // The status callbacks were signed and answered: in-progress, then completed.
    expect(bridge.twilio.callee.webhooks.filter((w) => w.kind === 'recording').map((w) => [w.params.RecordingStatus, w.status])).toEqual([
      ['in-progress', 204],
      ['completed', 204],
    ]);
  });

  it('when a recorded call is transferred warm, then the one recording goes on in the conference and hears the person who took the call', async () => {
    await start({ RECORDING: 'dual', ...WARM_ENV }, true);
    personAt(bridge, SALES, { answer: 'human', press: '1' });
    const { callSid, callId } = await liveCallWithToken(bridge);
    expect((await postWarmTransfer(bridge, callId)).status).toBe(200);
    await waitFor('the call to be transferred', async () => (await bridge.calls.get(callSid))?.state === 'transferred');

    const [recording, ...others] = bridge.twilio.recordings.of(callSid);
    expect(others).toEqual([]);
    expect(recording!.status).toBe('in-progress');
    expect(bridge.twilio.calls.get(callSid)!.conference).toBeDefined();
    expect(recording!.heard).toContain(SALES);
    expect(placedLegs(bridge)[0]!.call.to).toBe(SALES);

    bridge.twilio.hangUp(callSid);
    await waitFor('recording.completed', async () => (await eventsOf(bridge, 'recording.completed')).length === 1);
  });

  describe('with RECORDING_CONSENT=ask', () => {
    const ASK = { RECORDING: 'dual', RECORDING_CONSENT: 'ask' };

    async function askedCall(env: Record<string, string> = {}) {
      await start({ ...ASK, ...env });
      const { params, body, callId } = await answer();
      bridge.twilio.addCall(params.CallSid!, params.From, params.To);
      bridge.twilio.playTwiml(params.CallSid!, body);
      return { callSid: params.CallSid!, body, callId };
    }

    it('when the call comes in, then the caller is asked first, nothing is recorded yet, and the record says asked', async () => {
      const { callSid, body, callId } = await askedCall();
      const expected = new twiml.VoiceResponse();
      expected
        .gather({
          input: ['dtmf', 'speech'],
          numDigits: 1,
          timeout: 5,
          speechTimeout: 'auto',
          hints: 'yes, no',
          action: `${PUBLIC_URL}/twilio/recording/consent?c=${callId}&r=dual`,
          method: 'POST',
          actionOnEmptyResult: true,
        })
        .say('This call may be recorded. To allow recording, press 1 or say yes.');
      expect(body).toBe(expected.toString());
      expect(bridge.twilio.recordings.of(callSid)).toEqual([]);
      expect(await bridge.calls.get(callSid)).toMatchObject({ recording: 'dual', recordingConsent: 'asked' });
    });

    it.each([
      ['presses 1', { digits: '1' }, 'given'],
      ['says "yes, that\'s fine"', { speech: "Yes, that's fine." }, 'given'],
    ])('when the caller %s, then one recording starts before the agent answers, and the record and recording.consent say given', async (_what, input, consent) => {
      const { callSid, callId } = await askedCall();
      const twimlAfter = await bridge.twilio.gather(callSid, input);
      expect(twimlAfter).toBe(expectedAnswer(callId, { channels: 'dual' }));
      expect(bridge.twilio.recordings.of(callSid)).toHaveLength(1);
      expect(await bridge.calls.get(callSid)).toMatchObject({ recordingConsent: consent, recordingConsentAt: expect.any(String) });
      expect((await eventsOf(bridge, 'recording.consent')).map((e) => e.data)).toEqual([{ call_sid: callSid, consent }]);
    });

    it.each([
      ['presses 2', { digits: '2' }, 'refused'],
      ['says "no, don\'t record"', { speech: "No, don't record me." }, 'refused'],
      ['says "yes, but do not record"', { speech: 'Yes but do not record' }, 'refused'],
      ['says nothing before the question times out', {}, 'no_answer'],
    ])('when the caller %s, then the call goes to the agent with no recording request at all, and the record and recording.consent say why', async (_what, input, consent) => {
      const { callSid, callId } = await askedCall();
      const twimlAfter = await bridge.twilio.gather(callSid, input);
      expect(twimlAfter).not.toContain('<Start>');
      expect(twimlAfter).toContain(`<Sip>sip:${callId}@sip.retellai.com;transport=tcp</Sip>`);
      expect(bridge.twilio.recordings.of(callSid)).toEqual([]);
      expect(bridge.twilio.requests.filter((r) => r.path.includes('/Recordings'))).toEqual([]);
      expect(await bridge.calls.get(callSid)).toMatchObject({ recordingConsent: consent });
      expect((await eventsOf(bridge, 'recording.consent')).map((e) => e.data)).toEqual([{ call_sid: callSid, consent }]);
    });

    it('when Twilio repeats the consent request with another answer, then the first answer stands', async () => {
      const { callSid } = await askedCall();
      await bridge.twilio.gather(callSid, { digits: '2' });
      const form = { AccountSid: ACCOUNT_SID, CallSid: callSid, Digits: '1' };
      const url = new URL(/action="([^"]*)"/.exec((await bridge.calls.get(callSid))!.twiml!)![1]!.replace(/&amp;/g, '&'));
      const res = await postSigned(bridge.url, PUBLIC_URL, url.pathname + url.search, form);
      expect(res.status).toBe(200);
      expect(await res.text()).not.toContain('<Start>');
      expect(await bridge.calls.get(callSid)).toMatchObject({ recordingConsent: 'refused' });
    });

    it('when RECORDING_DISCLOSURE is set, then it is the question asked', async () => {
      const { body } = await askedCall({ RECORDING_DISCLOSURE: 'We record calls. Press 1 or say yes if that is OK.' });
      expect(body).toContain('<Say>We record calls. Press 1 or say yes if that is OK.</Say>');
    });
  });

  describe('the consent and status routes', () => {
    beforeEach(() => start({ RECORDING: 'dual', RECORDING_CONSENT: 'ask' }));

    it.each([
      ['unsigned', (p: Record<string, string>) => postSigned(bridge.url, PUBLIC_URL, '/twilio/recording/consent?c=call_1&r=dual', p, { signature: null }), 403],
      ['signed for another URL', (p: Record<string, string>) => postSigned(bridge.url, PUBLIC_URL, '/twilio/recording/consent?c=call_1&r=dual', p, { tamper: (f) => ({ ...f, Digits: '1' }) }), 403],
      ['without the call id', (p: Record<string, string>) => postSigned(bridge.url, PUBLIC_URL, '/twilio/recording/consent?r=dual', p), 400],
      ['with other channels', (p: Record<string, string>) => postSigned(bridge.url, PUBLIC_URL, '/twilio/recording/consent?c=call_1&r=quad', p), 400],
    ])('when the consent request is %s, then it is refused and nothing is recorded', async (_what, send, status) => {
      const params = { AccountSid: ACCOUNT_SID, CallSid: voiceParams().CallSid!, Digits: '2' };
      const res = await send(params);
      expect(res.status).toBe(status);
      expect(await eventsOf(bridge, 'recording.consent')).toEqual([]);
    });

    it.each([
      ['unsigned', { RecordingSid: `RE${'a'.repeat(32)}`, RecordingStatus: 'completed' }, null, 403],
      ['without a RecordingSid', { RecordingStatus: 'completed' }, undefined, 400],
      ['with a malformed RecordingSid', { RecordingSid: 'RE123', RecordingStatus: 'completed' }, undefined, 400],
      ['with a duration that is not seconds', { RecordingSid: `RE${'a'.repeat(32)}`, RecordingStatus: 'completed', RecordingDuration: '1e9' }, undefined, 400],
    ])('when a recording status callback is %s, then it is refused and no event is recorded', async (_what, fields, signature, status) => {
      const params = { AccountSid: ACCOUNT_SID, CallSid: voiceParams().CallSid!, ...fields };
      const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/recording/status', params, signature === null ? { signature: null } : {});
      expect(res.status).toBe(status);
      expect(await eventsOf(bridge, 'recording.completed')).toEqual([]);
    });

    it('when Twilio repeats a completed callback, or sends a late in-progress, then the record keeps the completed recording and one event stands for it', async () => {
      const { callSid } = await liveCall(bridge);
      const sid = `RE${'b'.repeat(32)}`;
      const send = (fields: Record<string, string>) => postSigned(bridge.url, PUBLIC_URL, '/twilio/recording/status', { AccountSid: ACCOUNT_SID, CallSid: callSid, RecordingSid: sid, ...fields });
      const done = { RecordingStatus: 'completed', RecordingUrl: 'https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE', RecordingDuration: '42', RecordingChannels: '2' };
      expect((await send(done)).status).toBe(204);
      expect((await send(done)).status).toBe(204);
      expect((await send({ RecordingStatus: 'in-progress' })).status).toBe(204);
      expect(await bridge.calls.get(callSid)).toMatchObject({ recordingSid: sid, recordingStatus: 'completed', recordingDuration: '42' });
      const events = await eventsOf(bridge, 'recording.completed');
      // Recorded twice, as one event: both carry the id derived from the recording's sid.
      expect(new Set(events.map((e) => e.id)).size).toBe(1);
      expect(events[0]!.data).toEqual({ call_sid: callSid, recording_sid: sid, url: done.RecordingUrl, duration_s: 42, channels: 2 });
    });
  });

  describe('per call', () => {
    let hook: HookServer;
    beforeEach(async () => {
      hook = await new HookServer().start();
    });
    afterEach(() => hook.stop());

    it('when the lookup hook answers recording {enabled: false}, then a call is not recorded although RECORDING=dual', async () => {
      await start({ RECORDING: 'dual', INBOUND_WEBHOOK_URL: `${hook.url}/lookup` });
      hook.behaviour = { kind: 'answer', body: { call_inbound: { recording: { enabled: false } } } };
      const { params, body } = await answer();
      expect(body).not.toContain('<Start>');
      expect(await bridge.calls.get(params.CallSid!)).not.toHaveProperty('recording');
    });

    it('when the lookup hook answers recording {enabled: true, disclosure}, then a call is recorded in dual with that disclosure although RECORDING is off', async () => {
      await start({ INBOUND_WEBHOOK_URL: `${hook.url}/lookup` });
      hook.behaviour = { kind: 'answer', body: { call_inbound: { recording: { enabled: true, disclosure: 'Hi Dana, this call is recorded.\u0007' } } } };
      const { body, callId } = await answer();
      expect(body).toBe(expectedAnswer(callId, { channels: 'dual', disclosure: 'Hi Dana, this call is recorded.' }));
    });

    it('when the lookup hook answers recording that is not an object with enabled, then the answer is refused whole and RECORDING applies', async () => {
      await start({ RECORDING: 'mono', INBOUND_WEBHOOK_URL: `${hook.url}/lookup` });
      hook.behaviour = { kind: 'answer', body: { call_inbound: { override_agent_id: 'agent_other', recording: { enabled: 'yes' } } } };
      const { params, body } = await answer();
      expect(body).toContain('<Recording channels="mono"');
      expect(await bridge.calls.get(params.CallSid!)).toMatchObject({ lookup: 'invalid', agentId: 'agent_default' });
    });

    it.each([
      ['record: true while RECORDING is off', {}, { record: true }, true],
      ['record: false while RECORDING=dual', { RECORDING: 'dual' }, { record: false }, false],
      ['no record while RECORDING=dual', { RECORDING: 'dual' }, {}, true],
    ])('when an outbound call is placed with %s, then its answer starts a recording or not, as asked', async (_what, env, body, recorded) => {
      await start({ ...OUTBOUND_ENV, ...env }, true);
      const id = await placeCall(bridge, body);
      const view = await waitForCall(bridge, id, 'the call to be answered', (v) => v.status === 'in-progress');
      expect(view).toMatchObject('record' in body ? { record: body.record } : {});
      // The status moves as the answer is built; the local Twilio has it once the answer reaches it.
      const placed = await waitFor('the answer to reach Twilio', () => placedLegs(bridge).find((p) => p.answerTwiml !== undefined));
      expect(placed.answerTwiml!.includes('<Start><Recording')).toBe(recorded);
      expect(bridge.twilio.recordings.of(placed.call.sid)).toHaveLength(recorded ? 1 : 0);
    });

    it('when an outbound call with record asks for consent and the callee says yes, then it is recorded', async () => {
      await start({ ...OUTBOUND_ENV, RECORDING_CONSENT: 'ask' }, true);
      bridge.twilio.callee.defaultScript = { answer: 'human', say: 'yes' };
      await placeCall(bridge, { record: true });
      const placed = await waitFor('the callee to answer', () => placedLegs(bridge)[0]);
      await waitFor('the recording to start', () => bridge.twilio.recordings.of(placed.call.sid).length === 1);
      expect(placed.answerTwiml).toContain('<Gather input="dtmf speech"');
      expect(await bridge.calls.get(placed.call.sid)).toMatchObject({ recordingConsent: 'given' });
    });
  });
});
