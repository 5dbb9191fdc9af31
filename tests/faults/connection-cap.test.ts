/**
 * Fault case 11: connections that send nothing, or nothing more, fill the web process up to its
 * connection cap (2048 by default): 1,000 that never send a request, 1,000 keep-alive connections left
 * idle after one request, and 55 slow senders trickling a voice webhook's body; or, with no silent ones,
 * idle connections and slow senders alone. Calls arriving then must still be answered: the silent
 * connections, else the idle ones, give way to them, and the cap still holds (what is left of the flood
 * and the calls' connections together stay within it), so the flood cannot make the process hold more.
 */
import net from 'node:net';
import { getExpectedTwilioSignature } from 'twilio';
import { PUBLIC_URL, RETELL_KEY } from '../support/bridge';
import { AUTH_TOKEN, voiceParams } from '../support/twilio-signing';
import { SILENT_GRACE_MS } from '../../src/http/connection-slots';
import { HTTP_LIMITS } from '../../src/web/start';
import { FaultyRetell } from './support/faulty-retell';
import { sleep, waitFor } from './support/ports';
import { RedisServer } from './support/redis-server';
import { WebProcess } from './support/web-process';
import { isCallTwiml, summarize, VOICE, type Answered } from './support/webhooks';

const SILENT = 1000;
const IDLE = 1000;
const SLOW = 55;
/** Calls arriving at once, each on a connection of its own. */
const CALLS = 20;

let redis: RedisServer;
let retell: FaultyRetell;
let web: WebProcess;

beforeAll(async () => {
  redis = await RedisServer.start();
  retell = await new FaultyRetell(RETELL_KEY).start();
  web = await WebProcess.start({ REDIS_URL: redis.url, REDIS_PREFIX: 'faults-conncap', RETELL_BASE_URL: retell.url, LOG_LEVEL: 'warn' });
});
afterEach(async () => {
  for (const c of all.splice(0)) c.socket.destroy();
  // Let the web process see the closes before the next case fills it again.
  await sleep(500);
});
afterAll(async () => {
  await web?.dispose();
  await retell?.stop();
  await redis?.dispose();
});

interface Held {
  socket: net.Socket;
  received: string;
  closed: boolean;
}
const all: Held[] = [];

/** Opens a connection; resolves once it is connected (or was refused). */
function connect(): Promise<Held> {
  return new Promise((resolve) => {
    const socket = net.connect(web.port, '127.0.0.1');
    const held: Held = { socket, received: '', closed: false };
    all.push(held);
    socket.on('data', (d) => void (held.received += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      held.closed = true;
      resolve(held);
    });
    socket.on('connect', () => resolve(held));
  });
}

/** Opens `n` connections, at most 100 connecting at a time (the listen backlog is finite). */
async function openMany(n: number, then: (held: Held) => Promise<void> | void = () => undefined): Promise<Held[]> {
  const out: Held[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => connect()));
    await Promise.all(batch.map(then));
    out.push(...batch);
  }
  return out;
}

/** One request on the connection, answered and left open (keep-alive). */
async function requestOnce(held: Held): Promise<void> {
  if (held.closed) return;
  held.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor('a /healthz answer', () => held.closed || /\r\n\r\n/.test(held.received), 10_000);
}

/** A voice webhook whose body never finishes: a byte every 500 ms. */
function trickle(held: Held): void {
  if (held.closed) return;
  held.socket.write('POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n');
  const drip = setInterval(() => (held.socket.writable ? held.socket.write('a') : clearInterval(drip)), 500);
  held.socket.on('close', () => clearInterval(drip));
}

/**
 * A signed voice webhook on a connection of its own, as a call arriving from Twilio through a router
 * that has no idle connection to reuse (fetch() could reuse one from its pool). Resolves once the
 * answer is whole, leaving the connection open (keep-alive), or once the connection closes.
 */
function voiceOnNewConnection(params: Record<string, string>): Promise<Answered> {
  const body = new URLSearchParams(params).toString();
  const signature = getExpectedTwilioSignature(AUTH_TOKEN, PUBLIC_URL + VOICE, params);
  const request =
    [`POST ${VOICE} HTTP/1.1`, 'Host: x', 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${Buffer.byteLength(body)}`, `X-Twilio-Signature: ${signature}`].join('\r\n') +
    '\r\n\r\n' +
    body;
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(web.port, '127.0.0.1', () => socket.write(request));
    const held: Held = { socket, received: '', closed: false };
    all.push(held);
    let error: string | undefined;
    const answer = (): Answered => {
      const [head = '', ...rest] = held.received.split('\r\n\r\n');
      return {
        callSid: params.CallSid!,
        startedAt,
        elapsedMs: Date.now() - startedAt,
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        contentType: /\r\ncontent-type: ([^\r]*)/i.exec(head)?.[1] ?? '',
        body: rest.join('\r\n\r\n'),
        ...(error ? { error } : {}),
      };
    };
    socket.on('data', (d) => {
      held.received += d.toString('latin1');
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(held.received)?.[1] ?? NaN);
      const { body: got } = answer();
      if (held.received.includes('\r\n\r\n') && Buffer.byteLength(got, 'latin1') >= length) resolve(answer());
    });
    socket.on('error', (err: NodeJS.ErrnoException) => void (error = err.code ?? err.message));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('close', () => {
      held.closed = true;
      resolve(answer());
    });
  });
}

interface Flood {
  silent: Held[];
  idle: Held[];
  slow: Held[];
}

/**
 * Opens the flood's connections: silent ones, then (once those have been silent longer than a request
 * takes to arrive) idle ones, then slow senders.
 */
async function flood(silent: number, idle: number, slow: number): Promise<Flood> {
  const silentOnes = await openMany(silent);
  if (silent > 0) await sleep(SILENT_GRACE_MS);
  const opened = { silent: silentOnes, idle: await openMany(idle, requestOnce), slow: await openMany(slow, trickle) };
  // Let the server see the last connections and the first bytes of the slow bodies.
  await sleep(300);
  return opened;
}

/**
 * `CALLS` voice webhooks at once, their connections kept open; then how many of the flood's
 * connections are still open.
 */
async function callsDuring(opened: Flood): Promise<{ answers: Answered[]; open: Record<keyof Flood, number> }> {
  const flooded = all.length;
  const answers = await Promise.all(Array.from({ length: CALLS }, () => voiceOnNewConnection(voiceParams())));
  // Closes the server made reach this side within a moment.
  await sleep(300);
  const count = (list: Held[]) => list.filter((h) => !h.closed).length;
  const open = { silent: count(opened.silent), idle: count(opened.idle), slow: count(opened.slow) };
  const calls = count(all.slice(flooded));
  if (process.env.SWEEP_DEBUG) process.stderr.write(`statuses ${answers.map((a) => a.status).join(',')}; still open ${JSON.stringify({ ...open, calls })}\n`);
  const failed = answers.filter((a) => !isCallTwiml(a));
  if (failed.length > 0) throw new Error(`${failed.length} of ${CALLS} calls got no TwiML:\n${summarize(failed)}`);
  // The cap holds: what is left of the flood, with the calls' connections, is within it.
  expect(open.silent + open.idle + open.slow + calls).toBeLessThanOrEqual(HTTP_LIMITS.maxConnections);
  expect(web.alive).toBe(true);
  return { answers, open };
}

describe(`when ${SILENT} silent, ${IDLE} idle keep-alive connections and ${SLOW} slow senders are open`, () => {
  it(`then ${CALLS} new signed voice webhooks are answered with TwiML, silent connections give way to them, and the cap holds`, async () => {
    expect(HTTP_LIMITS.maxConnections).toBeLessThan(SILENT + IDLE + SLOW);
    const opened = await flood(SILENT, IDLE, SLOW);
    const { open } = await callsDuring(opened);
    // Every idle connection got its answer and, like every slow sender, is kept: the connections that
    // had sent nothing made room, for the flood's excess and for the calls.
    expect(opened.idle.every((h) => /^HTTP\/1\.1 200 /.test(h.received))).toBe(true);
    expect(open.idle).toBe(IDLE);
    expect(open.slow).toBe(SLOW);
    expect(open.silent).toBeLessThan(SILENT);
  });
});

describe(`when idle keep-alive connections and ${SLOW} slow senders fill every slot`, () => {
  const idleCount = HTTP_LIMITS.maxConnections - SLOW;

  it(`then ${CALLS} new signed voice webhooks are answered with TwiML, and the connections idle longest give way to them`, async () => {
    const opened = await flood(0, idleCount, SLOW);
    const { open } = await callsDuring(opened);
    expect(open.slow).toBe(SLOW);
    expect(open.idle).toBeLessThanOrEqual(idleCount - CALLS);
    // The ones that gave way were among the first batch of requests, the oldest.
    expect(opened.idle.slice(100).every((h) => !h.closed)).toBe(true);
  });
});
