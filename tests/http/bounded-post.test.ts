import { Agent } from 'undici';
import { boundedPost, PostError } from '../../src/http/bounded-post';
import { HookServer } from '../support/hook-server';
import { freePort } from '../support/ports';

describe('boundedPost', () => {
  let server: HookServer;
  let dispatcher: Agent;
  beforeEach(async () => {
    server = await new HookServer().start();
    dispatcher = new Agent({ keepAliveTimeout: 1000 });
  });
  afterEach(async () => {
    await server.stop();
    await dispatcher.close();
  });

  const post = (overrides: Partial<Parameters<typeof boundedPost>[2]> = {}, url = `${server.url}/hook?tenant=a`) =>
    boundedPost(dispatcher, url, { headers: { 'content-type': 'application/json' }, body: '{"x":1}', timeoutMs: 1000, maxBytes: 1024, ...overrides });

  const failure = async (promise: Promise<unknown>) => {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PostError);
    return err as PostError;
  };

  it('when the server answers, then its status and body are returned, and the path, query, headers and body arrived as sent', async () => {
    server.behaviour = { kind: 'answer', status: 201, body: { ok: true } };
    expect(await post({ headers: { 'content-type': 'application/json', 'x-test': 'yes' } })).toEqual({ status: 201, body: '{"ok":true}' });
    const [req] = server.requests;
    expect(req).toMatchObject({ method: 'POST', path: '/hook?tenant=a', json: { x: 1 } });
    expect(req!.headers['x-test']).toBe('yes');
  });

  it('when the server answers an error status, then it is returned, not thrown', async () => {
    server.behaviour = { kind: 'answer', status: 500, body: 'boom' };
    expect(await post()).toEqual({ status: 500, body: 'boom' });
  });

  it('when the server redirects, then the redirect is the answer and its target is never requested', async () => {
    const target = await new HookServer().start();
    try {
      server.behaviour = { kind: 'answer', status: 307, body: '', headers: { location: `${target.url}/elsewhere` } };
      expect((await post()).status).toBe(307);
      expect(target.requests).toHaveLength(0);
    } finally {
      await target.stop();
    }
  });

  it('when the server never answers, then it fails with timeout after timeoutMs', async () => {
    server.behaviour = { kind: 'hang' };
    const started = Date.now();
    const err = await failure(post({ timeoutMs: 300 }));
    expect(err.kind).toBe('timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('when the headers come in time but the body does not, then the deadline covers the body too', async () => {
    // Had the deadline stopped at the headers, the body would arrive and the post succeed.
    server.behaviour = { kind: 'answer', body: {}, bodyDelayMs: 400 };
    expect((await failure(post({ timeoutMs: 150 }))).kind).toBe('timeout');
  });

  it('when Content-Length says the answer is over maxBytes, then it fails with too_large without reading it', async () => {
    server.behaviour = { kind: 'large', bytes: 10 * 1024 * 1024 };
    const err = await failure(post({ timeoutMs: 5000 }));
    expect(err.kind).toBe('too_large');
    expect(server.bytesSent).toBeLessThan(10 * 1024 * 1024);
  });

  it('when an answer without Content-Length grows past maxBytes, then it stops reading and fails with too_large', async () => {
    server.behaviour = { kind: 'stream', bytes: 10 * 1024 * 1024 };
    const err = await failure(post({ timeoutMs: 5000 }));
    expect(err.kind).toBe('too_large');
    expect(err.message).toContain('1024 bytes');
  });

  it('when an answer is exactly maxBytes, then it is read', async () => {
    server.behaviour = { kind: 'stream', bytes: 1024 };
    expect((await post()).body).toHaveLength(1024);
  });

  it('when nothing listens at the URL, then it fails with unreachable and the reason', async () => {
    const port = await freePort();
    const err = await failure(post({}, `http://127.0.0.1:${port}/hook`));
    expect(err.kind).toBe('unreachable');
    expect(err.message).toBe('ECONNREFUSED');
  });
});
