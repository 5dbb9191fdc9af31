import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { errorHandler } from '../../src/web/error-handler';
import { formParser } from '../../src/http/form';
import { memoryLogger } from '../support/logs';

describe('formParser', () => {
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    const app = express();
    app.post('/', formParser({ limitBytes: 1024, parameterLimit: 5 }), (req, res) => {
      res.json({ body: req.body ?? null, proto: req.body ? Object.getPrototypeOf(req.body) : 'none' });
    });
    app.use(errorHandler(memoryLogger().logger));
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });

  it('when a form arrives, then fields are decoded and repeated keys become arrays', async () => {
    const res = await post('A=1&B=%E2%82%AC+x&A=2&C=');
    expect(await res.json()).toEqual({ body: { A: ['1', '2'], B: '€ x', C: '' }, proto: null });
  });

  it('when a field is named __proto__, then it is an ordinary field', async () => {
    const res = await post('__proto__=x&constructor=y');
    const parsed = (await res.json()) as { body: Record<string, unknown>; proto: unknown };
    expect(Object.keys(parsed.body)).toEqual(['__proto__', 'constructor']);
    expect(parsed.body['__proto__']).toBe('x');
    expect(parsed.proto).toBeNull();
  });

  it('when the body is over the limit, then 413', async () => {
    expect((await post(`A=${'x'.repeat(2000)}`)).status).toBe(413);
  });

  it('when there are more fields than allowed, then 413', async () => {
    expect((await post('a=1&b=2&c=3&d=4&e=5&f=6')).status).toBe(413);
  });

  it('when the charset is not UTF-8, then 415', async () => {
    expect((await post('A=1', { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' })).status).toBe(415);
  });

  it('when the body is compressed, then 415', async () => {
    expect((await post('A=1', { 'content-encoding': 'gzip' })).status).toBe(415);
  });

  it('when the content type is not a form, then the body is left alone', async () => {
    const res = await post('{"A":1}', { 'content-type': 'application/json' });
    expect(await res.json()).toEqual({ body: null, proto: 'none' });
  });
});
