/**
 * Campaigns in the fault cases: a task list whose callees behave by the number's last digit (so how
 * many dials each number must get is known in advance), the API requests as the user's backend sends
 * them (retried while Redis fails over, with one Idempotency-Key), and the count of dials each number
 * received, taken from the fake Twilio's side.
 */
import type { CalleeScript, FakeCallee } from '../../../src/sandbox/fake-callee';
import { API_TOKEN } from '../../support/outbound';
import { sleep, waitFor } from './ports';

/** Callees: numbers ending in 6 do not answer (retried once: 2 dials), 7 are busy (not retried: 1 dial), the rest talk briefly (1 dial). */
export function faultCallee(to: string): CalleeScript {
  if (to.endsWith('6')) return { answer: 'no-answer', ringMs: 300 };
  if (to.endsWith('7')) return { answer: 'busy', ringMs: 100 };
  return { answer: 'human', ringMs: 50, hangUpAfterMs: 300 };
}

export const RETRY = { on: ['no_answer'], max_attempts: 2, delay_s: 1 };

/** `n` numbers, +12125550100 onwards (fictional 555-01xx numbers, then 555-02xx …). */
export function campaignNumbers(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `+1212555${String(100 + i).padStart(4, '0')}`);
}

/** How many times each number must be dialed, by faultCallee and RETRY. */
export function expectedDials(numbers: readonly string[]): Record<string, number> {
  return Object.fromEntries(numbers.map((n) => [n, n.endsWith('6') ? 2 : 1]));
}

/** The dials each number received, counted by the fake Twilio (calls created), for every number in `numbers`. */
export function dialsOf(callee: FakeCallee, numbers: readonly string[]): Record<string, number> {
  return Object.fromEntries(numbers.map((n) => [n, callee.dials.get(n) ?? 0]));
}

export interface CampaignView {
  id: string;
  status: string;
  counts: Record<string, number>;
  outcomes: Record<string, number>;
}

/** A request to the bridge, repeated while it does not answer or answers 5xx (Redis failing over), for at most `boundMs`. */
export async function bridgeRequest(url: string, init: RequestInit, boundMs = 30_000): Promise<{ status: number; body: unknown }> {
  const until = Date.now() + boundMs;
  for (;;) {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
    if (res && res.status < 500) return { status: res.status, body: await res.json().catch(() => undefined) };
    await res?.text();
    if (Date.now() > until) throw new Error(`${init.method ?? 'GET'} ${url}: no answer but ${res?.status ?? 'errors'} for ${boundMs} ms`);
    await sleep(250);
  }
}

const auth = { authorization: `Bearer ${API_TOKEN}` };

/** POST /campaigns with inline tasks, started at once; returns its id. */
export async function createCampaign(base: string, numbers: readonly string[], extra: Record<string, unknown> = {}): Promise<string> {
  const body = { name: 'fault case', tasks: numbers.map((to) => ({ to })), retry: RETRY, ...extra };
  const { status, body: answer } = await bridgeRequest(`${base}/campaigns`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': `fault-${Date.now()}-${Math.random()}` },
    body: JSON.stringify(body),
  });
  if (status !== 201) throw new Error(`POST /campaigns answered ${status}: ${JSON.stringify(answer)}`);
  return (answer as { id: string }).id;
}

export async function getCampaign(base: string, id: string): Promise<CampaignView> {
  const { status, body } = await bridgeRequest(`${base}/campaigns/${id}`, { headers: auth });
  if (status !== 200) throw new Error(`GET /campaigns/${id} answered ${status}: ${JSON.stringify(body)}`);
  return body as CampaignView;
}

/** Waits until the campaign is completed, and returns it. */
export async function waitCompleted(base: string, id: string, timeoutMs: number): Promise<CampaignView> {
  let last: CampaignView | undefined;
  try {
    await waitFor(
      'the campaign to complete',
      async () => {
        last = await getCampaign(base, id);
        return last.status === 'completed';
      },
      timeoutMs,
      250,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`);
  }
  return last!;
}

/** Every task's attempts, through GET /campaigns/{id}/tasks. */
export async function tasksOf(base: string, id: string): Promise<Array<{ to: string; status: string; outcome?: string; attempts: Array<{ outbound_id: string; call_sid?: string; outcome?: string }> }>> {
  const tasks: Array<{ to: string; status: string; outcome?: string; attempts: Array<{ outbound_id: string; call_sid?: string; outcome?: string }> }> = [];
  let cursor: string | undefined;
  do {
    const { status, body } = await bridgeRequest(`${base}/campaigns/${id}/tasks?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: auth });
    if (status !== 200) throw new Error(`GET /campaigns/${id}/tasks answered ${status}: ${JSON.stringify(body)}`);
    const page = body as { tasks: typeof tasks; next_cursor?: string | null };
    tasks.push(...page.tasks);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return tasks;
}
