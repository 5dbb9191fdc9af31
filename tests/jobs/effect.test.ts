/**
 * The exactly-once runner on its own: a real call record in Redis as its ledger (CallRepository), the real
 * Twilio client against the fake Twilio, scripted to perform and answer late, refuse, hang, or fail with
 * a 5xx. Each test runs the attempts BullMQ would run, one after another, and counts what reached Twilio.
 */
import { Redis } from 'ioredis';
import { CallRepository } from '../../src/calls/repository';
import { attemptOf, RetryEffect, runEffect, type Attempt, type Effect, type EffectOutcome } from '../../src/jobs/effect';
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';
import { lookForEffect } from '../../src/features/actions/evidence';
import { createTwilioClient } from '../../src/twilio/client';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis';
import { ACCOUNT_SID, AUTH_TOKEN } from '../support/twilio-signing';

const CALL_SID = `CA${'e'.repeat(32)}`;
const HANGUP = { status: 'completed' as const };

let redis: Redis;
let prefix: string;
let twilioApi: FakeTwilioApi;
let calls: CallRepository;

beforeEach(async () => {
  prefix = uniquePrefix('effect');
  redis = new Redis(TEST_REDIS_URL);
  twilioApi = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
  twilioApi.addCall(CALL_SID);
  calls = new CallRepository(redis, prefix);
  const now = new Date().toISOString();
  await calls.adopt({ callSid: CALL_SID, accountSid: ACCOUNT_SID, from: '+14155550199', to: '+14155550100', direction: 'inbound', state: 'registered', createdAt: now, updatedAt: now });
});
afterEach(async () => {
  redis.disconnect();
  await twilioApi.stop();
  await deletePrefix(prefix);
});

const SALES = '+14155550101';
const TRANSFER_TWIML = `<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Number>${SALES}</Number></Dial></Response>`;

/** An end_call (or a cold transfer) on the call record, run through the runner against the fake Twilio. */
async function hangUpEffect(deadlineMs?: number, kind: 'end_call' | 'transfer' = 'end_call'): Promise<{ effect: Effect<unknown>; jobId: string }> {
  const claim = await calls.claimAction(CALL_SID, { kind, target: kind === 'transfer' ? SALES : '', answer: 'Now.' });
  if (claim.kind !== 'created') throw new Error(`no action: ${claim.kind}`);
  const jobId = claim.action.jobId;
  const twilio = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: twilioApi.url });
  const effect: Effect<unknown> = {
    ledger: calls.actionLedger(CALL_SID, jobId, kind === 'transfer' ? { done: 'transferred', endedAs: 'failed' } : { done: 'ended', endedAs: 'done' }),
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
    send: () => twilio.calls(CALL_SID).update(kind === 'transfer' ? { twiml: TRANSFER_TWIML } : HANGUP),
    look: async (since) => {
      const found = await lookForEffect(twilio, CALL_SID, kind === 'transfer' ? { kind, target: SALES, since } : { kind, since });
      return found === 'performed' ? { found: 'performed' } : found === 'call_ended' ? { found: 'gone' } : { found: 'not_performed' };
    },
  };
  return { effect, jobId };
}

/** Runs attempts as BullMQ would (up to `attempts`, a retry after each RetryEffect) and returns how it ended. */
async function attempts(effect: Effect<unknown>, attempts: number): Promise<{ outcome: EffectOutcome<unknown>; ran: number }> {
  for (let n = 1; ; n++) {
    const attempt: Attempt = { number: n, attempts, takeovers: 0, nextBackoffMs: 100 };
    try {
      return { outcome: await runEffect(effect, attempt), ran: n };
    } catch (err) {
      if (!(err instanceof RetryEffect) || n >= attempts) throw err;
    }
  }
}

const updates = () => twilioApi.callUpdates(CALL_SID);
const looks = () => twilioApi.requests.filter((r) => r.method === 'GET');

describe('the exactly-once runner', () => {
  it('when Twilio answers at once, then one request, settled done, and the call record moves on', async () => {
    const { effect } = await hangUpEffect();
    const { outcome, ran } = await attempts(effect, 6);
    expect(outcome.kind).toBe('sent');
    expect(ran).toBe(1);
    expect(updates()).toHaveLength(1);
    expect(looks()).toHaveLength(0);
    expect(await calls.action(CALL_SID)).toMatchObject({ status: 'done' });
    expect((await calls.get(CALL_SID))?.state).toBe('ended');
  });

  it('when Twilio performs a transfer but answers after the request timeout, then the retry looks, finds the leg to the person, and sends nothing again', async () => {
    twilioApi.injections.push({ kind: 'late', ms: 4500 });
    const { effect } = await hangUpEffect(undefined, 'transfer');
    const { outcome, ran } = await attempts(effect, 6);
    expect(outcome.kind).toBe('found');
    expect(ran).toBe(2);
    expect(updates()).toHaveLength(1);
    expect(looks().length).toBeGreaterThanOrEqual(1);
    expect(await calls.action(CALL_SID)).toMatchObject({ status: 'done' });
    expect((await calls.get(CALL_SID))?.state).toBe('transferred');
    expect(twilioApi.children(CALL_SID).filter((c) => c.to === SALES)).toHaveLength(1);
  });

  it('when Twilio performs a hang-up but answers late, then the retry sees the call over and counts the hang-up done', async () => {
    twilioApi.injections.push({ kind: 'late', ms: 4500 });
    const { effect } = await hangUpEffect();
    const { outcome } = await attempts(effect, 6);
    expect(outcome.kind).toBe('gone');
    expect(updates()).toHaveLength(1);
    expect(await calls.action(CALL_SID)).toMatchObject({ status: 'done' });
  });

  it('when Twilio answers 500 without performing it, then the retry looks, finds nothing, and sends it once more', async () => {
    twilioApi.injections.push({ kind: 'error', status: 500, code: 20500 });
    const { effect } = await hangUpEffect();
    const { outcome, ran } = await attempts(effect, 6);
    expect(outcome.kind).toBe('sent');
    expect(ran).toBe(2);
    expect(updates().map((u) => u.answered)).toEqual([500, 200]);
    expect(looks().length).toBeGreaterThanOrEqual(1);
  });

  it('when Twilio answers 429, then nothing was performed: the retry sends again without looking', async () => {
    twilioApi.injections.push({ kind: 'error', status: 429, code: 20429 });
    const { effect } = await hangUpEffect();
    const { outcome } = await attempts(effect, 6);
    expect(outcome.kind).toBe('sent');
    expect(updates().map((u) => u.answered)).toEqual([429, 200]);
    expect(looks()).toHaveLength(0);
  });

  it('when Twilio refuses with a final 4xx, then one request and the effect fails at once, without a retry', async () => {
    twilioApi.injections.push({ kind: 'error', status: 400, code: 21201 });
    const { effect } = await hangUpEffect();
    const { outcome, ran } = await attempts(effect, 6);
    expect(outcome).toMatchObject({ kind: 'failed', reason: expect.stringContaining('HTTP 400 code 21201') });
    expect(ran).toBe(1);
    expect(updates()).toHaveLength(1);
    expect(await calls.action(CALL_SID)).toMatchObject({ status: 'failed', error: expect.stringContaining('21201') });
  });

  it('when Twilio takes every request and never answers, then the effect gives up within its deadline, having looked before each resend', async () => {
    for (let i = 0; i < 10; i++) twilioApi.injections.push({ kind: 'hang' });
    const { effect } = await hangUpEffect(3000);
    const { outcome } = await attempts(effect, 6);
    expect(outcome).toMatchObject({ kind: 'failed', reason: expect.stringContaining('gave up after 3 s') });
    expect(looks().length).toBeGreaterThanOrEqual(updates().length - 1);
    expect(await calls.action(CALL_SID)).toMatchObject({ status: 'failed' });
  });

  it('when the call has ended (21220), then the effect settles as its owner says a call ending means (a hang-up: done)', async () => {
    twilioApi.calls.get(CALL_SID)!.status = 'completed';
    const { effect } = await hangUpEffect();
    const { outcome } = await attempts(effect, 6);
    expect(outcome.kind).toBe('gone');
    expect(await calls.action(CALL_SID)).toMatchObject({ status: 'done' });
  });

  it('when another action replaced it before the request, then nothing is sent', async () => {
    const claim = await calls.claimAction(CALL_SID, { kind: 'transfer', target: '+14155550101', answer: 'Transferring.' });
    if (claim.kind !== 'created') throw new Error('no action');
    // An end_call replaces the transfer no request was sent for.
    await calls.claimAction(CALL_SID, { kind: 'end_call', target: '', answer: 'Ending the call now.' });
    const twilio = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: twilioApi.url });
    const outcome = await runEffect(
      {
        ledger: calls.actionLedger(CALL_SID, claim.action.jobId, { done: 'transferred', endedAs: 'failed' }),
        send: () => twilio.calls(CALL_SID).update({ twiml: '<Response/>' }),
        look: async () => ({ found: 'not_performed' }),
      },
      attemptOf({ attemptsMade: 0, opts: { attempts: 6 }, stalledCounter: 0 } as never),
    );
    expect(outcome.kind).toBe('superseded');
    expect(updates()).toHaveLength(0);
  });
});
