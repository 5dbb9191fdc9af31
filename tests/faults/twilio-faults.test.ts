/**
 * Fault case 4: Twilio's REST API misbehaves while the worker performs transfers: bursts of 429 and
 * 5xx, a request that never gets an answer, and final 4xx refusals. Retryable failures are retried
 * with the queue's backoff until each job completes, with one successful redirect per call, within a
 * bound derived from that policy; a final refusal is sent once and the job fails without a retry.
 */
import { ACTION_DEADLINE_MS } from '../../src/features/actions/processor';
import { CALL_ACTION_JOB_OPTIONS } from '../../src/jobs/queues';
import { TWILIO_REQUEST_TIMEOUT_MS } from '../../src/twilio/client';
import { startBridge, type TestBridge } from '../support/bridge';
import { waitReady } from '../support/redis';
import { functionCallBody, postRetell } from '../support/retell-signing';
import {
  maxBackoffMs,
  queueTransfer,
  queueTransfers,
  successfulUpdatesPerCall,
  TRANSFER_ENV,
  waitForJobs,
  type QueuedTransfer,
} from './support/call-actions';
import { sleep, waitFor } from './support/ports';
import { RedisServer } from './support/redis-server';
import { WorkerProcess } from './support/worker-process';

const CALLS = 20;
/** Slack on top of the policy's own worst case, for a busy two-core machine and BullMQ's polling. */
const SLACK_MS = 10_000;

let redis: RedisServer;
let bridge: TestBridge;
let worker: WorkerProcess;

beforeAll(async () => {
  redis = await RedisServer.start();
  bridge = await startBridge(TRANSFER_ENV, { redisUrl: redis.url });
  await waitReady(bridge.redis);
  worker = await WorkerProcess.forBridge(bridge, { concurrency: CALLS });
});
afterEach(() => {
  // A case that failed half-way must not leave scripted answers for the next one.
  bridge.twilio.injections.length = 0;
});
afterAll(async () => {
  await worker?.dispose();
  await bridge?.close();
  await redis?.dispose();
});

const queueMany = (n: number) => queueTransfers(bridge, n);

describe('when Twilio answers a burst of 429, 500 and 503 to the first requests of 20 transfers', () => {
  it('then every job completes after retries, with one successful redirect per call, within the backoff bound', async () => {
    // 30 refusals for 20 jobs: every job is refused at least once and some twice or more, well short of
    // the six attempts that would fail a job.
    const burst = 30;
    const statuses = [429, 500, 503];
    for (let i = 0; i < burst; i++) bridge.twilio.injections.push({ kind: 'error', status: statuses[i % 3]!, code: statuses[i % 3] === 429 ? 20429 : 20500 });
    const before = bridge.twilio.callUpdates().length;
    const startedAt = Date.now();
    const queued = await queueMany(CALLS);

    // Every retry a job may take, back to back, plus slack: completion inside this proves it retried
    // with the policy's backoff rather than waiting on a stall or a lock.
    const bound = maxBackoffMs() + SLACK_MS;
    await waitForJobs(bridge, queued.map((q) => q.jobId), 'completed', bound);
    expect(Date.now() - startedAt).toBeLessThan(bound);

    const sids = queued.map((q) => q.callSid);
    expect(successfulUpdatesPerCall(bridge, sids)).toEqual(Object.fromEntries(sids.map((s) => [s, 1])));
    const updates = bridge.twilio.callUpdates().slice(before);
    expect(updates.filter((u) => u.answered !== 200)).toHaveLength(burst);
    expect(updates).toHaveLength(burst + CALLS);
    expect(bridge.twilio.injections).toHaveLength(0);
    for (const q of queued) {
      const job = await bridge.queue.getJob(q.jobId);
      expect(job?.returnvalue).toBe('done');
      expect(job?.attemptsMade).toBeLessThan(CALL_ACTION_JOB_OPTIONS.attempts!);
      expect(await bridge.calls.get(q.callSid)).toMatchObject({ state: 'transferred' });
    }
  });
});

describe('when a Twilio request hangs without an answer', () => {
  it('then the client gives up after its request timeout, the job is retried and completes with one redirect', async () => {
    bridge.twilio.injections.push({ kind: 'hang' });
    const startedAt = Date.now();
    const [q] = await queueMany(1);

    const bound = TWILIO_REQUEST_TIMEOUT_MS + maxBackoffMs(1) + SLACK_MS;
    await waitForJobs(bridge, [q!.jobId], 'completed', bound);
    const elapsed = Date.now() - startedAt;
    // It waited for the timeout (no second request while the first could still be answered)...
    expect(elapsed).toBeGreaterThanOrEqual(TWILIO_REQUEST_TIMEOUT_MS);
    expect(elapsed).toBeLessThan(bound);
    const updates = bridge.twilio.callUpdates(q!.callSid);
    expect(updates).toHaveLength(2);
    expect(updates[1]!.receivedAt - updates[0]!.receivedAt).toBeGreaterThanOrEqual(TWILIO_REQUEST_TIMEOUT_MS);
    expect(updates.map((u) => u.answered)).toEqual([undefined, 200]);
    // ...and the retry came from the backoff, not from a stall: the job ran twice, as two attempts.
    expect((await bridge.queue.getJob(q!.jobId))?.attemptsMade).toBe(2);
    expect(await bridge.calls.get(q!.callSid)).toMatchObject({ state: 'transferred' });
  });
});

describe('when Twilio performs a transfer but answers only after 9 s', () => {
  it('then the worker looks at the call before trying again, sees the transfer, and never sends it a second time', async () => {
    bridge.twilio.injections.push({ kind: 'late', ms: 9000 });
    const startedAt = Date.now();
    const [q] = await queueMany(1);

    const bound = TWILIO_REQUEST_TIMEOUT_MS + maxBackoffMs(1) + SLACK_MS;
    await waitForJobs(bridge, [q!.jobId], 'completed', bound);
    expect(Date.now() - startedAt).toBeLessThan(bound);
    expect((await bridge.queue.getJob(q!.jobId))?.returnvalue).toBe('found_done');
    expect(await bridge.calls.get(q!.callSid)).toMatchObject({ state: 'transferred' });
    // Wait out the late answer: still one redirect, and the person is rung once.
    await sleep(9000 - (Date.now() - startedAt) + 500);
    expect(bridge.twilio.callUpdates(q!.callSid)).toHaveLength(1);
    expect(bridge.twilio.children(q!.callSid).filter((c) => c.to === '+14155550101')).toHaveLength(1);
  });
});

describe('when Twilio accepts requests and never answers them', () => {
  it('then the action gives up within its 11 s deadline, says why on the record, and the agent can act again', async () => {
    for (let i = 0; i < 10; i++) bridge.twilio.injections.push({ kind: 'hang' });
    const [q] = await queueMany(1);
    await waitForJobs(bridge, [q!.jobId], 'failed', ACTION_DEADLINE_MS + SLACK_MS);
    const job = await bridge.queue.getJob(q!.jobId);
    const startedAt = Date.parse((await bridge.calls.action(q!.callSid))!.startedAt!);
    expect(job!.finishedOn! - startedAt).toBeLessThanOrEqual(ACTION_DEADLINE_MS + 1500);
    expect(await bridge.calls.action(q!.callSid)).toMatchObject({ status: 'failed', error: expect.stringContaining('gave up after 11 s') });
    const sent = bridge.twilio.callUpdates(q!.callSid).length;
    expect(sent).toBeGreaterThanOrEqual(2);
    expect(sent).toBeLessThanOrEqual(3);
    bridge.twilio.injections.length = 0;

    // The failed transfer no longer blocks the call: the agent can hang up.
    const res = await postRetell(bridge.url, '/retell/functions/end_call', functionCallBody('end_call', q!.callId, {}));
    expect(res.status).toBe(200);
    await waitFor('the hang-up', async () => bridge.twilio.calls.get(q!.callSid)?.status === 'completed');
  });
});

describe.each<[string, number, number, string]>([
  ['400 (21201, invalid parameters)', 400, 21201, 'HTTP 400 code 21201'],
  ['404 (20404, no such call)', 404, 20404, 'HTTP 404 code 20404'],
  ['400 (21220, the call is not in progress)', 400, 21220, 'call not in progress'],
])('when Twilio answers a transfer with a final %s', (_what, status, code, recorded) => {
  it('then the request is sent once, the job fails without a retry, and the failure is on the call record', async () => {
    bridge.twilio.injections.push({ kind: 'error', status, code });
    const [q] = await queueMany(1);

    await waitForJobs(bridge, [q!.jobId], 'failed', 10_000);
    // Longer than the first backoff (and then some), so a retry would have shown up by now.
    await sleep(maxBackoffMs(2) + 500);

    expect(bridge.twilio.callUpdates(q!.callSid).map((u) => u.answered)).toEqual([status]);
    const job = await bridge.queue.getJob(q!.jobId);
    expect(await job?.getState()).toBe('failed');
    expect(job?.attemptsMade).toBe(1);
    const action = await bridge.calls.action(q!.callSid);
    expect(action).toMatchObject({ jobId: q!.jobId, status: 'failed' });
    expect(action?.error).toContain(recorded);
    expect((await bridge.calls.get(q!.callSid))?.state).not.toBe('transferred');
  });
});
