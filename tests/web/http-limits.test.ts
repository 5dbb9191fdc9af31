/**
 * Slow and idle clients are cut off, and connections are capped: Twilio and Retell send each request
 * whole and at once, so anything slower only holds sockets and memory. The limits are shortened here
 * so the cases run in seconds; the defaults are HTTP_LIMITS.
 */
import net from 'node:net';
import { HTTP_LIMITS } from '../../src/web/start';
import { startBridge, type TestBridge } from '../support/bridge';

const LIMITS = { firstRequestTimeoutMs: 800, headersTimeoutMs: 1000, requestTimeoutMs: 1500, keepAliveTimeoutMs: 1000, maxConnections: 20 };
/** Node checks header and request timeouts once a second. */
const CHECK_MS = 1000;

let bridge: TestBridge;
let port: number;
beforeAll(async () => {
  bridge = await startBridge({}, { limits: LIMITS });
  port = Number(new URL(bridge.url).port);
});
afterAll(() => bridge.close());

interface Watched {
  socket: net.Socket;
  received: string;
  closedAfterMs: Promise<number>;
}

function open(onConnect: (socket: net.Socket) => void = () => undefined): Watched {
  const started = Date.now();
  const socket = net.connect(port, '127.0.0.1', () => onConnect(socket));
  const watched: Watched = { socket, received: '', closedAfterMs: Promise.resolve(0) };
  socket.on('data', (d) => void (watched.received += d.toString()));
  socket.on('error', () => undefined);
  watched.closedAfterMs = new Promise((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  return watched;
}

describe('the HTTP server with shortened limits', () => {
  it('when a connection never sends a request, then it is closed after firstRequestTimeoutMs', async () => {
    const idle = open();
    const ms = await idle.closedAfterMs;
    expect(ms).toBeGreaterThanOrEqual(LIMITS.firstRequestTimeoutMs - 50);
    expect(ms).toBeLessThan(LIMITS.firstRequestTimeoutMs + 3000);
  });

  it('when headers trickle in, then 408 and the connection is closed', async () => {
    const slow = open((s) => {
      s.write('POST /twilio/voice HTTP/1.1\r\nHost: x\r\n');
      const drip = setInterval(() => (s.writable ? s.write('X-Drip: 1\r\n') : clearInterval(drip)), 200);
      s.on('close', () => clearInterval(drip));
    });
    const ms = await slow.closedAfterMs;
    expect(slow.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(ms).toBeLessThan(LIMITS.headersTimeoutMs + CHECK_MS + 3000);
  });

  it('when a body trickles in a byte at a time, then 408 and the connection is closed', async () => {
    const slow = open((s) => {
      s.write('POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n');
      const drip = setInterval(() => (s.writable ? s.write('a') : clearInterval(drip)), 200);
      s.on('close', () => clearInterval(drip));
    });
    const ms = await slow.closedAfterMs;
    expect(slow.received).toMatch(/HTTP\/1\.1 408 /);
    expect(ms).toBeLessThan(LIMITS.requestTimeoutMs + CHECK_MS + 3000);
  });

  it('when a keep-alive connection sits idle after a response, then it is closed after keepAliveTimeoutMs', async () => {
    const kept = open((s) => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    const ms = await kept.closedAfterMs;
    expect(kept.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(ms).toBeGreaterThanOrEqual(LIMITS.keepAliveTimeoutMs - 50);
    expect(ms).toBeLessThan(LIMITS.keepAliveTimeoutMs + 3000);
  });

  it('when more than maxConnections are open, then the extra ones are closed at once and the server still answers afterwards', async () => {
    const held = Array.from({ length: LIMITS.maxConnections }, () => open());
    await new Promise((r) => setTimeout(r, 200));
    const extra = open((s) => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(await extra.closedAfterMs).toBeLessThan(LIMITS.firstRequestTimeoutMs);
    expect(extra.received).toBe('');
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closedAfterMs));
    await new Promise((r) => setTimeout(r, 100));
    expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
  });

  it('when the process runs with its defaults, then every limit is one a webhook sender meets easily', () => {
    expect(HTTP_LIMITS.headersTimeoutMs).toBeLessThanOrEqual(HTTP_LIMITS.requestTimeoutMs);
    // Twilio gives up after 15 s, so a request taking longer to arrive is already lost.
    expect(HTTP_LIMITS.requestTimeoutMs).toBeLessThanOrEqual(30_000);
    expect(HTTP_LIMITS.firstRequestTimeoutMs).toBeLessThanOrEqual(15_000);
  });
});
