import type { TestBridge } from '../../support/bridge';
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
