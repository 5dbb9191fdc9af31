import type { TestBridge } from '../../support/bridge';
import { waitFor } from '../../support/wait';
import { API_TOKEN } from '../../support/outbound';

/** A request to the campaign API as the user's backend sends it. */
export async function api(
  bridge: TestBridge,
  method: string,
  path: string,
  body?: unknown,
  opts: { key?: string; csv?: string; raw?: string | Buffer } = {},
): Promise<{ status: number; body: any; text: string }> {
  const headers: Record<string, string> = { authorization: `Bearer ${API_TOKEN}` };
  if (opts.key) headers['idempotency-key'] = opts.key;
  let payload: string | Buffer | undefined;
  if (opts.csv !== undefined) {
    headers['content-type'] = 'text/csv';
    payload = opts.csv;
  } else if (opts.raw !== undefined) {
    headers['content-type'] = 'application/json';
    payload = opts.raw;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(`${bridge.url}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

/** n distinct valid US numbers (San Francisco, 415). */
export const numbers = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `+1415${String(2000000 + from + i).padStart(7, '0')}`);

/**
 * What the campaign tests read and do through a bridge that each test starts anew (hence the getter):
 * the creates the fake Twilio received, a campaign's view, a campaign created (201 or a thrown error),
 * and a wait for its status.
 */
export function campaignClient(bridge: () => TestBridge) {
  const campaign = async (id: string) => (await api(bridge(), 'GET', `/campaigns/${id}`)).body;
  return {
    creates: () => bridge().twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json')),
    campaign,
    create: async (body: Record<string, unknown>) => {
      const res = await api(bridge(), 'POST', '/campaigns', body);
      if (res.status !== 201) throw new Error(`POST /campaigns answered ${res.status}: ${res.text}`);
      return res.body.id as string;
    },
    waitStatus: (id: string, status: string, timeoutMs = 40_000) =>
      waitFor(`campaign ${status}`, async () => (await campaign(id)).status === status, timeoutMs, 100),
  };
}
