import type { OutboundView } from '../../src/features/outbound/record';
import type { TestBridge } from './bridge';
import { waitFor } from './wait';

export const API_TOKEN = 'test-api-token-0123456789abcdef';
export const OUR_NUMBER = '+14155550100';
export const CALLEE = '+14155550199';

/** Settings that turn outbound calls on, calling from OUR_NUMBER. */
export const OUTBOUND_ENV = { API_TOKEN, OUTBOUND_FROM_NUMBER: OUR_NUMBER };

/** POST /calls as the user's backend sends it. */
export function postCall(
  bridge: TestBridge,
  body: unknown,
  opts: { key?: string; token?: string | null; raw?: string; contentType?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? API_TOKEN}`;
  if (opts.key !== undefined) headers['idempotency-key'] = opts.key;
  return fetch(`${bridge.url}/calls`, { method: 'POST', headers, body: opts.raw ?? JSON.stringify(body) });
}

export async function placeCall(bridge: TestBridge, body: Record<string, unknown> = {}, key?: string): Promise<string> {
  const res = await postCall(bridge, { to: CALLEE, ...body }, { key });
  if (res.status !== 202) throw new Error(`POST /calls answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export async function getCall(bridge: TestBridge, id: string, token = API_TOKEN): Promise<{ status: number; body: OutboundView }> {
  const res = await fetch(`${bridge.url}/calls/${id}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as OutboundView };
}

/** Waits until GET /calls/{id} shows `predicate`, and returns that view. */
export async function waitForCall(bridge: TestBridge, id: string, what: string, predicate: (v: OutboundView) => boolean, timeoutMs = 10_000): Promise<OutboundView> {
  return waitFor(
    what,
    async () => {
      const { body } = await getCall(bridge, id);
      return predicate(body) && body;
    },
    timeoutMs,
  );
}

export const waitForOutcome = (bridge: TestBridge, id: string, timeoutMs?: number) =>
  waitForCall(bridge, id, 'the call to end', (v) => v.status === 'ended', timeoutMs);
