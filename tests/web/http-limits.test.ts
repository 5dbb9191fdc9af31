/**
 * Slow and idle clients are cut off, and connections are capped: Twilio and Retell send each request
 * whole and at once, so anything slower only holds sockets and memory. The limits are shortened here
 * so the cases run in seconds; the defaults are HTTP_LIMITS.
 */
import net from 'node:net';
import { HTTP_LIMITS } from '../../src/web/start';
import { startBridge, type TestBridge } from '../support/bridge';
import { waitFor } from '../support/wait';

const LIMITS = { firstRequestTimeoutMs: 800, headersTimeoutMs: 1000, requestTimeoutMs: 1500, keepAliveTimeoutMs: 1000, maxConnections: 20 };

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
  /** Resolves when the connection is closed: by the server, since the tests never close one first. */
  closed: Promise<void>;
}

function open(onConnect: (socket: net.Socket) => void = () => undefined, to = port): Watched {
  const socket = net.connect(to, '127.0.0.1', () => onConnect(socket));
  const watched: Watched = { socket, received: '', closed: Promise.resolve() };
  socket.on('data', (d) => void (watched.received += d.toString()));
  socket.on('error', () => undefined);
  watched.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  return watched;
}

/** The statuses of the answers received, in order (an answer's status line follows the previous body directly). */
const statuses = (received: string) => [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

// Each case waits for the server to close the connection, by whichever limit the case is about; what was
// received on it says which one did. How long each limit takes is Node's own timers (set from HttpLimits);
// a limit that never fires fails the case by the test timeout.
describe('the HTTP server with shortened limits', () => {
  it('when a connection never sends a request, then the server closes it without an answer (the first-request timer, not a 408)', async () => {
    const idle = open();
    await idle.closed;
    // Node's own header timer would have answered 408 first; the bridge's timer closes without a word.
    expect(idle.received).toBe('');
  });

  it('when headers trickle in, then 408 and the connection is closed', async () => {
    const slow = open((s) => {
      s.write('POST /twilio/voice HTTP/1.1\r\nHost: x\r\n');
      const drip = setInterval(() => (s.writable ? s.write('X-Drip: 1\r\n') : clearInterval(drip)), 200);
      s.on('close', () => clearInterval(drip));
    });
    await slow.closed;
    expect(statuses(slow.received)).toEqual([408]);
  });

  it('when a body trickles in a byte at a time, then 408 and the connection is closed', async () => {
    const slow = open((s) => {
      s.write('POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n');
      const drip = setInterval(() => (s.writable ? s.write('a') : clearInterval(drip)), 200);
      s.on('close', () => clearInterval(drip));
    });
    await slow.closed;
    expect(statuses(slow.received)).toEqual([408]);
  });

  it('when a keep-alive connection sits idle after its answers, then the server keeps it for keepAliveTimeoutMs, as it tells the client, and then closes it', async () => {
    // Two requests at once: the second is answered only if the first answer left the connection open.
    const kept = open((s) => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    await kept.closed;
    expect(statuses(kept.received)).toEqual([200, 200]);
    expect(kept.received).toMatch(/^Connection: keep-alive\r$/im);
    expect(kept.received).toMatch(new RegExp(`^Keep-Alive: timeout=${LIMITS.keepAliveTimeoutMs / 1000}\\r$`, 'im'));
  });

  it('when more than maxConnections are open, then the extra ones are closed unanswered and the server still answers afterwards', async () => {
    // A bridge of its own whose other limits are the defaults, so no held connection times out meanwhile.
    const own = await startBridge({}, { limits: { maxConnections: LIMITS.maxConnections } });
    try {
      const ownPort = Number(new URL(own.url).port);
      // Each held connection has had an answer, so the server has it when the extra one arrives.
      const held = Array.from({ length: LIMITS.maxConnections }, () => open((s) => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'), ownPort));
      await waitFor('every held connection to be answered', () => held.every((h) => statuses(h.received).length === 1));
      const extra = open((s) => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'), ownPort);
      await extra.closed;
      expect(extra.received).toBe('');
      for (const h of held) h.socket.destroy();
      await Promise.all(held.map((h) => h.closed));
      await waitFor('the server to answer again', () => fetch(`${own.url}/healthz`).then((r) => r.status === 200, () => false));
    } finally {
      await own.close();
    }
  });

  it('when the process runs with its defaults, then every limit is one a webhook sender meets easily', () => {
    expect(HTTP_LIMITS.headersTimeoutMs).toBeLessThanOrEqual(HTTP_LIMITS.requestTimeoutMs);
    // Twilio gives up after 15 s, so a request taking longer to arrive is already lost.
    expect(HTTP_LIMITS.requestTimeoutMs).toBeLessThanOrEqual(30_000);
    expect(HTTP_LIMITS.firstRequestTimeoutMs).toBeLessThanOrEqual(15_000);
    // Longer than the idle timeout of the routers in front (Heroku 55 s, Render 60 s): they close first.
    expect(HTTP_LIMITS.keepAliveTimeoutMs).toBeGreaterThan(60_000);
  });
});
