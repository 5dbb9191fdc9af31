/**
 * Fault case 3: a worker process is SIGKILLed while its jobs are inside Twilio requests (an OOM kill,
 * a lost dyno). Its jobs stay active with locks nobody renews; another worker process finds them
 * stalled, takes them over and completes each exactly once: the killed worker's requests were never
 * answered, so the call is redirected once, by the survivor.
 */
import { queueTransfer, successfulUpdatesPerCall, TRANSFER_ENV, waitForJobs, type QueuedTransfer } from './support/call-actions';
import { TAKEOVER_BOUND_MS, useCrashHarness } from './support/crash-harness';
import { waitFor } from './support/ports';

const crash = useCrashHarness(TRANSFER_ENV);
const startWorker = (concurrency: number) => crash.startWorker({ concurrency });

describe.each([
  ['one job', 1, 1],
  ['ten jobs (WORKER_CONCURRENCY 10)', 10, 10],
])('when a worker process is SIGKILLed with %s inside Twilio requests', (_what, jobs, concurrency) => {
  it('then another worker process completes every job exactly once, and each call is transferred', async () => {
    const first = await startWorker(concurrency);
    // The killed worker's requests reach Twilio and are never answered.
    for (let i = 0; i < jobs; i++) crash.bridge.twilio.injections.push({ kind: 'hang' });
    const queued: QueuedTransfer[] = [];
    for (let i = 0; i < jobs; i++) queued.push(await queueTransfer(crash.bridge));
    await waitFor('every job to be inside a Twilio request', () => crash.bridge.twilio.callUpdates().length === jobs, 15_000);

    await first.kill();
    const killedAt = Date.now();
    const second = await startWorker(concurrency);
    await waitForJobs(crash.bridge, queued.map((q) => q.jobId), 'completed', TAKEOVER_BOUND_MS);
    expect(Date.now() - killedAt).toBeLessThan(TAKEOVER_BOUND_MS);

    const sids = queued.map((q) => q.callSid);
    expect(successfulUpdatesPerCall(crash.bridge, sids)).toEqual(Object.fromEntries(sids.map((s) => [s, 1])));
    // One unanswered request from the killed worker and one from the survivor per call; nothing more.
    expect(crash.bridge.twilio.callUpdates()).toHaveLength(2 * jobs);
    for (const q of queued) {
      expect((await crash.bridge.queue.getJob(q.jobId))?.returnvalue).toBe('done');
      expect(await crash.bridge.calls.get(q.callSid)).toMatchObject({ state: 'transferred' });
      expect(await crash.bridge.calls.action(q.callSid)).toMatchObject({ jobId: q.jobId, status: 'done' });
    }
    expect(second.messages()).toContain('transfer performed');
    expect(second.alive).toBe(true);
  });
});
