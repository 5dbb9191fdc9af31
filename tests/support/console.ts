import http from 'node:http';
import { startBridge, type TestBridge } from './bridge';
import { EventReceiver } from './event-receiver';
import { CALLER, liveCallWithToken, personAt, postWarmTransfer, SALES, waitForTransfer, WARM_ENV, BUSINESS } from './warm-transfer';
import { waitFor } from './wait';
import { API_TOKEN, OUTBOUND_ENV } from './outbound';

export const ADMIN_PASSWORD = 'console-test-password-7f3a';
export const HOSTILE = '<script>alert("x")</script>';

export interface ConsoleBridge {
  bridge: TestBridge;
  receiver: EventReceiver;
  /** An inbound call warm-transferred to a person who accepted. */
  call: { callSid: string; callId: string; callToken: string; legSid: string };
  /** A call whose record holds hostile text everywhere a page shows text. */
  hostileSid: string;
  /** A campaign that ran to completion (one answered, one not), and one waiting for its start time. */
  campaigns: { done: string; waiting: string };
  close(): Promise<void>;
}

/**
 * A real bridge (web and worker) with the console on, events going to a local receiver, one inbound call
 * warm-transferred to a person, and a record full of markup to escape.
 */
export async function startConsoleBridge(env: Record<string, string> = {}): Promise<ConsoleBridge> {
  const receiver = await EventReceiver.start();
  const bridge = await startBridge(
    { ...WARM_ENV, ...OUTBOUND_ENV, TWILIO_CPS: '20', ADMIN_PASSWORD, EVENTS_WEBHOOK_URL: receiver.url, EVENTS_WEBHOOK_SECRET: receiver.secret, ...env },
    { worker: true, eventRetryDelaysMs: [200, 400], campaigns: { campaignTickMs: 100 } },
  );
  bridge.twilio.addNumber(BUSINESS);
  personAt(bridge, SALES, { answer: 'human', press: '1' });
  const live = await liveCallWithToken(bridge);
  const res = await postWarmTransfer(bridge, live.callId);
  if (res.status !== 200) throw new Error(`warm_transfer answered ${res.status}`);
  const transfer = await waitForTransfer(bridge, live.callSid, 'the transfer to be accepted', (t) => t.status === 'transfer_accepted', 15_000);
  await waitFor('the call to be transferred', async () => (await bridge.calls.get(live.callSid))?.state === 'transferred', 15_000);
  await receiver.waitFor('call.started', (r) => r.json.data.call_sid === live.callSid);

  const hostileSid = `CA${'e'.repeat(32)}`;
  const now = new Date().toISOString();
  await bridge.calls.adopt({
    callSid: hostileSid,
    accountSid: bridge.config.twilio.accountSid,
    callId: `call_${HOSTILE}`.slice(0, 60),
    from: HOSTILE,
    to: CALLER,
    direction: 'inbound',
    state: 'registered',
    createdAt: now,
    updatedAt: now,
    agentId: HOSTILE,
  });
  await bridge.calls.update(hostileSid, { summary: `The caller said ${HOSTILE}`, error: HOSTILE });
  await bridge.calls.claimAction(hostileSid, { kind: 'transfer', target: '+16465550123', answer: `Sure, ${HOSTILE}` });

  bridge.twilio.callee.scripts.set('+12125550101', { answer: 'human', hangUpAfterMs: 300 });
  bridge.twilio.callee.scripts.set('+12125550102', { answer: 'no-answer' });
  const done = await createCampaign(bridge.url, { name: `Renewals ${HOSTILE}`, tasks: [{ to: '+12125550101', dynamic_variables: { name: HOSTILE } }, { to: '+12125550102' }] });
  const waiting = await createCampaign(bridge.url, {
    name: 'Spring follow-up',
    start_at: new Date(Date.now() + 7 * 24 * 3600_000).toISOString(),
    tasks: [{ to: '+12125550111' }, { to: '+12125550112' }, { to: '+12125550113' }],
  });
  await waitFor('the first campaign to complete', async () => {
    const res = await fetch(`${bridge.url}/campaigns/${done}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    return ((await res.json()) as { status: string }).status === 'completed';
  }, 30_000, 100);

  return {
    bridge,
    receiver,
    call: { ...live, legSid: transfer.legSid! },
    hostileSid,
    campaigns: { done, waiting },
    async close() {
      await bridge.close();
      await receiver.stop();
    },
  };
}

async function createCampaign(url: string, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${url}/campaigns`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`POST /campaigns answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export function basic(password: string): string {
  return `Basic ${Buffer.from(`operator:${password}`).toString('base64')}`;
}

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with its path sent exactly as given (fetch would normalise `..`, `//` and `%2e`). */
export function rawRequest(
  baseUrl: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

/** A page as the operator gets it. */
export function adminGet(baseUrl: string, path: string, password = ADMIN_PASSWORD): Promise<RawAnswer> {
  return rawRequest(baseUrl, path, { headers: { authorization: basic(password) } });
}

/** The CSRF token in a page's first form. */
export function csrfOf(pageHtml: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(pageHtml);
  if (!m) throw new Error('no CSRF token on the page');
  return m[1]!;
}
