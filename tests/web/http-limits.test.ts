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

  it('when the process runs with its defaults, then every limit is one a webhook sender meets easily', () => {
    expect(HTTP_LIMITS.headersTimeoutMs).toBeLessThanOrEqual(HTTP_LIMITS.requestTimeoutMs);
    // Twilio gives up after 15 s, so a request taking longer to arrive is already lost.
    expect(HTTP_LIMITS.requestTimeoutMs).toBeLessThanOrEqual(30_000);
    expect(HTTP_LIMITS.firstRequestTimeoutMs).toBeLessThanOrEqual(15_000);
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
