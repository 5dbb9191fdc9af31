/**
 * Services and processors through the composition root, with no HTTP in between: what the web process
 * and the worker get from `Container`, driven directly, against the real Redis and BullMQ and the fake
 * Twilio and Retell APIs.
 */
import { randomBytes } from 'node:crypto';
import { testContainer, type TestContainer } from './support/container';
import { waitFor } from './support/wait';

const CALLER = '+14155550199';
const BUSINESS = '+14155550100';
const callSid = () => `CA${randomBytes(16).toString('hex')}`;

let t: TestContainer;
beforeEach(async () => {
  t = await testContainer({ TRANSFER_DESTINATIONS: JSON.stringify({ sales: '+14155550101' }) });
});
afterEach(() => t.close());

describe('the container\'s services and processors, without HTTP', () => {
  it('when the answerer is asked for one call three times at once, then Retell registers it once and every answer is the same TwiML', async () => {
    const sid = callSid();
    const call = { callSid: sid, accountSid: t.container.config.twilio.accountSid, from: CALLER, to: BUSINESS, twilioDirection: 'inbound', callerName: undefined };
    const answers = await Promise.all([1, 2, 3].map(() => t.container.answerer.answer(call)));
    expect(t.retell.registrations).toHaveLength(1);
    expect(new Set(answers.map((a) => a.twiml)).size).toBe(1);
    expect(answers[0]!.twiml).toContain(`<Sip>sip:${t.retell.registrations[0]!.callId}@sip.retellai.com;transport=tcp</Sip>`);
    expect(await t.container.calls.get(sid)).toMatchObject({ state: 'registered', callId: t.retell.registrations[0]!.callId });
  });

  it('when a transfer is requested through ActionRequests and the container\'s worker handlers run it, then Twilio receives one redirect', async () => {
    const sid = callSid();
    const call = { callSid: sid, accountSid: t.container.config.twilio.accountSid, from: CALLER, to: BUSINESS, twilioDirection: 'inbound', callerName: undefined };
    await t.container.answerer.answer(call);
    t.twilio.addCall(sid, CALLER, BUSINESS);
    const callId = t.retell.registrations[0]!.callId;
    const transfer = t.container.functions.find((f) => f.name === 'transfer_call')!;

    const outcome = await transfer.run({ call_id: callId }, transfer.args.parse({ destination: 'sales' }));
    expect(outcome).toMatchObject({ outcome: 'queued', jobId: `transfer-${sid}-1` });
    // A repeat (Retell retries a slow function call) is the same action and the same job.
    expect(await transfer.run({ call_id: callId }, transfer.args.parse({ destination: 'sales' }))).toMatchObject({ outcome: 'repeat', jobId: `transfer-${sid}-1` });

    t.startCallActionWorker();
    await waitFor('the transfer to be performed', async () => (await t.container.calls.action(sid))?.status === 'done');
    expect(t.twilio.callUpdates(sid).map((u) => u.form.Twiml)).toEqual([expect.stringContaining('<Number>+14155550101</Number>')]);
    expect((await t.container.calls.get(sid))?.state).toBe('transferred');
  });
});
