import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getExpectedTwilioSignature } from 'twilio';
import { verifyRetellSignature } from '../../../src/retell/signature';
import { PUBLIC_URL, startBridge, type TestBridge } from '../../support/bridge';
import { API_TOKEN, CALLEE, getCall, OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForCall, waitForOutcome } from '../../support/outbound';
import { postSigned } from '../../support/twilio-signing';
import { sleep, waitFor } from '../../support/wait';

const XML = '<?xml version="1.0" encoding="UTF-8"?>';

/** POST /calls → worker → fake Twilio, whose callee answers (or not) and calls the bridge back, signed. */
describe('outbound calls, end to end', () => {
  let bridge: TestBridge;
  const start = async (env: Record<string, string> = {}) => {
    bridge = await startBridge({ ...OUTBOUND_ENV, ...env }, { worker: true });
    bridge.twilio.addNumber(OUR_NUMBER);
  };
  afterEach(() => bridge.close());

  const creates = () => bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));
  const sent = (kind: string) => bridge.twilio.callee.webhooks.filter((w) => w.kind === kind);

  describe('when a person answers', () => {
    beforeEach(() => start());

    it('then calls.create gets a URL, status callbacks and async AMD on its own route, and the answer registers once with the request\'s agent, variables and metadata', async () => {
      const id = await placeCall(bridge, {
        agent_id: 'agent_sales',
        agent_version: 4,
        dynamic_variables: { first_name: 'Ada' },
        metadata: { crm_id: 42, twilio_call_sid: 'spoofed' },
        ring_timeout_s: 25,
      });
      const live = await waitForCall(bridge, id, 'the call to be answered', (v) => v.status === 'in-progress' && v.retell_call_id !== undefined);

      const [create] = creates();
      const params = bridge.twilio.callee.placed.get(live.call_sid!)!.params;
      expect(create!.form).toMatchObject({
        To: CALLEE,
        From: OUR_NUMBER,
        Url: `${PUBLIC_URL}/twilio/outbound/answer?o=${id}`,
        Method: 'POST',
        StatusCallback: `${PUBLIC_URL}/twilio/outbound/status?o=${id}`,
        Timeout: '25',
        MachineDetection: 'Enable',
        AsyncAmd: 'true',
        AsyncAmdStatusCallback: `${PUBLIC_URL}/twilio/outbound/amd?o=${id}`,
      });
      expect(create!.form.Twiml).toBeUndefined();
      expect(params.getAll('StatusCallbackEvent')).toEqual(['initiated', 'ringing', 'answered', 'completed']);

      expect(bridge.retell.registrations).toHaveLength(1);
      const registration = bridge.retell.registrations[0]!;
      expect(registration.body).toEqual({
        agent_id: 'agent_sales',
        agent_version: 4,
        direction: 'outbound',
        from_number: OUR_NUMBER,
        to_number: CALLEE,
        metadata: { crm_id: 42, outbound_id: id, twilio_call_sid: live.call_sid, twilio_account_sid: bridge.config.twilio.accountSid },
        retell_llm_dynamic_variables: { first_name: 'Ada' },
      });
      const answer = await waitFor('the answer request to be recorded', () => sent('answer')[0]);
      expect(answer.status).toBe(200);
      expect(answer.body).toBe(
        `${XML}<Response><Dial answerOnBridge="true" action="${PUBLIC_URL}/twilio/dial-action" method="POST" referUrl="${PUBLIC_URL}/twilio/refer" referMethod="POST">` +
          `<Sip>sip:${registration.callId}@sip.retellai.com;transport=tcp</Sip></Dial></Response>`,
      );
      expect(live).toMatchObject({ call_sid: expect.stringMatching(/^CA/), retell_call_id: registration.callId });
      expect((await bridge.calls.get(live.call_sid!))).toMatchObject({ direction: 'outbound', from: OUR_NUMBER, to: CALLEE, callId: registration.callId });

      // Twilio repeating the answer request (a retry, a fallback URL) gets the same TwiML and registers nothing.
      const replays = await Promise.all(
        [1, 2, 3].map(() => postSigned(bridge.url, PUBLIC_URL, `/twilio/outbound/answer?o=${id}`, answer.params)),
      );
      for (const r of replays) expect(await r.text()).toBe(answer.body);
      expect(bridge.retell.registrations).toHaveLength(1);
    });

    it('then, when the callee hangs up, the outcome is completed with the duration, and the status moved queued → dialing → ringing → in-progress → ended', async () => {
      bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 1100 };
      const id = await placeCall(bridge);
      const seen = new Set<string>();
      const ended = await waitFor('the call to end', async () => {
        const { body } = await getCall(bridge, id);
        seen.add(body.status);
        return body.status === 'ended' && body;
      }, 10_000, 10);
      expect(ended).toMatchObject({ outcome: 'completed', answered_by: 'human', duration_s: 1 });
      expect(ended.dialing_at && ended.ringing_at && ended.answered_at && ended.ended_at).toBeTruthy();
      expect(seen.has('queued') || seen.has('dialing')).toBe(true);
      expect(seen).toContain('in-progress');
      expect((await bridge.calls.get(ended.call_sid!))).toMatchObject({ state: 'ended', endReason: 'completed' });
    });

    it('then a forged or unsigned callback is refused with 403 and changes nothing', async () => {
      const id = await placeCall(bridge);
      const live = await waitForCall(bridge, id, 'answered', (v) => v.status === 'in-progress');
      const params = { AccountSid: bridge.config.twilio.accountSid, CallSid: live.call_sid!, CallStatus: 'completed' };
      for (const path of [`/twilio/outbound/status?o=${id}`, `/twilio/outbound/answer?o=${id}`, `/twilio/outbound/amd?o=${id}`]) {
        expect((await postSigned(bridge.url, PUBLIC_URL, path, params, { signature: null })).status).toBe(403);
        expect((await postSigned(bridge.url, PUBLIC_URL, path, params, { token: 'e'.repeat(32) })).status).toBe(403);
      }
      // The id is part of the signed URL: a signature for one call does not carry over to another's URL.
      const other = `out_${'b'.repeat(32)}`;
      const signature = getExpectedTwilioSignature(bridge.config.twilio.authToken, `${PUBLIC_URL}/twilio/outbound/status?o=${id}`, params);
      expect((await postSigned(bridge.url, PUBLIC_URL, `/twilio/outbound/status?o=${other}`, params, { signature })).status).toBe(403);
      expect((await getCall(bridge, id)).body.status).toBe('in-progress');
    });
  });

  describe('when the call does not connect', () => {
    beforeEach(() => start());

    it.each([
      ['busy', 'dial_busy'],
      ['no-answer', 'dial_no_answer'],
      ['failed', 'dial_failed'],
    ] as const)('when the callee is %s, then the outcome is %s and nothing is registered', async (answer, outcome) => {
      bridge.twilio.callee.defaultScript = { answer };
      const id = await placeCall(bridge);
      expect(await waitForOutcome(bridge, id)).toMatchObject({ status: 'ended', outcome, duration_s: 0 });
      expect(bridge.retell.registrations).toHaveLength(0);
      expect(sent('answer')).toHaveLength(0);
    });

    it.each([
      [21211, 400, "The 'To' number +14155550199 is not a valid phone number."],
      [21215, 400, 'Account not authorized to call +14155550199. Perhaps you need to enable some international permissions.'],
    ])('when Twilio refuses the number with %i, then dial_failed with Twilio\'s code and message, and no retry', async (code, status, message) => {
      bridge.twilio.callee.refusals.set(CALLEE, { status, code, message });
      const id = await placeCall(bridge);
      const ended = await waitForOutcome(bridge, id);
      expect(ended).toMatchObject({ status: 'ended', outcome: 'dial_failed', error: { code, message } });
      await sleep(1500);
      expect(creates()).toHaveLength(1);
      const job = await bridge.outboundQueue.getJob(`place-${id}`);
      expect(await job?.getState()).toBe('failed');
      expect(job?.attemptsMade).toBe(1);
    });

    it('when Twilio answers 429 and then 500, then the placement is retried with backoff and the call is placed once', async () => {
      bridge.twilio.callee.createInjections.push(
        { kind: 'error', status: 429, code: 20429, message: 'Too Many Requests' },
        { kind: 'error', status: 500, code: 20500, message: 'Internal Server Error' },
      );
      const id = await placeCall(bridge);
      const live = await waitForCall(bridge, id, 'answered after the retries', (v) => v.status === 'in-progress', 15_000);
      const attempts = creates();
      expect(attempts.map((r) => r.answered)).toEqual([429, 500, 201]);
      expect(attempts[1]!.receivedAt - attempts[0]!.receivedAt).toBeGreaterThanOrEqual(500);
      expect(bridge.twilio.callee.placed.size).toBe(1);
      expect(live.call_sid).toBe([...bridge.twilio.callee.placed.keys()][0]);
      // The retry after the 500 first looked for a call that attempt might have created; a 429 creates
      // nothing, so the retry after it did not need to look.
      expect(bridge.twilio.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/Calls.json'))).toHaveLength(1);
    });

    it('when status callbacks arrive late or twice, then the record only moves forward and the outcome stays the first', async () => {
      bridge.twilio.callee.defaultScript = { answer: 'busy' };
      const id = await placeCall(bridge);
      const ended = await waitForOutcome(bridge, id);
      const late = { ...sent('status').find((w) => w.params.CallStatus === 'ringing')!.params, SequenceNumber: '1' };
      const again = { ...late, CallStatus: 'completed', SequenceNumber: '9' };
      for (const p of [late, again]) expect((await postSigned(bridge.url, PUBLIC_URL, `/twilio/outbound/status?o=${id}`, p)).status).toBe(204);
      expect((await getCall(bridge, id)).body).toMatchObject({ status: 'ended', outcome: 'dial_busy', updated_at: expect.any(String) });
      expect((await getCall(bridge, id)).body.ended_at).toBe(ended.ended_at);
    });
  });

  describe('voicemail', () => {
    beforeEach(() => start());

    it('when the mode is hangup and a machine answers, then the bridge hangs up at the machine_start verdict: voicemail_hangup', async () => {
      bridge.twilio.callee.defaultScript = { answer: 'machine' };
      const id = await placeCall(bridge, { voicemail: 'hangup' });
      const ended = await waitForOutcome(bridge, id);
      expect(ended).toMatchObject({ outcome: 'voicemail_hangup', answered_by: 'machine_start' });
      expect(bridge.twilio.callUpdates(ended.call_sid!).map((u) => u.form)).toEqual([{ Status: 'completed' }]);
      const [amd] = sent('amd');
      expect(amd!.url).toBe(`${PUBLIC_URL}/twilio/outbound/amd?o=${id}`);
      expect(amd!.status).toBe(204);
      // The verdict never went to the answer URL: one registration.
      expect(bridge.retell.registrations).toHaveLength(1);
    });

    it('when the mode is hangup and a fax answers, then the bridge hangs up too', async () => {
      bridge.twilio.callee.defaultScript = { answer: 'fax' };
      const id = await placeCall(bridge, { voicemail: 'hangup' });
      expect(await waitForOutcome(bridge, id)).toMatchObject({ outcome: 'voicemail_hangup', answered_by: 'fax' });
    });

    it('when the mode is hangup and a person answers, then nothing is done and the call goes on', async () => {
      bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 800 };
      const id = await placeCall(bridge, { voicemail: 'hangup' });
      const ended = await waitForOutcome(bridge, id);
      expect(ended).toMatchObject({ outcome: 'completed', answered_by: 'human' });
      expect(bridge.twilio.callUpdates()).toHaveLength(0);
    });

    it('when the mode is message, then AMD waits for the beep, the agent listens first, and at machine_end_beep the message is said before hanging up: voicemail_message_left', async () => {
      bridge.twilio.callee.defaultScript = { answer: 'machine' };
      const id = await placeCall(bridge, { voicemail: 'message', voicemail_message: 'Hi, this is Acme & Co. Please call us back.' });
      const ended = await waitForOutcome(bridge, id);
      expect(ended).toMatchObject({ outcome: 'voicemail_message_left', answered_by: 'machine_end_beep' });
      const placed = bridge.twilio.callee.placed.get(ended.call_sid!)!;
      expect(placed.params.get('MachineDetection')).toBe('DetectMessageEnd');
      expect(bridge.retell.registrations[0]!.body.agent_override).toEqual({
        retell_llm: { start_speaker: 'user' },
        conversation_flow: { start_speaker: 'user' },
      });
      expect(bridge.twilio.callUpdates(ended.call_sid!).map((u) => u.form)).toEqual([
        { Twiml: `${XML}<Response><Say>Hi, this is Acme &amp; Co. Please call us back.</Say><Hangup/></Response>` },
      ]);
    });

    it('when the message holds characters XML cannot carry (U+0001, U+000B, U+FFFE), then they are dropped on arrival and at the beep the rest is said: voicemail_message_left', async () => {
      bridge.twilio.callee.defaultScript = { answer: 'machine' };
      const id = await placeCall(bridge, { voicemail: 'message', voicemail_message: 'Hi Ada,\u0001 this is Acme.\u000b Please\ufffe call us back.' });
      const ended = await waitForOutcome(bridge, id);
      expect(ended).toMatchObject({ outcome: 'voicemail_message_left', answered_by: 'machine_end_beep' });
      expect(bridge.twilio.callUpdates(ended.call_sid!).map((u) => u.form)).toEqual([
        { Twiml: `${XML}<Response><Say>Hi Ada, this is Acme. Please call us back.</Say><Hangup/></Response>` },
      ]);
    });

    it('when the mode is message and a person answers, then nothing is said over them and the outcome is completed', async () => {
      bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 800 };
      const id = await placeCall(bridge, { voicemail: 'message', voicemail_message: 'Please call back.' });
      expect(await waitForOutcome(bridge, id)).toMatchObject({ outcome: 'completed', answered_by: 'human' });
      expect(bridge.twilio.callUpdates()).toHaveLength(0);
    });

    it('when the mode is continue (the default) and a machine answers, then the verdict is recorded and the agent carries on', async () => {
      bridge.twilio.callee.defaultScript = { answer: 'machine', hangUpAfterMs: 800 };
      const id = await placeCall(bridge);
      const ended = await waitForOutcome(bridge, id);
      expect(ended).toMatchObject({ voicemail: 'continue', outcome: 'completed', answered_by: 'machine_start' });
      expect(bridge.twilio.callUpdates()).toHaveLength(0);
    });
  });

  describe('cancel', () => {
    const cancel = (id: string) => fetch(`${bridge.url}/calls/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${API_TOKEN}` } });

    it('when a ringing call is canceled, then 202, the worker has Twilio cancel it once, the outcome is canceled and nothing is registered', async () => {
      await start();
      bridge.twilio.callee.defaultScript = { answer: 'unanswered' };
      const id = await placeCall(bridge);
      await waitForCall(bridge, id, 'ringing', (v) => v.status === 'ringing');
      const res = await cancel(id);
      expect(res.status).toBe(202);
      const body = (await res.json()) as { status: string; call_sid: string };
      expect(body).toMatchObject({ status: 'ringing', cancel_requested: true });
      expect(await waitForOutcome(bridge, id, 8000)).toMatchObject({ status: 'ended', outcome: 'canceled' });
      // A repeated DELETE queues nothing more: one cancel reaches Twilio.
      expect([200, 202, 409]).toContain((await cancel(id)).status);
      expect(bridge.twilio.callUpdates(body.call_sid).map((u) => u.form)).toEqual([{ Status: 'canceled' }]);
      await waitFor('Twilio to report the cancel', () => sent('status').some((w) => w.params.CallStatus === 'canceled'));
      expect((await getCall(bridge, id)).body.outcome).toBe('canceled');
      expect(bridge.retell.registrations).toHaveLength(0);
    });

    it('when an answered call is canceled, then 409 and the call goes on', async () => {
      await start();
      const id = await placeCall(bridge);
      await waitForCall(bridge, id, 'answered', (v) => v.status === 'in-progress');
      const res = await cancel(id);
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({ error: 'too_late', call: { status: 'in-progress' } });
      expect(bridge.twilio.callUpdates()).toHaveLength(0);
    });

    it('when a call is canceled while Twilio is still creating it, then 202, and the worker cancels it as soon as it has a CallSid', async () => {
      await start();
      bridge.twilio.callee.defaultScript = { answer: 'human', startDelayMs: 3000 };
      bridge.twilio.callee.createInjections.push({ kind: 'late', ms: 1500 });
      const id = await placeCall(bridge);
      await waitFor('the create request', () => creates().length === 1);
      const res = await cancel(id);
      expect(res.status).toBe(202);
      expect(await res.json()).toMatchObject({ status: 'dialing', cancel_requested: true });
      expect(await waitForOutcome(bridge, id, 8000)).toMatchObject({ outcome: 'canceled' });
      expect(bridge.retell.registrations).toHaveLength(0);
    });
  });

  describe('the outcome webhook', () => {
    let receiver: http.Server;
    let received: Array<{ body: string; signature: string | undefined }>;
    let failFirst: number;

    beforeEach(async () => {
      received = [];
      failFirst = 0;
      receiver = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (failFirst > 0) {
            failFirst -= 1;
            res.writeHead(503).end();
            return;
          }
          received.push({ body, signature: req.headers['x-bridge-signature'] as string | undefined });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      await start({ OUTBOUND_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/calls` });
    });
    afterEach(() => new Promise<void>((r) => receiver.close(() => r())));

    it('when a call goes through its statuses, then each is posted once, signed X-Bridge-Signature with API_TOKEN, the last with the outcome', async () => {
      bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 500 };
      const id = await placeCall(bridge);
      await waitFor('four events', () => received.length >= 4);
      await sleep(500);
      // Deliveries may overtake each other (retries, concurrency): a receiver orders them by occurred_at.
      const events = received
        .map((r) => JSON.parse(r.body) as { event: string; status: string; occurred_at: string; call: { id: string; status: string; outcome?: string } })
        .sort((a, b) => a.occurred_at.localeCompare(b.occurred_at));
      expect(events.map((e) => e.status)).toEqual(['dialing', 'ringing', 'in-progress', 'ended']);
      expect(events.map((e) => e.event)).toEqual(['call_status', 'call_status', 'call_status', 'call_ended']);
      expect(events.every((e) => e.call.id === id)).toBe(true);
      expect(events[3]!.call).toMatchObject({ status: 'ended', outcome: 'completed' });
      for (const r of received) expect(verifyRetellSignature(Buffer.from(r.body), API_TOKEN, r.signature)).toEqual({ ok: true });
      expect(verifyRetellSignature(Buffer.from(received[0]!.body), 'another-token-0123456789', received[0]!.signature)).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('when the receiver answers 503, then the event is retried and delivered once', async () => {
      failFirst = 1;
      bridge.twilio.callee.defaultScript = { answer: 'busy' };
      const id = await placeCall(bridge);
      await waitForOutcome(bridge, id);
      await waitFor('three events, the refused one retried', () => received.length >= 3, 15_000);
      await sleep(300);
      const statuses = received.map((r) => (JSON.parse(r.body) as { status: string }).status);
      expect(statuses.sort()).toEqual(['dialing', 'ended', 'ringing']);
    });
  });
});
