import { Redis } from 'ioredis';
import { CallRepository } from '../../src/calls/repository';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis';

/** A warm transfer's steps against the real Redis: whichever outcome comes first is the only one. */
describe('CallRepository: a warm transfer and its action', () => {
  let redis: Redis;
  let prefix: string;
  let calls: CallRepository;
  let n = 0;

  beforeEach(() => {
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    prefix = uniquePrefix('warm-transfers');
    calls = new CallRepository(redis, prefix);
  });
  afterEach(async () => {
    redis.disconnect();
    await deletePrefix(prefix);
  });

  /** A live call with a warm transfer claimed and begun, its leg ringing. */
  async function ringing(): Promise<{ callSid: string; id: string }> {
    n += 1;
    const callSid = `CA${n.toString(16).padStart(32, '0')}`;
    const now = new Date().toISOString();
    await calls.adopt({ callSid, accountSid: 'AC1', from: '+14155550199', to: '+14155550100', direction: 'inbound', state: 'in-progress', createdAt: now, updatedAt: now });
    const claim = await calls.claimAction(callSid, { kind: 'warm_transfer', target: '+14155550101', answer: 'Calling sales now.', label: 'sales', summary: 'Ada.' });
    if (claim.kind !== 'created') throw new Error(claim.kind);
    const id = claim.action.jobId;
    await calls.beginWarmTransfer(callSid, { id, target: '+14155550101', label: 'sales', summary: 'Ada.', from: '+14155550199' });
    expect(await calls.linkWarmLeg(id, `CA${'f'.repeat(32)}`)).toBe('linked');
    return { callSid, id };
  }

  it('when the accept key and a failure arrive at once, then exactly one of them decides the transfer', async () => {
    // Two connections, as two web processes would have; the order they are sent in alternates.
    const other = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    const elsewhere = new CallRepository(other, prefix);
    const outcomes = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { callSid, id } = await ringing();
      const accept = () => calls.acceptWarmTransfer(id);
      const fail = () => elsewhere.failWarmTransfer(id, 'no_answer');
      const [accepted, failed] = i % 2 ? await Promise.all([accept(), fail()]) : await Promise.all([fail(), accept()]).then(([f, a]) => [a, f] as const);
      outcomes.add(accepted);
      const transfer = await calls.warmTransfer(callSid);
      if (accepted === 'accepted') {
        expect(failed).toEqual({ failed: false });
        expect(transfer).toMatchObject({ status: 'transfer_accepted' });
        expect(await calls.action(callSid)).toMatchObject({ status: 'queued' });
      } else {
        expect(accepted).toBe('over');
        expect(failed).toEqual({ failed: true, legSid: `CA${'f'.repeat(32)}` });
        expect(transfer).toMatchObject({ status: 'transfer_failed', reason: 'no_answer' });
        expect(await calls.action(callSid)).toMatchObject({ status: 'failed', error: 'warm transfer failed: no_answer' });
      }
    }
    other.disconnect();
    expect([...outcomes].every((o) => o === 'accepted' || o === 'over')).toBe(true);
  });

  it('when two failures arrive, then the first one\'s reason is kept and only it reports the leg to end', async () => {
    const { callSid, id } = await ringing();
    expect(await calls.failWarmTransfer(id, 'voicemail')).toMatchObject({ failed: true });
    expect(await calls.failWarmTransfer(id, 'hung_up')).toEqual({ failed: false });
    expect(await calls.warmTransfer(callSid)).toMatchObject({ reason: 'voicemail' });
  });

  it('when the transfer begins again (a retried job), then it gets what the first attempt wrote, the leg included', async () => {
    const { callSid, id } = await ringing();
    const again = await calls.beginWarmTransfer(callSid, { id, target: '+14155550101', label: 'sales', summary: 'Ada.', from: '+14155550199' });
    expect(again).toMatchObject({ kind: 'exists', transfer: { legSid: `CA${'f'.repeat(32)}`, status: 'transfer_ringing' } });
  });

  it('when another leg reports itself for the transfer, then it is not linked', async () => {
    const { id } = await ringing();
    expect(await calls.linkWarmLeg(id, `CA${'e'.repeat(32)}`)).toBe('other');
  });

  it('when the call ended before the person accepts, then the accept finds the caller gone', async () => {
    const { callSid, id } = await ringing();
    await redis.hset(`${prefix}:call:{${callSid}}`, 'state', 'ended');
    expect(await calls.acceptWarmTransfer(id)).toBe('caller_gone');
  });

  it('when an end_call replaced the transfer, then an accept is refused and the transfer is canceled', async () => {
    const { callSid, id } = await ringing();
    expect(await calls.claimAction(callSid, { kind: 'end_call', target: '', answer: 'Ending the call now.' })).toMatchObject({ kind: 'created' });
    expect(await calls.acceptWarmTransfer(id)).toBe('over');
    expect(await calls.warmTransfer(callSid)).toMatchObject({ status: 'transfer_failed', reason: 'canceled' });
  });

  it('when a transfer begins after an end_call replaced its action, then it is superseded and nothing is written', async () => {
    n += 1;
    const callSid = `CA${n.toString(16).padStart(32, '0')}`;
    const now = new Date().toISOString();
    await calls.adopt({ callSid, accountSid: 'AC1', from: '+1', to: '+2', direction: 'inbound', state: 'in-progress', createdAt: now, updatedAt: now });
    const claim = await calls.claimAction(callSid, { kind: 'warm_transfer', target: '+14155550101', answer: 'x' });
    await calls.claimAction(callSid, { kind: 'end_call', target: '', answer: 'y' });
    const id = claim.kind === 'created' ? claim.action.jobId : '';
    expect(await calls.beginWarmTransfer(callSid, { id, target: '+14155550101', label: 'sales', summary: 'Ada.', from: '+1' })).toEqual({ kind: 'superseded' });
    expect(await calls.warmTransfer(callSid)).toBeNull();
  });
});

/** The voice webhook's answer and the call's first event, stored in one script against the real Redis. */
describe('CallRepository: an answer stored with its event', () => {
  let redis: Redis;
  let prefix: string;
  let calls: CallRepository;
  const stream = () => `${prefix}:events:stream`;
  const entry = (callSid: string) => ({ stream: stream(), maxLength: 1000, entry: JSON.stringify({ type: 'call.started', data: { call_sid: callSid } }) });

  beforeEach(() => {
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    prefix = uniquePrefix('answer-event');
    calls = new CallRepository(redis, prefix);
  });
  afterEach(async () => {
    redis.disconnect();
    await deletePrefix(prefix);
  });

  const claim = (callSid: string, owner: string, leaseMs = 5000) => calls.claimAnswer(callSid, owner, leaseMs, { callSid, state: 'registering', createdAt: new Date().toISOString() });

  it('when the claim is still held, then the answer is stored and the entry appended by the same script', async () => {
    const callSid = `CA${'a'.repeat(32)}`;
    expect(await claim(callSid, 'owner-1')).toEqual({ kind: 'claimed' });
    const stored = await calls.completeAnswer(callSid, 'owner-1', { twiml: '<Response/>', state: 'registered', callId: 'call_1' }, entry(callSid));
    expect(stored).toEqual({ kind: 'ok', appended: true });
    expect(await calls.storedAnswer(callSid)).toBe('<Response/>');
    const entries = await redis.xrange(stream(), '-', '+');
    expect(entries.map(([, fields]) => JSON.parse(fields[1]!).data.call_sid)).toEqual([callSid]);
  });

  it('when the claim was lost to another request, then nothing is stored for the orphan and no entry is appended', async () => {
    const callSid = `CA${'b'.repeat(32)}`;
    expect(await claim(callSid, 'owner-1', 1)).toEqual({ kind: 'claimed' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await claim(callSid, 'owner-2')).toEqual({ kind: 'claimed' });
    const stored = await calls.completeAnswer(callSid, 'owner-1', { twiml: '<Orphan/>', state: 'registered', callId: 'call_orphan' }, entry(callSid));
    expect(stored).toEqual({ kind: 'lost', twiml: undefined });
    expect(await redis.exists(stream())).toBe(0);
    expect(await calls.storedAnswer(callSid)).toBeUndefined();
  });

  it('when no entry is given, then the answer is stored alone', async () => {
    const callSid = `CA${'c'.repeat(32)}`;
    await claim(callSid, 'owner-1');
    expect(await calls.completeAnswer(callSid, 'owner-1', { twiml: '<Response/>', state: 'registered' })).toEqual({ kind: 'ok', appended: false });
    expect(await redis.exists(stream())).toBe(0);
  });
});
