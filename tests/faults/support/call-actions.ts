import { CALL_ACTION_JOB_OPTIONS } from '../../../src/jobs/queues';
import type { TestBridge } from '../../support/bridge';
import { liveCall } from '../../support/calls';
import { functionCallBody, postRetell } from '../../support/retell-signing';
import { waitFor } from './ports';

/** The one transfer destination the fault cases use. */
export const TRANSFER_ENV = { TRANSFER_DESTINATIONS: JSON.stringify({ sales: '+14155550101' }) };

export interface QueuedTransfer {
  callSid: string;
  callId: string;
  jobId: string;
}

/** The custom functions an agent calls, with the arguments the fault cases give them. */
export type AgentFunction = 'transfer_call' | 'end_call';

/** Makes a live call through the bridge and has its agent call `fn`; the answer must be 200. */
export async function queueAction(bridge: TestBridge, fn: AgentFunction): Promise<QueuedTransfer> {
  const { callSid, callId } = await liveCall(bridge);
  const res = await postFunction(bridge, fn, callId);
  const body = (await res.json()) as { job_id?: string };
  if (res.status !== 200 || !body.job_id) throw new Error(`${fn} answered ${res.status} ${JSON.stringify(body)}`);
  return { callSid, callId, jobId: body.job_id };
}

/** Makes a live call through the bridge and has its agent ask for a transfer; the answer must be 200. */
export function queueTransfer(bridge: TestBridge): Promise<QueuedTransfer> {
  return queueAction(bridge, 'transfer_call');
}

/** `n` calls, one after another, each with a transfer queued. */
export async function queueTransfers(bridge: TestBridge, n: number): Promise<QueuedTransfer[]> {
  const queued: QueuedTransfer[] = [];
  for (let i = 0; i < n; i++) queued.push(await queueTransfer(bridge));
  return queued;
}

/** One function call as Retell posts it (signed now, so a retry is signed afresh, as Retell does). */
export function postFunction(bridge: TestBridge, fn: AgentFunction, callId: string): Promise<Response> {
  const args = fn === 'transfer_call' ? { destination: 'sales' } : {};
  return postRetell(bridge.url, `/retell/functions/${fn}`, functionCallBody(fn, callId, args));
}

/** One transfer_call as Retell posts it. */
export function postTransfer(bridge: TestBridge, callId: string): Promise<Response> {
  return postFunction(bridge, 'transfer_call', callId);
}

export async function jobState(bridge: TestBridge, jobId: string): Promise<string | undefined> {
  return (await bridge.queue.getJob(jobId))?.getState();
}

export async function waitForJobs(bridge: TestBridge, jobIds: string[], state: 'completed' | 'failed', timeoutMs: number): Promise<void> {
  await waitFor(
    `${jobIds.length} jobs to be ${state}`,
    async () => (await Promise.all(jobIds.map((id) => jobState(bridge, id)))).every((s) => s === state),
    timeoutMs,
    100,
  );
}

/**
 * The longest a job can spend backing off across `retries` retries under the queue's policy:
 * BullMQ's exponential backoff waits delay × 2^(n-1) before retry n, and jitter only shortens it.
 */
export function maxBackoffMs(retries = (CALL_ACTION_JOB_OPTIONS.attempts ?? 1) - 1): number {
  const backoff = CALL_ACTION_JOB_OPTIONS.backoff as { delay: number };
  let total = 0;
  for (let n = 1; n <= retries; n++) total += backoff.delay * 2 ** (n - 1);
  return total;
}

/** How many updates the fake Twilio answered 200, per call: exactly once means 1 for every call. */
export function successfulUpdatesPerCall(bridge: TestBridge, callSids: string[]): Record<string, number> {
  return Object.fromEntries(callSids.map((sid) => [sid, bridge.twilio.callUpdates(sid).filter((u) => u.answered === 200).length]));
}
