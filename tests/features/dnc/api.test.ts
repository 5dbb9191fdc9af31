/**
 * The do-not-call list through the bridge's own surfaces, against the real Redis: the API (POST /dnc,
 * GET and DELETE /dnc/{number}, bearer API_TOKEN) with every kind of bad input, POST /calls refusing a
 * listed number, an SMS STOP from the fake Twilio, and the agent's do_not_call function.
 */
import { startBridge, PUBLIC_URL, type TestBridge } from '../../support/bridge';
import { liveCall } from '../../support/calls';
import { API_TOKEN, CALLEE, OUR_NUMBER, OUTBOUND_ENV, postCall, placeCall, waitForCall } from '../../support/outbound';
import { functionCallBody, postRetell } from '../../support/retell-signing';

const CALLER = '+14155550199';

describe('do-not-call list', () => {
  let bridge: TestBridge;
  afterEach(() => bridge?.close());

  const dnc = (method: string, path: string, body?: unknown, opts: { token?: string | null; raw?: string; contentType?: string } = {}) => {
    const headers: Record<string, string> = {};
    if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? API_TOKEN}`;
    if (body !== undefined || opts.raw !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    return fetch(`${bridge.url}${path}`, { method, headers, body: opts.raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  };
  const listed = async (number: string) => (await dnc('GET', `/dnc/${encodeURIComponent(number)}`)).status === 200;

  describe('the API', () => {
    beforeEach(async () => {
      bridge = await startBridge(OUTBOUND_ENV);
    });

    it('when numbers are posted, then valid ones are listed in E.164 with source api, invalid ones are reported by index, and each can be read and removed', async () => {
      const res = await dnc('POST', '/dnc', { numbers: ['+14155550101', '+1 (415) 555-0102', 'tel:+14155550101', '4155550103', 42, null] });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        added: 2,
        already_listed: 0,
        invalid: [
          { index: 3, value: '4155550103', reason: expect.stringContaining('international form') },
          { index: 4, value: null, reason: 'a number, not a phone number string' },
          { index: 5, value: null, reason: 'a null, not a phone number string' },
        ],
      });

      // The + of the path as %2B, as a literal +, or as the space a form-style encoder makes of it.
      for (const path of ['/dnc/%2B14155550102', '/dnc/+14155550102', '/dnc/%2014155550102']) {
        const got = await dnc('GET', path);
        expect(got.status).toBe(200);
        expect(await got.json()).toEqual({ number: '+14155550102', added_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/), source: 'api' });
      }
      expect((await dnc('POST', '/dnc', { numbers: ['+14155550102', '+14155550104'], source: 'crm_import' })).status).toBe(200);
      expect(await (await dnc('GET', '/dnc/%2B14155550104')).json()).toMatchObject({ source: 'crm_import' });

      const del = await dnc('DELETE', '/dnc/%2B14155550102');
      expect(del.status).toBe(200);
      expect(await del.json()).toEqual({ number: '+14155550102', removed: true });
      expect((await dnc('DELETE', '/dnc/%2B14155550102')).status).toBe(404);
      const missing = await dnc('GET', '/dnc/%2B14155550102');
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ error: 'not_found', number: '+14155550102' });
    });

    it('when a request is not authenticated, then 401 and nothing is read or changed', async () => {
      for (const token of [null, 'wrong-token-0123456789abcdef']) {
        expect((await dnc('POST', '/dnc', { numbers: ['+14155550105'] }, { token })).status).toBe(401);
        expect((await dnc('GET', '/dnc/%2B14155550105', undefined, { token })).status).toBe(401);
        expect((await dnc('DELETE', '/dnc/%2B14155550105', undefined, { token })).status).toBe(401);
      }
      expect(await listed('+14155550105')).toBe(false);
    });

    it.each([
      ['malformed JSON', { raw: '{"numbers": [' }],
      ['an array body', { body: ['+14155550106'] }],
      ['a string body', { body: '+14155550106' }],
      ['numbers missing', { body: {} }],
      ['numbers not an array', { body: { numbers: '+14155550106' } }],
      ['numbers an object', { body: { numbers: { a: '+14155550106' } } }],
      ['numbers empty', { body: { numbers: [] } }],
      ['an unknown field', { body: { numbers: ['+14155550106'], numbrs: [] } }],
      ['a source of the wrong type', { body: { numbers: ['+14155550106'], source: 7 } }],
      ['a source with spaces', { body: { numbers: ['+14155550106'], source: 'a b' } }],
      ['more than 10,000 numbers', { body: { numbers: Array.from({ length: 10_001 }, (_, i) => `+1415${String(5_000_000 + i).padStart(7, '0')}`) } }],
      ['no valid number', { body: { numbers: ['STOP', '', '+1', '+999123456789', 'x'.repeat(10_000)] } }],
      ['JSON nested too deep', { raw: `{"numbers": [${'['.repeat(100)}${']'.repeat(100)}]}` }],
    ])('when POST /dnc has %s, then 400 with a reason, and nothing is listed', async (_what, req) => {
      const res = await dnc('POST', '/dnc', 'body' in req ? req.body : undefined, 'raw' in req ? { raw: req.raw } : {});
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; reason: string };
      expect(body.error).toBe('invalid');
      expect(body.reason.length).toBeGreaterThan(5);
      expect(await bridge.redis.hlen(`${bridge.config.redis.prefix}:dnc`)).toBe(0);
    });

    it('when POST /dnc reports every entry invalid, then each is named', async () => {
      const res = await dnc('POST', '/dnc', { numbers: ['nope', '+1'] });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { invalid: unknown[] }).invalid).toHaveLength(2);
    });

    it('when the body is larger than 1 MiB, then 413', async () => {
      const res = await dnc('POST', '/dnc', undefined, { raw: JSON.stringify({ numbers: ['+14155550107'], pad: 'x'.repeat(1024 * 1024) }) });
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ error: 'too_large' });
    });

    it('when 10,000 numbers are posted, then all are listed in one request', async () => {
      const numbers = Array.from({ length: 10_000 }, (_, i) => `+1415${String(6_000_000 + i).padStart(7, '0')}`);
      const res = await dnc('POST', '/dnc', { numbers });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ added: 10_000, already_listed: 0, invalid: [] });
      expect(await bridge.redis.hlen(`${bridge.config.redis.prefix}:dnc`)).toBe(10_000);
    });

    it.each([
      ['not a number', '/dnc/hello'],
      ['a national number', '/dnc/4155550100'],
      ['a broken escape', '/dnc/%E0%A4%A'],
      ['an overlong path', `/dnc/%2B${'1'.repeat(500)}`],
    ])('when the path holds %s, then GET and DELETE answer 400 in JSON', async (_what, path) => {
      for (const method of ['GET', 'DELETE']) {
        const res = await dnc(method, path);
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ error: 'invalid' });
      }
    });

    it('when POST /calls names a listed number, then 422 do_not_call and nothing is queued; a number taken off the list can be called', async () => {
      await dnc('POST', '/dnc', { numbers: [CALLEE] });
      const res = await postCall(bridge, { to: CALLEE });
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual({ error: 'do_not_call', reason: `${CALLEE} is on the do-not-call list` });
      expect(await bridge.outboundQueue.getJobCounts('waiting', 'delayed', 'active')).toEqual({ waiting: 0, delayed: 0, active: 0 });
      expect(await bridge.metrics.prometheus.getSingleMetricAsString('bridge_dial_refusals_total')).toContain('stage="request",reason="do_not_call"} 1');

      await dnc('DELETE', `/dnc/${encodeURIComponent(CALLEE)}`);
      expect((await postCall(bridge, { to: CALLEE })).status).toBe(202);
    });

    it('when a request taken before the number was listed is repeated with its Idempotency-Key, then it gets its first answer', async () => {
      const id = await placeCall(bridge, {}, 'key-1');
      await dnc('POST', '/dnc', { numbers: [CALLEE] });
      const again = await postCall(bridge, { to: CALLEE }, { key: 'key-1' });
      expect(again.status).toBe(202);
      expect(await again.json()).toEqual({ id, status: 'queued' });
      expect((await postCall(bridge, { to: CALLEE }, { key: 'key-2' })).status).toBe(422);
    });
  });

  it('when API_TOKEN is unset, then /dnc answers 404', async () => {
    bridge = await startBridge();
    expect((await fetch(`${bridge.url}/dnc/%2B14155550100`)).status).toBe(404);
    expect((await fetch(`${bridge.url}/dnc`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('when a person texts STOP to one of the numbers, then they are listed with source sms_stop', async () => {
    bridge = await startBridge(OUTBOUND_ENV);
    bridge.twilio.addNumber(OUR_NUMBER);
    const sent = await bridge.twilio.messages.messageTo(`${PUBLIC_URL}/twilio/sms`, CALLER, OUR_NUMBER, 'STOP');
    expect(sent.status).toBe(200);
    expect(await (await dnc('GET', `/dnc/${encodeURIComponent(CALLER)}`)).json()).toMatchObject({ number: CALLER, source: 'sms_stop' });
    expect((await postCall(bridge, { to: CALLER })).status).toBe(422);
  });

  describe('the agent function do_not_call', () => {
    const call = (callId: string, extra: Record<string, unknown> = {}, path = '/retell/functions/do_not_call', opts: { signature?: string | null } = {}) =>
      postRetell(bridge.url, path, functionCallBody('do_not_call', callId, {}, extra), opts);

    it('when the agent calls it on an inbound call, then the caller is listed with source agent, and asking again is harmless', async () => {
      bridge = await startBridge(OUTBOUND_ENV);
      const { callId } = await liveCall(bridge);
      const res = await call(callId);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'done', result: "Done: this number is on our do-not-call list, and we won't call it again." });
      expect(await (await dnc('GET', `/dnc/${encodeURIComponent(CALLER)}`)).json()).toMatchObject({ number: CALLER, source: 'agent' });
      // The bridge's own number is never listed.
      expect(await listed(OUR_NUMBER)).toBe(false);

      const again = await call(callId, {}, '/retell/functions');
      expect(again.status).toBe(200);
      expect(await bridge.redis.hlen(`${bridge.config.redis.prefix}:dnc`)).toBe(1);
      expect(await bridge.metrics.prometheus.getSingleMetricAsString('bridge_function_calls_total')).toContain('name="do_not_call",outcome="repeat"} 1');
    });

    it('when the agent calls it on an outbound call, then the person called is listed', async () => {
      bridge = await startBridge(OUTBOUND_ENV, { worker: true });
      bridge.twilio.addNumber(OUR_NUMBER);
      const id = await placeCall(bridge);
      await waitForCall(bridge, id, 'answered', (v) => v.status === 'in-progress' && v.retell_call_id !== undefined);
      const registration = bridge.retell.registrations[0]!;
      const res = await call(registration.callId, { direction: 'outbound', from_number: OUR_NUMBER, to_number: CALLEE, metadata: registration.body.metadata });
      expect(res.status).toBe(200);
      expect(await (await dnc('GET', `/dnc/${encodeURIComponent(CALLEE)}`)).json()).toMatchObject({ number: CALLEE, source: 'agent' });
      expect(await listed(OUR_NUMBER)).toBe(false);
    });

    it('when the caller\'s number is withheld, then 422 with a sentence and nothing is listed', async () => {
      bridge = await startBridge(OUTBOUND_ENV);
      const { callId } = await liveCall(bridge, { From: 'Anonymous', Caller: 'Anonymous' });
      const res = await call(callId);
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ result: "I can't add this number to the do-not-call list: it is withheld." });
      expect(await bridge.redis.hlen(`${bridge.config.redis.prefix}:dnc`)).toBe(0);
    });

    it('when the call is unknown, then 404; unsigned or forged, 401; another function\'s name on its URL, 400; nothing is listed', async () => {
      bridge = await startBridge(OUTBOUND_ENV);
      expect((await call('call_unknown')).status).toBe(404);
      const { callId } = await liveCall(bridge);
      expect((await call(callId, {}, undefined, { signature: null })).status).toBe(401);
      expect((await call(callId, {}, undefined, { signature: 'v=1,d=00' })).status).toBe(401);
      const wrongName = await postRetell(bridge.url, '/retell/functions/do_not_call', functionCallBody('end_call', callId, {}));
      expect(wrongName.status).toBe(400);
      expect(await bridge.redis.hlen(`${bridge.config.redis.prefix}:dnc`)).toBe(0);
    });
  });
});
