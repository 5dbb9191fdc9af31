/**
 * Fault case: a worker process is SIGKILLed while its send_sms request is inside Twilio. The Messages
 * API takes no idempotency key, so whether the text went out is only known at Twilio; the worker that
 * takes the job over must look there (the messages to the number, from the sender, since the request,
 * with the same body) before sending: the caller gets the text once.
 */
import { SmsRepository } from '../../src/features/sms';
import { liveCall } from '../support/calls';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { TAKEOVER_BOUND_MS, useCrashHarness } from './support/crash-harness';
import { waitFor } from './support/ports';

const BUSINESS = '+14155550100';
const CALLER = '+14155550199';
const SMS_ENV = { SMS_TEMPLATES: JSON.stringify({ booking: 'Hi {{name}}, book here: https://example.com/book' }) };

const crash = useCrashHarness(SMS_ENV, { numbers: [BUSINESS], workerEnv: (b) => ({ RETELL_BASE_URL: b.retell.url, ...SMS_ENV }) });

const creates = () => crash.bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'));
const lists = () => crash.bridge.twilio.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/Messages.json'));

async function askForText(): Promise<{ callSid: string; jobId: string }> {
  const { callSid, callId } = await liveCall(crash.bridge);
  const res = await postRetell(crash.bridge.url, '/retell/functions/send_sms', functionCallBody('send_sms', callId, { template: 'booking', variables: { name: 'Dana' } }));
  expect(res.status).toBe(200);
  return { callSid, jobId: `send_sms-${callSid}-1` };
}

describe('when a worker process is SIGKILLed while sending a text', () => {
  it('and Twilio had created the message (answering late), then the survivor finds it and the caller gets one text', async () => {
    crash.bridge.twilio.messages.injections.push({ kind: 'late', ms: 120_000 });
    const first = await crash.startWorker();
    const { callSid, jobId } = await askForText();
    await waitFor('the create request to reach Twilio', () => creates().length === 1, 15_000);
    expect(crash.bridge.twilio.messages.to(CALLER)).toHaveLength(1);

    await first.kill();
    const killedAt = Date.now();
    const second = await crash.startWorker();
    await waitFor('the job to be finished by the survivor', async () => (await crash.bridge.queue.getJob(jobId))?.finishedOn !== undefined, TAKEOVER_BOUND_MS);

    expect(Date.now() - killedAt).toBeLessThan(TAKEOVER_BOUND_MS);
    expect(creates()).toHaveLength(1);
    expect(lists()).toHaveLength(1);
    expect(crash.bridge.twilio.messages.to(CALLER)).toHaveLength(1);
    expect((await crash.bridge.queue.getJob(jobId))?.returnvalue).toBe('found_sent');
    const text = await new SmsRepository(crash.bridge.redis, crash.bridge.config.redis.prefix).get(jobId);
    expect(text).toMatchObject({ callSid, status: 'done', messageSid: crash.bridge.twilio.messages.to(CALLER)[0]!.sid });
    expect(second.alive).toBe(true);
  });

  it('and Twilio had not created it, then the survivor looks, finds nothing, and sends the text once', async () => {
    crash.bridge.twilio.messages.injections.push({ kind: 'hang' });
    const first = await crash.startWorker();
    const { jobId } = await askForText();
    await waitFor('the create request to reach Twilio', () => creates().length === 1, 15_000);
    expect(crash.bridge.twilio.messages.to(CALLER)).toHaveLength(0);

    await first.kill();
    const second = await crash.startWorker();
    await waitFor('the job to be finished by the survivor', async () => (await crash.bridge.queue.getJob(jobId))?.finishedOn !== undefined, TAKEOVER_BOUND_MS);

    expect((await crash.bridge.queue.getJob(jobId))?.returnvalue).toBe('sent');
    expect(creates().map((r) => r.answered ?? null)).toEqual([null, 201]);
    expect(lists()).toHaveLength(1);
    expect(crash.bridge.twilio.messages.to(CALLER).map((m) => m.body)).toEqual(['Hi Dana, book here: https://example.com/book']);
    expect(second.messages()).toContain('text sent');
  });
});
