import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startWorker, type RunningWorker } from '../../src/worker/start';
import { loadConfig } from '../../src/config';
import { startBridge, testEnv, type TestBridge } from '../support/bridge';
import { liveCall, waitFor } from '../support/calls';
import { memoryLogger } from '../support/logs';
import { functionCallBody, postRetell } from '../support/retell-signing';

const ENV = { TRANSFER_DESTINATIONS: JSON.stringify({ sales: '+14155550101' }) };
const ROOT = path.join(__dirname, '../..');

/** The worker entry point as its own OS process, as `npm run worker` runs it (from source). */
function spawnWorker(bridge: TestBridge): { child: ChildProcess; output: () => string; started: Promise<void> } {
  const env = testEnv({
    ...ENV,
    REDIS_PREFIX: bridge.config.redis.prefix,
    TWILIO_API_BASE_URL: bridge.twilio.url,
    RETELL_BASE_URL: bridge.retell.url,
    LOG_LEVEL: 'info',
  });
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', path.join(ROOT, 'src/bin/worker.ts')], {
    env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const started = waitFor('worker child to start', async () => out.includes('worker started'), 20_000).then(() => undefined);
  return { child, output: () => out, started };
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

async function queueTransfer(bridge: TestBridge): Promise<{ callSid: string; jobId: string }> {
  const { callSid, callId } = await liveCall(bridge);
  const res = await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
  expect(res.status).toBe(200);
  return { callSid, jobId: ((await res.json()) as { job_id: string }).job_id };
}

async function jobState(bridge: TestBridge, jobId: string) {
  return (await bridge.queue.getJob(jobId))?.getState();
}

describe('worker processes', () => {
  let bridge: TestBridge;
  let children: ChildProcess[] = [];
  let inProcess: RunningWorker | undefined;

  beforeEach(async () => {
    bridge = await startBridge(ENV);
  });
  afterEach(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    children = [];
    await inProcess?.close(3000);
    inProcess = undefined;
    await bridge.close();
  });

  // How soon the takeover comes, and how soon a SIGTERMed worker exits, are bounded in the fault suite
  // (worker-crash.test.ts, worker-shutdown.test.ts); here, what happens.
  it('when a worker is killed mid-job, then another worker finds the job stalled, takes it over and completes it, with one successful redirect', async () => {
    const a = spawnWorker(bridge);
    children.push(a.child);
    await a.started;
    bridge.twilio.injections.push({ kind: 'hang' });
    const { callSid, jobId } = await queueTransfer(bridge);
    await waitFor('worker A to reach Twilio', async () => bridge.twilio.callUpdates(callSid).length === 1);

    a.child.kill('SIGKILL');
    await exited(a.child);
    // The killed worker's lock is still there: the job stays active until its lock expires.
    expect(await jobState(bridge, jobId)).toBe('active');
    const { logger, records } = memoryLogger('warn');
    inProcess = startWorker({ config: loadConfig(testEnv({ ...ENV, REDIS_PREFIX: bridge.config.redis.prefix, TWILIO_API_BASE_URL: bridge.twilio.url })), logger });

    await waitFor('job completed by worker B', async () => (await jobState(bridge, jobId)) === 'completed', 30_000);
    const job = await bridge.queue.getJob(jobId);
    expect(job?.returnvalue).toBe('done');
    // Taken over through BullMQ's stall detection, once: not retried as a failure, nor run twice.
    expect(job?.stalledCounter).toBe(1);
    expect(job?.attemptsMade).toBe(1);
    expect(records().filter((r) => r.msg === 'job stalled (its worker stopped): requeued')).toEqual([expect.objectContaining({ jobId })]);
    const updates = bridge.twilio.callUpdates(callSid);
    expect(updates).toHaveLength(2);
    expect(updates.filter((u) => u.answered === 200)).toHaveLength(1);
    expect((await bridge.calls.get(callSid))?.state).toBe('transferred');
  }, 40_000);

  it('when a worker gets SIGTERM mid-job, then it finishes the job, exits 0, and a job queued meanwhile waits for the next worker', async () => {
    const a = spawnWorker(bridge);
    children.push(a.child);
    await a.started;
    bridge.twilio.injections.push({ kind: 'delay', ms: 1500 });
    const first = await queueTransfer(bridge);
    await waitFor('worker A to reach Twilio', async () => bridge.twilio.callUpdates(first.callSid).length === 1);

    a.child.kill('SIGTERM');
    const second = await queueTransfer(bridge);
    const { code } = await exited(a.child);

    // It stopped by itself once the job was done: a drain cut short by its 20 s deadline says "forced",
    // and a shutdown that hangs is ended by the process's own deadline with exit code 1.
    expect(code).toBe(0);
    expect(await jobState(bridge, first.jobId)).toBe('completed');
    expect(a.output()).toMatch(/"outcome":"drained"/);
    expect(await jobState(bridge, second.jobId)).toBe('waiting');

    const { logger } = memoryLogger('warn');
    inProcess = startWorker({ config: loadConfig(testEnv({ ...ENV, REDIS_PREFIX: bridge.config.redis.prefix, TWILIO_API_BASE_URL: bridge.twilio.url })), logger });
    await waitFor('second job completed', async () => (await jobState(bridge, second.jobId)) === 'completed');
    expect(bridge.twilio.callUpdates().filter((u) => u.answered === 200)).toHaveLength(2);
  }, 40_000);
});
