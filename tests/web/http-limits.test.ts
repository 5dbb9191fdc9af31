/**
 * Slow and idle clients are cut off, and connections are capped: Twilio and Retell send each request
 * whole and at once, so anything slower only holds sockets and memory. The limits are shortened here
 * so the cases run in seconds; the defaults are HTTP_LIMITS.
 */
import type http from 'node:http';
import net from 'node:net';
import { SILENT_GRACE_MS } from '../../src/http/connection-slots';
import { createHttpServer, HTTP_LIMITS } from '../../src/web/start';
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

  it('when the process runs with its defaults, then every limit is one a webhook sender meets easily', () => {
    expect(HTTP_LIMITS.headersTimeoutMs).toBeLessThanOrEqual(HTTP_LIMITS.requestTimeoutMs);
    // Twilio gives up after 15 s, so a request taking longer to arrive is already lost.
    expect(HTTP_LIMITS.requestTimeoutMs).toBeLessThanOrEqual(30_000);
    expect(HTTP_LIMITS.firstRequestTimeoutMs).toBeLessThanOrEqual(15_000);
    // Longer than the idle timeout of the routers in front (Heroku 55 s, Render 60 s): they close first.
    expect(HTTP_LIMITS.keepAliveTimeoutMs).toBeGreaterThan(60_000);
  });
});

/**
 * At the cap, connections that serve no one give way to a new one; a server of five connections whose
 * timeouts are long, so that only the cap closes anything, and whose app holds `/hold` until released.
 */
describe('the HTTP server at its connection cap', () => {
  const CAP = 5;
  let server: http.Server;
  let capPort: number;
  let held: http.ServerResponse[];
  let clients: Client[];

  beforeEach(async () => {
    held = [];
    clients = [];
    const app: http.RequestListener = (req, res) => (req.url === '/hold' ? void held.push(res) : void res.end('ok'));
    server = createHttpServer(app, { ...HTTP_LIMITS, maxConnections: CAP });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    capPort = (server.address() as net.AddressInfo).port;
  });
  afterEach(async () => {
    for (const c of clients) c.socket.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  interface Client {
    name: string;
    socket: net.Socket;
    received: string;
    closed: boolean;
  }

  /** Opens a connection and resolves once it is connected (or closed). */
  function connect(name: string): Promise<Client> {
    return new Promise((resolve) => {
      const socket = net.connect(capPort, '127.0.0.1');
      const client: Client = { name, socket, received: '', closed: false };
      clients.push(client);
      socket.on('data', (d) => void (client.received += d.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Object.assign(client, { closed: true })));
      socket.on('connect', () => resolve(client));
    });
  }

  async function until(what: string, done: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
    if (!done()) throw new Error(`gave up waiting for ${what}`);
  }

  /** Sends a request and waits for its answer (`ok`), or for the connection to close. */
  async function get(client: Client, path = '/'): Promise<void> {
    client.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    if (path !== '/hold') await until(`an answer on ${client.name}`, () => client.closed || client.received.endsWith('\r\n\r\nok'));
  }

  /** Waits a moment for closes to reach the client, then names the connections closed. */
  async function closedNames(): Promise<string[]> {
    await new Promise((r) => setTimeout(r, 100));
    return clients.filter((c) => c.closed).map((c) => c.name);
  }

  it('when every slot holds a connection that sent nothing for a while, then a new request is answered and the oldest silent one is closed', async () => {
    for (let i = 0; i < CAP; i++) await connect(`silent${i}`);
    await new Promise((r) => setTimeout(r, SILENT_GRACE_MS));
    const fresh = await connect('fresh');
    await get(fresh);
    expect(fresh.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(await closedNames()).toEqual(['silent0']);
  });

  it('when every slot holds an idle keep-alive connection, then a new request is answered and the one idle longest is closed', async () => {
    for (let i = 0; i < CAP; i++) await get(await connect(`idle${i}`));
    const fresh = await connect('fresh');
    await get(fresh);
    expect(fresh.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(await closedNames()).toEqual(['idle0']);
  });

  it('when every slot holds a request and the oldest has a body still arriving, then that one is closed for a new request', async () => {
    const slow = await connect('slow');
    slow.socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
    for (let i = 1; i < CAP; i++) await get(await connect(`held${i}`), '/hold');
    await until('every request to reach the app', () => held.length === CAP - 1);
    const fresh = await connect('fresh');
    await get(fresh);
    expect(fresh.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(await closedNames()).toEqual(['slow']);
  });

  it('when every slot holds a request being handled, then a new connection is closed at once, and answered again once a slot frees', async () => {
    for (let i = 0; i < CAP; i++) await get(await connect(`held${i}`), '/hold');
    await until('every request to reach the app', () => held.length === CAP);
    const refused = await connect('refused');
    await until('the refused connection to close', () => refused.closed);
    expect(refused.received).toBe('');
    expect(await closedNames()).toEqual(['refused']);

    held[0]!.end('ok');
    await until('the held answer', () => clients[0]!.received.endsWith('\r\n\r\nok'));
    const later = await connect('later');
    await get(later);
    expect(later.received).toMatch(/^HTTP\/1\.1 200 /);
    // The connection whose response was sent was idle, so it made room.
    expect(await closedNames()).toEqual(['held0', 'refused']);
  });
});
