/**
 * send_sms end to end against the fake Twilio's Messages resource, with the real worker: a template with
 * the agent's variables to the other party, sent once however often and however concurrently it is
 * asked for, every refusal answered 422 up front with nothing sent, and Twilio's status callbacks turned
 * into sms.* events.
 */
import { SmsRepository } from '../../../src/features/sms';
import { PUBLIC_URL, startBridge, type TestBridge } from '../../support/bridge';
import { liveCall } from '../../support/calls';
import { eventsOf, EVENTS_ENV } from '../../support/events';
import { functionCallBody, postRetell } from '../../support/retell-signing';
import { ACCOUNT_SID, postSigned } from '../../support/twilio-signing';
import { waitFor } from '../../support/wait';

const BUSINESS = '+14155550100';
const CALLER = '+14155550199';
const OFFICE = '+14155550177';
const TEMPLATES = {
  booking: 'Hi {{name}}, book your visit here: https://example.com/book?ref={{ref}}',
  directions: 'We are at 1 Main St. Reply STOP to stop texts.',
  menu: '{{a}} {{b}} {{c}} {{d}}',
};

describe('send_sms', () => {
  let bridge: TestBridge;
  afterEach(() => bridge?.close());

  async function start(env: Record<string, string> = {}) {
    bridge = await startBridge({ ...EVENTS_ENV, SMS_TEMPLATES: JSON.stringify(TEMPLATES), SMS_ALLOWLIST: '+1415555017*', ...env }, { worker: true });
    bridge.twilio.addNumber(BUSINESS);
    bridge.twilio.messages.stepMs = 10;
    return liveCall(bridge);
  }

  const send = (callId: string, args: Record<string, unknown>, path = '/retell/functions/send_sms') => postRetell(bridge.url, path, functionCallBody('send_sms', callId, args));
  const creates = () => bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'));
  const texts = () => new SmsRepository(bridge.redis, bridge.config.redis.prefix);
  const booking = { template: 'booking', variables: { name: 'Dana', ref: 'A1' } };

  it('when the agent sends a template, then the worker texts the caller once from the number of the call, and sms.sent then sms.delivered follow', async () => {
    const { callSid, callId } = await start();
    const res = await send(callId, booking);
    expect(res.status).toBe(200);
    const id = `send_sms-${callSid}-1`;
    expect(await res.json()).toEqual({ status: 'queued', result: 'Sending the text now.', job_id: id });

    const text = await waitFor('the text to be delivered', async () => {
      const m = await texts().get(id);
      return m?.twilioStatus === 'delivered' && m;
    });
    expect(creates().map((r) => r.form)).toEqual([
      { To: CALLER, From: BUSINESS, Body: 'Hi Dana, book your visit here: https://example.com/book?ref=A1', StatusCallback: `${PUBLIC_URL}/twilio/sms/status?m=${id}` },
    ]);
    const [message] = bridge.twilio.messages.to(CALLER);
    expect(text).toMatchObject({ status: 'done', messageSid: message!.sid, template: 'booking', segments: 1, encoding: 'GSM-7' });
    const data = { message_sid: message!.sid, to: CALLER, template: 'booking', call_sid: callSid };
    expect((await eventsOf(bridge, 'sms.sent')).map((e) => e.data)).toEqual([data]);
    expect((await eventsOf(bridge, 'sms.delivered')).map((e) => e.data)).toEqual([data]);
    // Every status callback was signed and answered.
    expect(bridge.twilio.callee.webhooks.filter((w) => w.kind === 'message').map((w) => [w.params.MessageStatus, w.status])).toEqual([
      ['queued', 204],
      ['sending', 204],
      ['sent', 204],
      ['delivered', 204],
    ]);
  });

  it('when the same text is asked for five times at once and once more after, then one message is sent and every answer names the same job', async () => {
    const { callSid, callId } = await start();
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => send(callId, booking, i % 2 ? '/retell/functions' : '/retell/functions/send_sms')));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const bodies = await Promise.all(answers.map((a) => a.json() as Promise<{ job_id: string }>));
    expect(new Set(bodies.map((b) => b.job_id))).toEqual(new Set([`send_sms-${callSid}-1`]));
    await waitFor('the text to be sent', async () => (await texts().get(`send_sms-${callSid}-1`))?.status === 'done');
    const again = await send(callId, booking);
    expect(await again.json()).toMatchObject({ status: 'done', result: 'That text has been sent.' });
    await new Promise((r) => setTimeout(r, 200));
    expect(creates()).toHaveLength(1);
    expect(bridge.twilio.messages.to(CALLER)).toHaveLength(1);
  });

  it('when another text (other variables) is asked for on the same call, then it is a second message', async () => {
    const { callSid, callId } = await start();
    await send(callId, booking);
    await send(callId, { template: 'booking', variables: { name: 'Dana', ref: 'B2' } });
    await waitFor('both texts to be sent', async () => (await texts().ofCall(callSid)).every((m) => m.status === 'done') && creates().length === 2);
    expect(bridge.twilio.messages.to(CALLER).map((m) => m.body)).toEqual([
      'Hi Dana, book your visit here: https://example.com/book?ref=A1',
      'Hi Dana, book your visit here: https://example.com/book?ref=B2',
    ]);
  });

  it('when `to` names a number on SMS_ALLOWLIST the way people write it, then that number is texted', async () => {
    const { callSid, callId } = await start();
    expect((await send(callId, { template: 'directions', to: '+1 (415) 555-0177' })).status).toBe(200);
    await waitFor('the text to be sent', async () => (await texts().get(`send_sms-${callSid}-1`))?.status === 'done');
    expect(creates()[0]!.form).toMatchObject({ To: OFFICE, From: BUSINESS });
  });

  it('when the variables hold invisible formatting characters, then they are cleaned out of the text', async () => {
    const { callSid, callId } = await start();
    await send(callId, { template: 'booking', variables: { name: '  Da\u200Bna\u202E ', ref: 'A1' } });
    await waitFor('the text to be sent', async () => (await texts().get(`send_sms-${callSid}-1`))?.status === 'done');
    expect(creates()[0]!.form.Body).toBe('Hi Dana, book your visit here: https://example.com/book?ref=A1');
  });

  it.each([
    ['an unknown template', { template: 'refund' }, "I can't send that text. The texts I can send are: booking, directions, menu."],
    ['a number that is not allowed', { template: 'directions', to: '+14155550123' }, "I can only text the caller's own number, not +14155550123."],
    ['something that is not a number', { template: 'directions', to: 'my cell' }, 'my cell is not a phone number I can text.'],
    ['a control character in a variable', { template: 'booking', variables: { name: 'Dana\u0007', ref: 'A1' } }, 'The variable name contains control characters or other characters a text cannot carry; give it as plain text on one line.'],
    ['a line break in a variable', { template: 'booking', variables: { name: 'Dana\nCall me at', ref: 'A1' } }, 'The variable name contains control characters or other characters a text cannot carry; give it as plain text on one line.'],
    ['a lone surrogate in a variable', { template: 'booking', variables: { name: 'Dana \ud83d', ref: 'A1' } }, 'The variable name contains control characters or other characters a text cannot carry; give it as plain text on one line.'],
    ['an oversize variable', { template: 'booking', variables: { name: 'x'.repeat(201), ref: 'A1' } }, 'The variable name is too long: at most 200 characters.'],
    ['a variable that is an object', { template: 'booking', variables: { name: { first: 'Dana' }, ref: 'A1' } }, 'The variable name must be text, not an object.'],
    ['a missing variable', { template: 'booking', variables: { name: 'Dana' } }, 'The text booking needs: ref. Ask the caller for it and try again.'],
    // Cyrillic is UCS-2: 4 × 200 + 3 = 803 code units, 12 segments of 67.
    ['a text over ten segments', { template: 'menu', variables: { a: 'ж'.repeat(200), b: 'ж'.repeat(200), c: 'ж'.repeat(200), d: 'ж'.repeat(200) } }, 'That text would take 12 messages; at most 10. Use shorter values.'],
  ])('when the agent asks with %s, then it is answered 422 with a sentence and nothing is queued or sent', async (_what, args, sentence) => {
    const { callSid, callId } = await start();
    const res = await send(callId, args);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ status: 'not_allowed', result: sentence });
    expect(await texts().ofCall(callSid)).toEqual([]);
    expect(await bridge.queue.getJobCounts()).toMatchObject({ waiting: 0, active: 0, completed: 0 });
    expect(creates()).toEqual([]);
  });

  it('when the variables make a text of exactly ten segments, then it is sent', async () => {
    const { callSid, callId } = await start();
    // GSM-7: 4 × 200 € (two septets each) + 3 spaces = 1603 septets: 11 segments; 4 × 190 € + 3 = 1523: 10.
    const res = await send(callId, { template: 'menu', variables: { a: '€'.repeat(190), b: '€'.repeat(190), c: '€'.repeat(190), d: '€'.repeat(190) } });
    expect(res.status).toBe(200);
    await waitFor('the text to be sent', async () => (await texts().get(`send_sms-${callSid}-1`))?.status === 'done');
    expect(await texts().get(`send_sms-${callSid}-1`)).toMatchObject({ segments: 10, encoding: 'GSM-7' });
    const over = await send(callId, { template: 'menu', variables: { a: '€'.repeat(200), b: '€'.repeat(200), c: '€'.repeat(200), d: '€'.repeat(200) } });
    expect(await over.json()).toMatchObject({ result: 'That text would take 11 messages; at most 10. Use shorter values.' });
  });

  it('when the caller\'s number is withheld, then send_sms is answered 422 and nothing is sent', async () => {
    bridge = await startBridge({ SMS_TEMPLATES: JSON.stringify(TEMPLATES) }, { worker: true });
    const { callId } = await liveCall(bridge, { From: 'Anonymous', Caller: 'Anonymous' });
    const res = await send(callId, { template: 'directions' });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ result: "I can't text this caller: their number is withheld." });
    expect(creates()).toEqual([]);
  });

  it('when TWILIO_MESSAGING_SERVICE_SID is set, then the text goes through the service', async () => {
    const service = `MG${'ab'.repeat(16)}`;
    const { callSid, callId } = await start({ TWILIO_MESSAGING_SERVICE_SID: service });
    await send(callId, { template: 'directions' });
    await waitFor('the text to be delivered', async () => (await texts().get(`send_sms-${callSid}-1`))?.twilioStatus === 'delivered');
    expect(creates()[0]!.form).toEqual({ To: CALLER, MessagingServiceSid: service, Body: TEMPLATES.directions, StatusCallback: expect.any(String) });
  });

  it('when Twilio refuses the text (the caller had texted STOP), then sms.failed carries Twilio\'s code and the agent is told', async () => {
    const { callSid, callId } = await start();
    bridge.twilio.messages.optedOut.add(CALLER);
    await send(callId, { template: 'directions' });
    const update = await waitFor('the agent to be told', () => bridge.retell.liveUpdates[0]);
    expect(update.body).toMatchObject({ call_control: { additional_context: expect.stringContaining('The text message (directions) could not be sent.') } });
    expect(await texts().get(`send_sms-${callSid}-1`)).toMatchObject({ status: 'failed', error: expect.stringContaining('21610') });
    expect((await eventsOf(bridge, 'sms.failed')).map((e) => e.data)).toEqual([{ message_sid: '', to: CALLER, template: 'directions', call_sid: callSid, error_code: '21610' }]);
  });

  it('when the text is undelivered, then its status callback becomes sms.failed with the error code', async () => {
    const { callSid, callId } = await start();
    bridge.twilio.messages.outcomes.set(CALLER, { status: 'undelivered', errorCode: 30003 });
    await send(callId, { template: 'directions' });
    const [failed] = await waitFor('sms.failed', async () => {
      const events = await eventsOf(bridge, 'sms.failed');
      return events.length > 0 && events;
    });
    expect(failed!.data).toEqual({ message_sid: bridge.twilio.messages.to(CALLER)[0]!.sid, to: CALLER, template: 'directions', call_sid: callSid, error_code: '30003' });
    expect(await texts().get(`send_sms-${callSid}-1`)).toMatchObject({ status: 'done', twilioStatus: 'undelivered', errorCode: '30003' });
  });

  it('when Twilio creates the text but its answer never comes, then the next attempt finds it and sends nothing again', async () => {
    const { callSid, callId } = await start();
    bridge.twilio.messages.injections.push({ kind: 'late', ms: 6000 });
    await send(callId, booking);
    await waitFor('the text to be settled', async () => (await texts().get(`send_sms-${callSid}-1`))?.status === 'done', 15_000);
    expect(creates()).toHaveLength(1);
    expect(bridge.twilio.messages.to(CALLER)).toHaveLength(1);
    // The retry either looked and found the text, or found it settled by the text's own status callback,
    // which Twilio sends meanwhile: either way it sent nothing again.
    const job = await waitFor('the job to finish', async () => {
      const j = await bridge.queue.getJob(`send_sms-${callSid}-1`);
      return j?.finishedOn !== undefined && j;
    });
    expect(['found_sent', 'already_sent']).toContain(job.returnvalue);
    expect((await eventsOf(bridge, 'sms.sent')).map((e) => e.data)).toEqual([{ message_sid: bridge.twilio.messages.to(CALLER)[0]!.sid, to: CALLER, template: 'booking', call_sid: callSid }]);
  });

  it('when ten texts have been sent on a call, then an eleventh is refused', async () => {
    const { callId } = await start();
    for (let i = 0; i < 10; i++) expect((await send(callId, { template: 'booking', variables: { name: 'Dana', ref: `R${i}` } })).status).toBe(200);
    const res = await send(callId, { template: 'booking', variables: { name: 'Dana', ref: 'R10' } });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ result: 'No more texts can be sent on this call.' });
  });

  it.each([
    ['unsigned', `send_sms-CA${'0'.repeat(32)}-1`, null, 403],
    ['for something that is not a text id', 'warm_transfer-1', undefined, 400],
  ])('when a text status callback is %s, then it is refused', async (_what, id, signature, status) => {
    await start();
    const params = { AccountSid: ACCOUNT_SID, MessageSid: `SM${'1'.repeat(32)}`, MessageStatus: 'delivered' };
    const res = await postSigned(bridge.url, PUBLIC_URL, `/twilio/sms/status?m=${id}`, params, signature === null ? { signature: null } : {});
    expect(res.status).toBe(status);
    expect(await eventsOf(bridge, 'sms.delivered')).toEqual([]);
  });
});
