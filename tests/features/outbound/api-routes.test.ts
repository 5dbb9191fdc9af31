import { OutboundStore } from '../../../src/features/outbound/repository';
import { addPlaceCall } from '../../../src/features/outbound/jobs';
import { Metrics } from '../../../src/observability/metrics';
import { startWorker } from '../../../src/worker/start';
import { startBridge, type TestBridge } from '../../support/bridge';
import { memoryLogger } from '../../support/logs';
import { waitFor } from '../../support/wait';
import { API_TOKEN, CALLEE, getCall, OUR_NUMBER, OUTBOUND_ENV, postCall } from '../../support/outbound';

/** The API alone: no worker runs, so accepted calls stay queued and nothing reaches Twilio. */
describe('POST /calls, GET /calls/{id}: the outbound API', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge({ ...OUTBOUND_ENV, AGENT_ROUTES: JSON.stringify({ '+14155550111': 'agent_routed' }) });
  });
  afterEach(() => bridge.close());

  const jobs = async () => bridge.outboundQueue.getJobs(['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed']);

  it('when the request is valid, then 202 {id, status: "queued"} with a Location, one job, and GET shows the request with its defaults', async () => {
    const res = await postCall(bridge, { to: CALLEE, dynamic_variables: { first_name: 'Ada' }, metadata: { crm: { id: 7 } }, voicemail: 'hangup' });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; status: string };
    expect(body).toEqual({ id: expect.stringMatching(/^out_[0-9a-f]{32}$/), status: 'queued' });
    expect(res.headers.get('location')).toBe(`/calls/${body.id}`);
    expect((await jobs()).map((j) => j.id)).toEqual([`place-${body.id}`]);

    const { status, body: call } = await getCall(bridge, body.id);
    expect(status).toBe(200);
    expect(call).toEqual({
      id: body.id,
      status: 'queued',
      to: CALLEE,
      from: OUR_NUMBER,
      agent_id: 'agent_default',
      voicemail: 'hangup',
      ring_timeout_s: 30,
      dynamic_variables: { first_name: 'Ada' },
      metadata: { crm: { id: 7 } },
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
  });

  it('when from and agent are not given, then the agent is AGENT_ROUTES[from], else RETELL_AGENT_ID; a given agent and version win', async () => {
    const routed = await postCall(bridge, { to: CALLEE, from: '+14155550111' });
    const named = await postCall(bridge, { to: CALLEE, agent_id: 'agent_named', agent_version: 3 });
    const routedCall = (await getCall(bridge, ((await routed.json()) as { id: string }).id)).body;
    const namedCall = (await getCall(bridge, ((await named.json()) as { id: string }).id)).body;
    expect(routedCall).toMatchObject({ from: '+14155550111', agent_id: 'agent_routed' });
    expect(namedCall).toMatchObject({ from: OUR_NUMBER, agent_id: 'agent_named', agent_version: 3 });
  });

  it.each([
    ['no token', null],
    ['a wrong token', 'wrong-token-0123456789abcdef0'],
    ['the token with one character changed', `${API_TOKEN.slice(0, -1)}x`],
    ['the token as a prefix', API_TOKEN.slice(0, 8)],
  ])('when the request has %s, then 401 and nothing is queued', async (_what, token) => {
    const res = await postCall(bridge, { to: CALLEE }, { token });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(await res.json()).toMatchObject({ error: 'unauthorized' });
    expect(await jobs()).toHaveLength(0);
    expect((await fetch(`${bridge.url}/calls/out_${'0'.repeat(32)}`, { headers: token ? { authorization: `Bearer ${token}` } : {} })).status).toBe(401);
  });

  it('when the token is wrong, then the body is not even parsed: 401, not 400', async () => {
    const res = await postCall(bridge, undefined, { token: 'wrong-token-0123456789abcdef0', raw: '{not json' });
    expect(res.status).toBe(401);
  });

  it.each([
    ['no to', {}, /to: to is required/],
    ['a to that is not E.164', { to: '415-555-0199' }, /to: to must be an E.164 number/],
    ['a from that is not E.164', { to: CALLEE, from: '4155550100' }, /from: from must be an E.164 number/],
    ['a misspelt field', { to: CALLEE, agentid: 'agent_x' }, /agentid/],
    ['an unknown voicemail mode', { to: CALLEE, voicemail: 'sometimes' }, /voicemail must be hangup, message or continue/],
    ['voicemail "message" without the message', { to: CALLEE, voicemail: 'message' }, /voicemail_message is required with voicemail "message"/],
    ['a voicemail_message without voicemail "message"', { to: CALLEE, voicemail: 'hangup', voicemail_message: 'Hi' }, /only used with voicemail "message"/],
    ['a ring timeout under 5 s', { to: CALLEE, ring_timeout_s: 4 }, /ring_timeout_s/],
    ['a ring timeout over 600 s', { to: CALLEE, ring_timeout_s: 601 }, /ring_timeout_s/],
    ['a dynamic variable that is not a string', { to: CALLEE, dynamic_variables: { n: 1 } }, /dynamic_variables values must be strings/],
    ['metadata that is not an object', { to: CALLEE, metadata: [1, 2] }, /metadata must be a JSON object/],
    ['a negative agent version', { to: CALLEE, agent_version: -1 }, /agent_version/],
  ])('when the body has %s, then 400 with the reason and nothing is queued', async (_what, body, reason) => {
    const res = await postCall(bridge, body);
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { error: string; reason: string };
    expect(answer.error).toBe('invalid');
    expect(answer.reason).toMatch(reason);
    expect(await jobs()).toHaveLength(0);
  });

  /** `metadata` holding objects `levels` deep in all, as raw JSON (JSON.stringify of such a value overflows the stack). */
  const nestedMetadata = (levels: number) => `{"to":"${CALLEE}","metadata":${'{"m":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}}`;

  it.each([5_000, 10_000])('when metadata nests %i levels deep (a body well under 64 KiB), then 400 with a reason naming the depth, and nothing is queued', async (levels) => {
    const raw = nestedMetadata(levels);
    expect(Buffer.byteLength(raw)).toBeLessThan(64 * 1024);
    const res = await postCall(bridge, undefined, { raw });
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { error: string; reason: string };
    expect(answer.error).toBe('invalid');
    expect(answer.reason).toMatch(/metadata/);
    expect(answer.reason).toMatch(/nest.*64 levels deep/);
    expect(await jobs()).toHaveLength(0);
  });

  it('when metadata nests 16 levels deep it is accepted; 17 or 63 levels deep (the body within 64), then 400 naming the 16-level limit', async () => {
    expect((await postCall(bridge, undefined, { raw: nestedMetadata(16) })).status).toBe(202);
    for (const levels of [17, 63]) {
      const res = await postCall(bridge, undefined, { raw: nestedMetadata(levels) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { reason: string }).reason).toBe('metadata: metadata may nest at most 16 levels deep');
    }
    expect(await jobs()).toHaveLength(1);
  });

  it.each([
    ['U+0001', '\u0001'],
    ['U+000B', '\u000b'],
    ['U+FFFE', '\ufffe'],
  ])('when voicemail_message holds %s, which XML cannot carry, then it is accepted and stored without it, so it can be said', async (_what, char) => {
    const res = await postCall(bridge, { to: CALLEE, voicemail: 'message', voicemail_message: `  Hi Ada,${char} please call${char} us back.${char} ` });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const record = await new OutboundStore(bridge.redis, bridge.config.redis.prefix).get(id);
    expect(record).toMatchObject({ voicemail: 'message', voicemailMessage: 'Hi Ada, please call us back.' });
  });

  it.each([
    ['only characters XML cannot carry', '\u0001\u000b\ufffe\u0000'],
    ['only white space', ' \t\n '],
    ['nothing', ''],
  ])('when voicemail_message holds %s, then 400: there is nothing to say, and nothing is queued', async (_what, message) => {
    const res = await postCall(bridge, { to: CALLEE, voicemail: 'message', voicemail_message: message });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { reason: string }).reason).toMatch(/voicemail_message must not be empty/);
    expect(await jobs()).toHaveLength(0);
  });

  it('when voicemail_message is over 1,000 characters, then 400, even if cleaning would shorten it', async () => {
    const res = await postCall(bridge, { to: CALLEE, voicemail: 'message', voicemail_message: `${'\u0001'.repeat(10)}${'m'.repeat(995)}` });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { reason: string }).reason).toMatch(/voicemail_message/);
  });

  it('when the body is not JSON, then 400; when it is over 64 KiB, then 413', async () => {
    const bad = await postCall(bridge, undefined, { raw: '{"to": ' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid', reason: 'body is not valid JSON' });
    const huge = await postCall(bridge, { to: CALLEE, metadata: { blob: 'x'.repeat(70_000) } });
    expect(huge.status).toBe(413);
    expect(await jobs()).toHaveLength(0);
  });

  it('when the Idempotency-Key is malformed, then 400', async () => {
    const res = await postCall(bridge, { to: CALLEE }, { key: 'has spaces in it' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { reason: string }).reason).toMatch(/Idempotency-Key/);
  });

  it('when a request with an Idempotency-Key is repeated, also concurrently, then every answer is the same and one call is queued', async () => {
    const body = { to: CALLEE, dynamic_variables: { b: '2', a: '1' } };
    const answers = await Promise.all(Array.from({ length: 5 }, () => postCall(bridge, body, { key: 'order-1234' })));
    const bodies = await Promise.all(answers.map((r) => r.json() as Promise<{ id: string; status: string }>));
    expect(answers.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    // The same request with its keys in another order is the same request.
    const reordered = await postCall(bridge, { dynamic_variables: { a: '1', b: '2' }, to: CALLEE }, { key: 'order-1234' });
    expect(reordered.status).toBe(202);
    expect(await reordered.json()).toEqual(bodies[0]);
    expect(await jobs()).toHaveLength(1);
    expect((await getCall(bridge, bodies[0]!.id)).body.idempotency_key).toBe('order-1234');
    // Another key is another call.
    const other = await postCall(bridge, body, { key: 'order-1235' });
    expect(((await other.json()) as { id: string }).id).not.toBe(bodies[0]!.id);
    expect(await jobs()).toHaveLength(2);
  });

  it('when an Idempotency-Key is reused with a different body, then 422 and the first call is left as it was', async () => {
    const first = await postCall(bridge, { to: CALLEE }, { key: 'k-1' });
    const id = ((await first.json()) as { id: string }).id;
    const second = await postCall(bridge, { to: '+14155550198' }, { key: 'k-1' });
    expect(second.status).toBe(422);
    expect(await second.json()).toEqual({ error: 'key_reused', reason: 'this Idempotency-Key was already used for a different request' });
    expect((await getCall(bridge, id)).body.to).toBe(CALLEE);
    expect(await jobs()).toHaveLength(1);
  });

  it('when a queued call is canceled, then 200 with outcome canceled, its job is gone, and a worker started later places nothing', async () => {
    const id = ((await (await postCall(bridge, { to: CALLEE })).json()) as { id: string }).id;
    const res = await fetch(`${bridge.url}/calls/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id, status: 'ended', outcome: 'canceled', ended_at: expect.any(String) });
    expect(await jobs()).toHaveLength(0);
    // A job that escaped the removal (already taken by a worker) finds the record ended and places nothing.
    await addPlaceCall(bridge.outboundQueue, id);
    const worker = startWorker({ config: bridge.config, logger: memoryLogger('warn').logger, metrics: new Metrics({ defaultMetrics: false }) });
    try {
      await waitFor('the job to finish', async () => (await bridge.outboundQueue.getJob(`place-${id}`))?.returnvalue === 'canceled');
    } finally {
      await worker.close(3000);
    }
    expect(bridge.twilio.requests).toHaveLength(0);
    const again = await fetch(`${bridge.url}/calls/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(again.status).toBe(409);
  });

  it('when GET names an unknown or malformed id, then 404', async () => {
    expect((await getCall(bridge, `out_${'a'.repeat(32)}`)).status).toBe(404);
    expect((await getCall(bridge, 'CA123')).status).toBe(404);
    expect((await fetch(`${bridge.url}/calls/out_${'a'.repeat(32)}`, { method: 'DELETE', headers: { authorization: `Bearer ${API_TOKEN}` } })).status).toBe(404);
  });
});

describe('outbound API settings', () => {
  let bridge: TestBridge | undefined;
  afterEach(() => bridge?.close());

  it('when API_TOKEN is unset, then /calls answers 404 as any unknown path, with or without a token', async () => {
    bridge = await startBridge({ OUTBOUND_FROM_NUMBER: OUR_NUMBER });
    expect((await postCall(bridge, { to: CALLEE })).status).toBe(404);
    expect((await postCall(bridge, { to: CALLEE }, { token: null })).status).toBe(404);
    const get = await fetch(`${bridge.url}/calls/out_${'a'.repeat(32)}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(get.status).toBe(404);
  });

  it('when no from is given and OUTBOUND_FROM_NUMBER is unset, then 400 saying what to do', async () => {
    bridge = await startBridge({ API_TOKEN });
    const res = await postCall(bridge, { to: CALLEE });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { reason: string }).reason).toMatch(/from is required.*OUTBOUND_FROM_NUMBER/);
  });

  it('when OUTBOUND_ALLOWLIST is set, then a number outside it gets 422 and one inside it (exact or by prefix) is queued', async () => {
    bridge = await startBridge({ ...OUTBOUND_ENV, OUTBOUND_ALLOWLIST: '+14155550199,+1646*' });
    const outside = await postCall(bridge, { to: '+19005550100' });
    expect(outside.status).toBe(422);
    expect(await outside.json()).toEqual({ error: 'not_allowed', reason: '+19005550100 is not on OUTBOUND_ALLOWLIST' });
    expect((await postCall(bridge, { to: CALLEE })).status).toBe(202);
    expect((await postCall(bridge, { to: '+16465550100' })).status).toBe(202);
    expect(await bridge.outboundQueue.getJobCounts('waiting')).toEqual({ waiting: 2 });
  });
});
