import { randomBytes } from 'node:crypto';
import type { WarmTransfer } from '../../src/calls/record';
import type { CalleeScript, PlacedCall } from '../../src/sandbox/fake-callee';
import type { TestBridge } from './bridge';
import { liveCall } from './calls';
import { functionCallBody, postRetell } from './retell-signing';
import { waitFor } from './wait';

export const BUSINESS = '+14155550100';
export const CALLER = '+14155550199';
export const SALES = '+14155550101';
export const WARM_ENV = { TRANSFER_DESTINATIONS: JSON.stringify({ sales: SALES }), TRANSFER_ALLOWLIST: '+1646*' };
export const SUMMARY = 'Dana Reyes wants to upgrade her plan to Business.';

/** A live inbound call whose voice webhook carried a CallToken (as Twilio's does), and its token. */
export async function liveCallWithToken(bridge: TestBridge, overrides: Record<string, string> = {}) {
  const callToken = `%7B%22parentCallInfoToken%22%3A%22${randomBytes(12).toString('hex')}%22%7D`;
  const call = await liveCall(bridge, { CallToken: callToken, ...overrides });
  return { ...call, callToken };
}

/** The agent's warm_transfer, as Retell posts it. */
export function postWarmTransfer(bridge: TestBridge, callId: string, args: Record<string, unknown> = { destination: 'sales', summary: SUMMARY }, path = '/retell/functions/warm_transfer') {
  return postRetell(bridge.url, path, functionCallBody('warm_transfer', callId, args));
}

/** How the person at `number` behaves when rung. */
export function personAt(bridge: TestBridge, number: string, script: CalleeScript): void {
  bridge.twilio.callee.scripts.set(number, script);
}

export async function warmTransferOf(bridge: TestBridge, callSid: string): Promise<WarmTransfer | undefined> {
  const raw = (await bridge.calls.get(callSid))?.warmTransfer;
  return raw ? (JSON.parse(raw) as WarmTransfer) : undefined;
}

export function waitForTransfer(bridge: TestBridge, callSid: string, what: string, done: (t: WarmTransfer) => boolean, timeoutMs = 10_000): Promise<WarmTransfer> {
  return waitFor(what, async () => {
    const t = await warmTransferOf(bridge, callSid);
    return t && done(t) ? t : undefined;
  }, timeoutMs);
}

/** The legs the bridge placed (calls.create), oldest first. */
export function placedLegs(bridge: TestBridge): PlacedCall[] {
  return [...bridge.twilio.callee.placed.values()];
}

/** The calls.create requests Twilio received. */
export function creates(bridge: TestBridge) {
  return bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));
}
