/**
 * CPU per Twilio REST request, one way of making it per process: what the worker pays for redirecting
 * a live call (`calls(sid).update({twiml})`, the transfer TwiML), without BullMQ or Redis around it.
 *
 * Env: VARIANT, TWILIO_API_BASE_URL (the fake Twilio API), CALL_SIDS (live calls on it, comma-separated),
 * CONCURRENCY (20), CALLS (4000).
 * Prints one JSON line: { variant, cpuUsPerCall, callsPerSecond }.
 */
import { Agent } from 'undici';
import { createTwilioClient, TWILIO_REQUEST_TIMEOUT_MS } from '../../src/twilio/client';
import { formEncode } from '../../src/twilio/http-client';
import { transferTwiml } from '../../src/twilio/twiml';
import { twilioNodeClient } from '../../tests/support/twilio-node-client';
import { ACCOUNT_SID, AUTH_TOKEN } from '../../tests/support/twilio-signing';

export const VARIANTS = {
  'twilio-node': 'twilio-node on its own RequestClient (axios, https Agent, qs), retries off',
  bridge: 'the bridge: createTwilioClient(), twilio-node on TwilioHttpClient (undici)',
  'undici-request': 'floor: the same POST with undici Agent.request, no SDK',
} as const;
export type Variant = keyof typeof VARIANTS;

const baseUrl = process.env.TWILIO_API_BASE_URL ?? '';
const variant = (process.env.VARIANT ?? 'bridge') as Variant;
const sids = (process.env.CALL_SIDS ?? '').split(',').filter(Boolean);
const concurrency = Number(process.env.CONCURRENCY ?? 20);
const calls = Number(process.env.CALLS ?? 4000);
const twiml = transferTwiml({ target: '+14155550101', targetKind: 'number', callerId: '+14155550199', message: undefined });

function makeCall(): (sid: string) => Promise<unknown> {
  switch (variant) {
    case 'twilio-node': {
      const client = twilioNodeClient({ baseUrl, accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, timeoutMs: TWILIO_REQUEST_TIMEOUT_MS });
      return (sid) => client.calls(sid).update({ twiml });
    }
    case 'bridge': {
      const client = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: baseUrl });
      return (sid) => client.calls(sid).update({ twiml });
    }
    case 'undici-request': {
      const agent = new Agent({ keepAliveTimeout: 30_000 });
      const headers = {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`,
      };
      const body = formEncode({ Twiml: twiml });
      return async (sid) => {
        const res = await agent.request({ origin: baseUrl, path: `/2010-04-01/Accounts/${ACCOUNT_SID}/Calls/${sid}.json`, method: 'POST', headers, body });
        return res.body.json();
      };
    }
    default:
      throw new Error(`unknown VARIANT ${String(variant)}`);
  }
}

async function drive(call: (sid: string) => Promise<unknown>, n: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) {
      next += 1;
      await call(sids[next % sids.length]!);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

async function main(): Promise<void> {
  if (sids.length === 0) throw new Error('CALL_SIDS must name live calls on the fake Twilio API');
  const call = makeCall();
  await drive(call, Math.min(2000, calls)); // warm-up: JIT and connection pool
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await drive(call, calls);
  const used = process.cpuUsage(cpu);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`${JSON.stringify({ variant, cpuUsPerCall: (used.user + used.system) / calls, callsPerSecond: calls / seconds })}\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`twilio-client bench failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
