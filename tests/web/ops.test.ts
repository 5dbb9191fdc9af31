import { startBridge, type TestBridge } from '../support/bridge';
import { liveCall, waitFor } from '../support/calls';
import { freePort } from '../support/ports';
import { functionCallBody, postRetell } from '../support/retell-signing';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const ADMIN_PASSWORD = 'admin-password-0123';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('GET /metrics with METRICS_TOKEN', () => {
  let bridge: TestBridge;
  let workerPort: number;
  beforeAll(async () => {
    workerPort = await freePort();
    bridge = await startBridge(
      { METRICS_TOKEN, WORKER_METRICS_PORT: String(workerPort), TRANSFER_DESTINATIONS: '{"sales":"+14155550101"}' },
      { worker: true },
    );
  });
  afterAll(() => bridge.close());

  it.each([
    ['no Authorization header', undefined],
    ['a wrong token', 'Bearer metrics-token-wrong-0123456'],
    ['the token as basic auth', basic('prometheus', METRICS_TOKEN)],
  ])('when the scrape has %s, then it is refused with 401 and a Bearer challenge', async (_what, authorization) => {
    const res = await fetch(`${bridge.url}/metrics`, { headers: authorization ? { authorization } : {} });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(await res.text()).not.toContain('bridge_');
  });

  it('when the scrape carries the bearer token, then the metrics are served', async () => {
    const res = await fetch(`${bridge.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('bridge_redis_up 1');
  });

  it('when the worker serves its metrics, then they want the same token, and time each Twilio REST request', async () => {
    const { callId } = await liveCall(bridge);
    await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
    await bridge.twilio.waitForSuccessfulUpdates(1);
    const url = `http://127.0.0.1:${workerPort}/metrics`;
    await waitFor('the worker metrics server', async () => (await fetch(url).catch(() => undefined)) !== undefined);

    expect((await fetch(url)).status).toBe(401);
    const res = await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^bridge_twilio_request_duration_seconds_count\{resource="Calls",method="POST",code="200"\} 1$/m);
  });
});

describe('Bull Board at /admin/queues', () => {
  it('when ADMIN_PASSWORD is unset, then nothing is mounted there', async () => {
    const bridge = await startBridge();
    try {
      const res = await fetch(`${bridge.url}/admin/queues`, { headers: { authorization: basic('admin', ADMIN_PASSWORD) } });
      expect(res.status).toBe(404);
    } finally {
      await bridge.close();
    }
  });

  describe('with ADMIN_PASSWORD', () => {
    let bridge: TestBridge;
    beforeAll(async () => {
      bridge = await startBridge({ ADMIN_PASSWORD, TRANSFER_DESTINATIONS: '{"sales":"+14155550101"}' }, { worker: true });
    });
    afterAll(() => bridge.close());

    it.each([
      ['/admin/queues', undefined],
      ['/admin/queues', basic('admin', 'not-the-password')],
      ['/admin/queues/api/queues', undefined],
      ['/admin/queues/api/queues/call-actions/some-job/retry', undefined],
    ])('when %s is asked for with %s, then it answers 401 with a Basic challenge', async (path, authorization) => {
      const res = await fetch(`${bridge.url}${path}`, { method: path.endsWith('/retry') ? 'PUT' : 'GET', headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
    });

    it('when the password is right, then the board is served, shows a failed transfer with its reason, and can retry it', async () => {
      const auth = { authorization: basic('ops', ADMIN_PASSWORD) };
      const page = await fetch(`${bridge.url}/admin/queues`, { headers: auth });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);

      // Twilio refuses the transfer for good (404), so the job fails.
      bridge.twilio.injections.push({ kind: 'error', status: 404, code: 20404, message: 'The requested resource was not found' });
      const { callSid, callId } = await liveCall(bridge);
      const answer = await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
      const { job_id: jobId } = (await answer.json()) as { job_id: string };
      await waitFor('the job to fail', async () => (await bridge.queue.getJobState(jobId)) === 'failed');

      const listed = await fetch(`${bridge.url}/admin/queues/api/queues?activeQueue=call-actions&status=failed&page=1&jobsPerPage=50`, { headers: auth });
      expect(listed.status).toBe(200);
      const body = (await listed.json()) as { queues: Array<{ name: string; jobs: Array<{ id: string; failedReason?: string }> }> };
      const queue = body.queues.find((q) => q.name === 'call-actions');
      expect(queue?.jobs.find((j) => j.id === jobId)?.failedReason).toMatch(/20404/);

      const retried = await fetch(`${bridge.url}/admin/queues/api/queues/call-actions/${encodeURIComponent(jobId)}/retry`, { method: 'PUT', headers: auth });
      expect(retried.status).toBe(204);
      await waitFor('the retried job to finish', async () => (await bridge.queue.getJobState(jobId)) === 'completed');
      // A failed action is final, so a retry never moves a caller long after the agent was told it failed;
      // the worker runs the job again and leaves the call alone.
      expect((await bridge.queue.getJob(jobId))?.returnvalue).toBe('superseded');
      expect(bridge.twilio.callUpdates(callSid).map((u) => u.answered)).toEqual([404]);
    });
  });
});
