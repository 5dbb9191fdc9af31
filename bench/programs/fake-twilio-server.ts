/**
 * The test suite's fake Twilio REST API in a process of its own, so its CPU is not charged to the
 * bridge, reporting when each call update arrived.
 *
 * Env: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN (required).
 * IPC:
 * - sends `{ type: 'ready', url }` once listening;
 * - `{ type: 'add-calls', sids }` makes those calls live (in progress) → `{ type: 'calls-added', count }`;
 * - `{ type: 'updates' }` → `{ type: 'updates', updates, others }`: the call updates answered since the
 *   last ask (and forgets them, so memory stays flat), and how many other requests arrived.
 * - `{ type: 'outbound-setup', deliverTo, numbers, script }` plays outbound calls: webhooks go to
 *   `deliverTo` (the bridge's web process), `numbers` are the account's, `script` is every callee's
 *   → `{ type: 'outbound-ready' }`.
 * - `{ type: 'creates' }` → `{ type: 'creates', creates, callbacks, stallMs }`: the outbound calls created
 *   since the last ask, each with the bridge's id (from its answer URL) and when it arrived, how many
 *   callback requests to the bridge were answered 2xx (then forgets them), and the fake's longest
 *   event-loop stall since the last ask (ms).
 *
 * Arrival times are wall-clock milliseconds with sub-millisecond resolution
 * (`performance.timeOrigin + performance.now()`), taken when the request's headers have been parsed,
 * so they compare with a send time taken the same way in another process on this machine.
 */
import type http from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { CalleeScript } from '../../src/sandbox/fake-callee';
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';

export interface CallUpdate {
  callSid: string;
  /** Wall-clock ms when the request arrived. */
  at: number;
  /** HTTP status the fake answered. */
  answered: number;
  twiml: string | undefined;
  status: string | undefined;
}

const accountSid = process.env.TWILIO_ACCOUNT_SID;
const authToken = process.env.TWILIO_AUTH_TOKEN;
if (!accountSid || !authToken) {
  process.stderr.write('fake-twilio-server: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required\n');
  process.exit(2);
}

const fake = new FakeTwilioApi(accountSid, authToken);
// How long the fake's event loop was held up at most since the last ask: a request arriving then is
// stamped only when the loop is free again, so a long stall bunches the stamps of the requests behind it.
const stalls = monitorEventLoopDelay({ resolution: 5 });
stalls.enable();
const wallNow = () => performance.timeOrigin + performance.now();

// The fake stamps requests with Date.now() (1 ms steps) after reading the body; a listener ahead of
// its own stamps the arrival more finely, keyed by path (one call update per CallSid is expected).
const arrivals = new Map<string, number>();
fake.server.prependListener('request', (req: http.IncomingMessage) => {
  const path = (req.url ?? '').split('?')[0] ?? '';
  if (req.method === 'POST' && !arrivals.has(path)) arrivals.set(path, wallNow());
});

const CALL_PATH = /\/Calls\/(CA[0-9a-f]{32})\.json$/i;

function takeUpdates(): { updates: CallUpdate[]; others: number } {
  const updates: CallUpdate[] = [];
  let others = 0;
  const pending = [];
  for (const r of fake.requests) {
    if (r.answered === undefined) {
      pending.push(r);
      continue;
    }
    const m = CALL_PATH.exec(r.path);
    if (r.method !== 'POST' || !m) {
      others += 1;
      continue;
    }
    const at = arrivals.get(r.path) ?? r.receivedAt;
    arrivals.delete(r.path);
    updates.push({ callSid: m[1]!, at, answered: r.answered, twiml: r.form.Twiml, status: r.form.Status });
    fake.calls.delete(m[1]!);
  }
  fake.requests.length = 0;
  fake.requests.push(...pending);
  return { updates, others };
}

// Arrival of each create request, stamped when its headers were parsed, like the call updates above;
// the stamps are handed to the created calls in order, since the fake creates them in arrival order.
const createArrivals: number[] = [];
fake.server.prependListener('request', (req: http.IncomingMessage) => {
  if (req.method === 'POST' && (req.url ?? '').split('?')[0]!.endsWith('/Calls.json')) createArrivals.push(wallNow());
});
/** Created calls already reported, by CallSid, until they finish and are forgotten. */
const reported = new Set<string>();

/**
 * Outbound calls created since the last ask: the bridge's id, the number called and the arrival time
 * (wall-clock ms); and the calls that ended since, with when they were created and ended (the fake's
 * own clock), from which the calls live at any moment follow, counted from Twilio's side.
 */
function takeCreates(): { creates: Array<{ id: string; to: string; at: number }>; ended: Array<{ to: string; createdAt: number; endedAt: number }>; callbacks: { ok: number; failed: number } } {
  const creates: Array<{ id: string; to: string; at: number }> = [];
  const ended: Array<{ to: string; createdAt: number; endedAt: number }> = [];
  for (const [sid, placed] of fake.callee.placed) {
    if (!reported.has(sid)) {
      reported.add(sid);
      const id = new URL(placed.params.get('Url') ?? 'http://x/').searchParams.get('o') ?? '';
      creates.push({ id, to: placed.call.to, at: createArrivals.shift() ?? placed.call.createdAt });
    }
    if (placed.finished) {
      ended.push({ to: placed.call.to, createdAt: placed.call.createdAt, endedAt: placed.call.endedAt ?? Date.now() });
      fake.callee.placed.delete(sid);
      fake.calls.delete(sid);
      reported.delete(sid);
    }
  }
  const callbacks = { ok: 0, failed: 0 };
  for (const w of fake.callee.webhooks) callbacks[w.status >= 200 && w.status < 300 ? 'ok' : 'failed'] += 1;
  fake.callee.webhooks.length = 0;
  fake.requests.length = 0;
  return { creates, ended, callbacks };
}

process.on('message', (m: { type?: string; sids?: string[]; deliverTo?: string; numbers?: string[]; script?: CalleeScript }) => {
  if (m?.type === 'outbound-setup') {
    fake.callee.deliverTo = m.deliverTo;
    for (const n of m.numbers ?? []) fake.addNumber(n);
    if (m.script) fake.callee.defaultScript = m.script;
    process.send?.({ type: 'outbound-ready' });
  } else if (m?.type === 'creates') {
    const { creates, ended, callbacks } = takeCreates();
    process.send?.({ type: 'creates', creates, ended, callbacks, stallMs: stalls.max / 1e6 });
    stalls.reset();
  } else if (m?.type === 'add-calls') {
    for (const sid of m.sids ?? []) fake.addCall(sid);
    process.send?.({ type: 'calls-added', count: m.sids?.length ?? 0 });
  } else if (m?.type === 'updates') {
    process.send?.({ type: 'updates', ...takeUpdates() });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => void fake.stop().finally(() => process.exit(0)));

void fake.start().then(() => process.send?.({ type: 'ready', url: fake.url }));
