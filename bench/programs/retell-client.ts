/**
 * CPU per Retell registration, one way of calling Retell per process: what the voice webhook pays
 * for the call to Retell alone, without HTTP serving, Redis or TwiML around it.
 *
 * Env: VARIANT, RETELL_BASE_URL, RETELL_API_KEY, CONCURRENCY (20), CALLS (4000).
 * Prints one JSON line: { variant, cpuUsPerCall, callsPerSecond }.
 */
import http from 'node:http';
import Retell from 'retell-sdk';
import { Agent, fetch as undiciFetch } from 'undici';
import { bufferedFetch } from '../../src/http/buffered-fetch';
import { createRetellClient } from '../../src/retell/client';
import { registerPhoneCall } from '../../src/retell/register';

export const VARIANTS = {
  'sdk-builtin-fetch': 'retell-sdk on its defaults: Node’s built-in fetch (the naive bridge)',
  'sdk-undici-fetch': 'retell-sdk on undici’s fetch over a keep-alive Agent',
  'sdk-buffered-fetch': 'retell-sdk on bufferedFetch (undici dispatcher.request, body buffered)',
  bridge: 'the bridge: registerPhoneCall() on createRetellClient()',
  'http-agent': 'floor: one POST on node:http with a keep-alive Agent, no SDK',
  'undici-request': 'floor: one POST with undici Agent.request, no SDK',
} as const;
export type Variant = keyof typeof VARIANTS;

const baseURL = process.env.RETELL_BASE_URL ?? '';
const apiKey = process.env.RETELL_API_KEY ?? '';
const variant = (process.env.VARIANT ?? 'bridge') as Variant;
const concurrency = Number(process.env.CONCURRENCY ?? 20);
const calls = Number(process.env.CALLS ?? 4000);

const body = {
  agent_id: 'agent_bench',
  direction: 'inbound' as const,
  from_number: '+14155550199',
  to_number: '+14155550100',
  metadata: { twilio_call_sid: 'CA00000000000000000000000000000000', twilio_account_sid: 'AC00000000000000000000000000000000' },
  retell_llm_dynamic_variables: { caller_number: '+14155550199', called_number: '+14155550100' },
};
const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', accept: 'application/json' };

function makeCall(): () => Promise<unknown> {
  const sdkCall = (client: Retell) => () => client.call.registerPhoneCall(body, { timeout: 4000, maxRetries: 0 });
  switch (variant) {
    case 'sdk-builtin-fetch':
      return sdkCall(new Retell({ apiKey, baseURL }));
    case 'sdk-undici-fetch': {
      const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
      const f = ((input: string, init?: RequestInit) =>
        undiciFetch(input, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as typeof fetch;
      return sdkCall(new Retell({ apiKey, baseURL, maxRetries: 0, fetch: f, logLevel: 'off' }));
    }
    case 'sdk-buffered-fetch': {
      const f = bufferedFetch(new Agent({ keepAliveTimeout: 30_000, connections: 128 }));
      return sdkCall(new Retell({ apiKey, baseURL, maxRetries: 0, fetch: f, logLevel: 'off' }));
    }
    case 'bridge': {
      const client = createRetellClient({
        apiKey,
        baseUrl: baseURL,
        timeoutMs: 4000,
        defaultAgentId: 'agent_bench',
        agentRoutes: {},
        sipHost: 'sip.retellai.com',
        sipTransport: 'tcp',
      });
      const req = {
        agentId: 'agent_bench',
        callSid: body.metadata.twilio_call_sid,
        accountSid: body.metadata.twilio_account_sid,
        from: body.from_number,
        to: body.to_number,
        direction: 'inbound' as const,
        dynamicVariables: body.retell_llm_dynamic_variables,
      };
      return () => registerPhoneCall(client, req, 4000);
    }
    case 'http-agent': {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
      const url = `${baseURL}/v2/register-phone-call`;
      return () =>
        new Promise((resolve, reject) => {
          const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => resolve(JSON.parse(text)));
            res.on('error', reject);
          });
          req.on('error', reject);
          req.end(JSON.stringify(body));
        });
    }
    case 'undici-request': {
      const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
      return async () => {
        const res = await agent.request({ origin: baseURL, path: '/v2/register-phone-call', method: 'POST', headers, body: JSON.stringify(body) });
        return res.body.json();
      };
    }
    default:
      throw new Error(`unknown VARIANT ${String(variant)}`);
  }
}

async function drive(call: () => Promise<unknown>, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next += 1;
      await call();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function main(): Promise<void> {
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
      process.stderr.write(`retell-client bench failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
