/**
 * The bridge's Retell client prepares its request headers once; what it sends must stay what the stock
 * SDK sends, byte for byte, on the first call and on every call after.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Retell, { APIError } from 'retell-sdk';
import { Agent } from 'undici';
import { bufferedFetch } from '../../src/http/buffered-fetch';
import { createRetellClient } from '../../src/retell/client';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

describe('the Retell client', () => {
  let server: http.Server;
  let base: string;
  const seen: Seen[] = [];
  let status = 201;

  beforeAll(async () => {
    server = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers: Record<string, string> = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers[req.rawHeaders[i]!.toLowerCase()] = req.rawHeaders[i + 1]!;
      seen.push({ method: req.method!, url: req.url!, headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status < 300 ? JSON.stringify({ call_id: 'call_1', agent_id: 'agent_a', call_type: 'phone_call' }) : JSON.stringify({ error_message: 'nope' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    seen.length = 0;
    status = 201;
  });

  const settings = () => ({ apiKey: 'key_test_abc', baseUrl: base, timeoutMs: 3000 }) as Parameters<typeof createRetellClient>[0];
  const stock = () =>
    new Retell({ apiKey: 'key_test_abc', baseURL: base, timeout: 3000, maxRetries: 0, fetch: bufferedFetch(new Agent()), logLevel: 'off' });
  const params = (n: number) => ({
    agent_id: 'agent_a',
    direction: 'inbound' as const,
    from_number: '+14155550199',
    to_number: '+14155550100',
    metadata: { twilio_call_sid: `CA${String(n).padStart(32, '0')}` },
    retell_llm_dynamic_variables: { caller_number: '+14155550199', note: 'ünïcödé "quoted"' },
  });
  const comparable = (s: Seen) => {
    const { host: _host, connection: _connection, ...headers } = s.headers;
    return { method: s.method, url: s.url, headers, body: s.body };
  };

  it('when a call is registered, first and then again, then every request is the stock SDK\'s to the byte', async () => {
    const ours = createRetellClient(settings());
    const theirs = stock();
    for (let n = 0; n < 3; n++) {
      await theirs.call.registerPhoneCall(params(n), { timeout: 3000, maxRetries: 0 });
      await ours.call.registerPhoneCall(params(n), { timeout: 3000, maxRetries: 0 });
    }
    expect(seen).toHaveLength(6);
    for (let n = 0; n < 3; n++) expect(comparable(seen[2 * n + 1]!)).toEqual(comparable(seen[2 * n]!));
    expect(seen[1]!.headers['content-type']).toBe('application/json');
    expect(seen[5]!.headers.authorization).toBe('Bearer key_test_abc');
  });

  it('when the per-call timeout differs, then the headers that carry it differ as the SDK\'s do', async () => {
    const ours = createRetellClient(settings());
    const theirs = stock();
    await ours.call.registerPhoneCall(params(1), { timeout: 3000, maxRetries: 0 });
    await ours.call.registerPhoneCall(params(1), { timeout: 7000, maxRetries: 0 });
    await theirs.call.registerPhoneCall(params(1), { timeout: 7000, maxRetries: 0 });
    expect(seen[1]!.headers['x-stainless-timeout']).toBe('7');
    expect(comparable(seen[1]!)).toEqual(comparable(seen[2]!));
  });

  it('when a request is not a plain JSON POST (a PATCH to a live call), then it goes the SDK\'s own way, with the same bytes', async () => {
    const ours = createRetellClient(settings());
    const theirs = stock();
    status = 200;
    const body = { call_control: { additional_context: 'Sales did not answer.', trigger_response: true } };
    await theirs.call.updateLive('call_1', body);
    await ours.call.updateLive('call_1', body);
    expect(seen[1]!.method).toBe('PATCH');
    expect(comparable(seen[1]!)).toEqual(comparable(seen[0]!));
  });

  it('when Retell refuses, then the error is the SDK\'s APIError with the status, as with the stock client', async () => {
    const ours = createRetellClient(settings());
    status = 422;
    await ours.call.registerPhoneCall(params(1), { maxRetries: 0 }).catch(() => undefined);
    await expect(ours.call.registerPhoneCall(params(2), { maxRetries: 0 })).rejects.toMatchObject({ status: 422 });
    await expect(ours.call.registerPhoneCall(params(3), { maxRetries: 0 })).rejects.toBeInstanceOf(APIError);
  });
});
