import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { bufferedFetch } from '../../src/http/buffered-fetch';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('bufferedFetch', () => {
  let server: http.Server;
  let base: string;
  const seen: Seen[] = [];
  /**
   * The slow paths hold their answer (all of it, or the rest of the body) until the test releases it;
   * `waiting` resolves once the server has the request and has sent what it sends at once.
   */
  let slow: { waiting: Promise<void>; arrived: () => void; release: () => void; closedEarly: boolean };
  const newSlow = () => {
    let arrived!: () => void;
    const waiting = new Promise<void>((resolve) => (arrived = resolve));
    slow = { waiting, arrived, release: () => undefined, closedEarly: false };
  };
  const agent = new Agent({ keepAliveTimeout: 1000 });
  const fetchImpl = bufferedFetch(agent);

  beforeAll(async () => {
    server = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (req.url === '/json') return void res.writeHead(201, { 'content-type': 'application/json', 'x-thing': 'a' }).end('{"ok":true}');
      if (req.url === '/redirect') return void res.writeHead(302, { location: '/json' }).end();
      if (req.url === '/slow-headers' || req.url === '/slow-body') {
        const current = slow;
        res.on('close', () => void (current.closedEarly = !res.writableFinished));
        if (req.url === '/slow-headers') {
          current.release = () => void (res.destroyed || res.writeHead(200).end('late'));
        } else {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first part, ');
          current.release = () => void (res.destroyed || res.end('second part'));
        }
        return current.arrived();
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('nothing here');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await agent.close();
  });
  beforeEach(() => {
    seen.length = 0;
  });

  it('when the SDK posts a JSON string with a Headers object, then the server gets method, headers and body as sent, and the answer reads as JSON', async () => {
    const headers = new Headers({ 'content-type': 'application/json', authorization: 'Bearer k' });
    const res = await fetchImpl(`${base}/json`, { method: 'post', headers, body: '{"agent_id":"a"}' });
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/json', body: '{"agent_id":"a"}' });
    expect(seen[0]!.headers).toMatchObject({ 'content-type': 'application/json', authorization: 'Bearer k' });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.headers.get('X-Thing')).toBe('a');
    expect(res.headers.has('x-missing')).toBe(false);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('when a body is read twice, then the second read fails as fetch does, and clone() before reading gives a second copy', async () => {
    const res = await fetchImpl(`${base}/json`);
    const copy = res.clone();
    expect(await res.text()).toBe('{"ok":true}');
    expect(res.bodyUsed).toBe(true);
    await expect(res.text()).rejects.toThrow(TypeError);
    expect(await copy.arrayBuffer()).toEqual(new TextEncoder().encode('{"ok":true}').buffer);
  });

  it('when the answer is a 4xx or a redirect, then it is returned as it is, not followed', async () => {
    const missing = await fetchImpl(`${base}/nope`, { headers: [['x-a', '1']] });
    expect(missing.status).toBe(404);
    expect(missing.ok).toBe(false);
    expect(await missing.text()).toBe('nothing here');
    expect(seen[0]!.headers['x-a']).toBe('1');

    const redirect = await fetchImpl(`${base}/redirect`, { headers: { 'x-b': '2' } });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/json');
    expect(seen).toHaveLength(2);
  });

  it.each([
    ['while waiting for headers', '/slow-headers'],
    ['while the body is still arriving', '/slow-body'],
  ])('when the signal aborts %s, then the promise rejects with an AbortError, not with the answer sent just after', async (_when, path) => {
    newSlow();
    const controller = new AbortController();
    const fetched = fetchImpl(`${base}${path}`, { signal: controller.signal });
    const settled = fetched.then(
      () => 'resolved',
      () => 'rejected',
    );
    await slow.waiting;
    // Had the abort not reached the request, it would complete with the answer released just after.
    controller.abort();
    slow.release();
    await expect(fetched).rejects.toMatchObject({ name: 'AbortError' });
    expect(await settled).toBe('rejected');
  });

  it('when a timeout signal fires while the body is still arriving, then the promise rejects and the request is closed, not left open on the server', async () => {
    newSlow();
    // Only the signal can end this request: the server sends the rest of the body only when released.
    await expect(fetchImpl(`${base}/slow-body`, { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ name: expect.stringMatching(/AbortError|TimeoutError/) });
    expect(seen.map((s) => s.url)).toEqual(['/slow-body']);
    await waitFor('the server to see the request closed', () => slow.closedEarly);
    slow.release();
  });

  it('when nothing listens at the address, then the promise rejects', async () => {
    const port = await freePort();
    await expect(fetchImpl(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('when given a Request object, then it goes through undici fetch on the same dispatcher and still works', async () => {
    const res = await fetchImpl(new Request(`${base}/json`, { method: 'POST', body: 'x' }));
    expect(res.status).toBe(201);
    expect(seen[0]).toMatchObject({ method: 'POST', body: 'x' });
  });
});
