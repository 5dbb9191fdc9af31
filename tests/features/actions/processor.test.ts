import type { EndCallJob } from '../../../src/features/actions';
import { startBridge, type TestBridge } from '../../support/bridge';
import { liveCall, waitFor } from '../../support/calls';
import { functionCallBody, postRetell } from '../../support/retell-signing';

const ENV = { TRANSFER_DESTINATIONS: JSON.stringify({ sales: '+14155550101' }) };

async function transfer(bridge: TestBridge): Promise<{ callSid: string; jobId: string }> {
  const { callSid, callId } = await liveCall(bridge);
  const res = await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
  expect(res.status).toBe(200);
  const { job_id: jobId } = (await res.json()) as { job_id: string };
  return { callSid, jobId };
}

async function finished(bridge: TestBridge, jobId: string) {
  const state = await waitFor(`job ${jobId} to finish`, async () => {
    const s = await bridge.queue.getJobState(jobId);
    return (s === 'completed' || s === 'failed') && s;
  }, 25_000);
  // Read after the state settled: a Job fetched earlier would hold its fields from before the move.
  return { job: (await bridge.queue.getJob(jobId))!, state };
}

describe('the call-action worker against the Twilio REST API', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge(ENV, { worker: true });
  });
  afterEach(() => bridge.close());

  it('when Twilio answers 429, then 503, then 200, then the transfer is retried with backoff and completes once', async () => {
    bridge.twilio.injections.push(
      { kind: 'error', status: 429, code: 20429, message: 'Too Many Requests' },
      { kind: 'error', status: 503, code: 20500, message: 'Service Unavailable' },
    );
    const { callSid, jobId } = await transfer(bridge);
    const { job, state } = await finished(bridge, jobId);

    expect(state).toBe('completed');
    expect(job.returnvalue).toBe('done');
    expect(job.attemptsMade).toBe(3);
    const updates = bridge.twilio.callUpdates(callSid);
    expect(updates.map((u) => u.answered)).toEqual([429, 503, 200]);
    // Exponential backoff: the second retry waits longer than the first (jitter only shortens delays by up to half).
    const gaps = [updates[1]!.receivedAt - updates[0]!.receivedAt, updates[2]!.receivedAt - updates[1]!.receivedAt];
    expect(gaps[0]).toBeGreaterThanOrEqual(140);
    expect(gaps[1]).toBeGreaterThanOrEqual(290);
    expect((await bridge.calls.get(callSid))?.state).toBe('transferred');
    const metrics = await bridge.worker!.metrics.prometheus.getSingleMetricAsString('bridge_jobs_total');
    expect(metrics).toContain('bridge_jobs_total{name="transfer",result="retried"} 2');
    expect(metrics).toContain('bridge_jobs_total{name="transfer",result="completed"} 1');
  });

  it('when the call is no longer in progress (21220), then the transfer fails at once, is not retried, and the record says why', async () => {
    const { callSid, callId } = await liveCall(bridge);
    bridge.twilio.calls.get(callSid)!.status = 'completed';
    const res = await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
    const { job_id: jobId } = (await res.json()) as { job_id: string };
    const { job, state } = await finished(bridge, jobId);

    expect(state).toBe('failed');
    expect(job.failedReason).toMatch(/call not in progress/);
    // 'failed' (not 'delayed') with attempts to spare means BullMQ will not run it again.
    expect(job.attemptsMade).toBe(1);
    expect(job.opts.attempts).toBeGreaterThan(1);
    expect(bridge.twilio.callUpdates(callSid)).toHaveLength(1);
    const record = await bridge.calls.get(callSid);
    expect(record?.state).toBe('ended');
    expect(JSON.parse(record!.action!)).toMatchObject({ status: 'failed', error: 'call not in progress' });
  });

  it('when the caller already hung up before end_call ran, then the hang-up counts as done', async () => {
    const { callSid, callId } = await liveCall(bridge);
    bridge.twilio.calls.get(callSid)!.status = 'completed';
    const res = await postRetell(bridge.url, '/retell/functions/end_call', functionCallBody('end_call', callId, {}));
    const { job_id: jobId } = (await res.json()) as { job_id: string };
    const { job, state } = await finished(bridge, jobId);
    expect(state).toBe('completed');
    expect(job.returnvalue).toBe('call_already_ended');
    expect(bridge.twilio.callUpdates(callSid)).toHaveLength(1);
    expect((await bridge.calls.get(callSid))?.state).toBe('ended');
  });

  it('when Twilio answers another 4xx (404), then it is final: one request, no retry', async () => {
    bridge.twilio.injections.push({ kind: 'error', status: 404, code: 20404, message: 'The requested resource was not found' });
    const { callSid, jobId } = await transfer(bridge);
    const { job, state } = await finished(bridge, jobId);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.opts.attempts).toBeGreaterThan(1);
    expect(bridge.twilio.callUpdates(callSid)).toHaveLength(1);
    const record = await bridge.calls.get(callSid);
    // A failed transfer leaves the agent on the line, so the call goes back to its previous state.
    expect(record?.state).toBe('registered');
    expect(JSON.parse(record!.action!)).toMatchObject({ status: 'failed', error: expect.stringMatching(/HTTP 404 code 20404/) });
  });

  it('when every attempt fails with 5xx, then the job fails after its attempts and a new transfer may be asked for', async () => {
    for (let i = 0; i < 6; i++) bridge.twilio.injections.push({ kind: 'error', status: 500, code: 20500 });
    const { callSid, jobId } = await transfer(bridge);
    const { job, state } = await finished(bridge, jobId);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(6);
    expect(bridge.twilio.callUpdates(callSid)).toHaveLength(6);

    const record = await bridge.calls.get(callSid);
    const res = await postRetell(
      bridge.url,
      '/retell/functions/transfer_call',
      functionCallBody('transfer_call', record!.callId!, { destination: 'sales' }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'queued', job_id: `transfer-${callSid}-2` });
    expect((await finished(bridge, `transfer-${callSid}-2`)).state).toBe('completed');
  }, 60_000);

  it('when a job carries text TwiML cannot hold (queued before messages were cleaned on arrival), then it fails at once, without a request or a retry', async () => {
    const { callSid, callId } = await liveCall(bridge);
    const claim = await bridge.calls.claimAction(callSid, { kind: 'end_call', target: '', answer: 'Ending the call now.' });
    expect(claim.kind).toBe('created');
    const jobId = (claim as { action: { jobId: string } }).action.jobId;
    const data: EndCallJob = { kind: 'end_call', callSid, callId, message: 'Bye\u0000' };
    await bridge.queue.add('end_call', data, { jobId });
    const { job, state } = await finished(bridge, jobId);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(bridge.twilio.callUpdates(callSid)).toHaveLength(0);
    expect(await bridge.calls.action(callSid)).toMatchObject({ status: 'failed', error: expect.stringContaining('could not build TwiML') });
  });
});
