import { getExpectedTwilioSignature } from 'twilio';
import { verifyRetellSignature } from '../../../src/retell/signature';
import { PUBLIC_URL, RETELL_KEY, startBridge, type TestBridge } from '../../support/bridge';
import { HookServer, type HookBehaviour } from '../../support/hook-server';
import { ACCOUNT_SID, postSigned, voiceParams } from '../../support/twilio-signing';
import { waitFor } from '../../support/wait';

const VOICE = '/twilio/voice';
const HOOK_TIMEOUT_MS = 500;
const REJECT_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>';

describe('POST /twilio/voice with a lookup hook (INBOUND_WEBHOOK_URL)', () => {
  let hook: HookServer;
  let bridge: TestBridge;

  async function start(env: Record<string, string | undefined> = {}, opts?: Parameters<typeof startBridge>[1]) {
    bridge = await startBridge({ INBOUND_WEBHOOK_URL: `${hook.url}/lookup`, INBOUND_WEBHOOK_TIMEOUT_MS: String(HOOK_TIMEOUT_MS), ...env }, opts);
  }
  beforeEach(async () => {
    hook = await new HookServer().start();
  });
  afterEach(async () => {
    await bridge?.close();
    await hook.stop();
  });

  const post = (params: Record<string, string>, url = bridge.url) => postSigned(url, PUBLIC_URL, VOICE, params);
  const answerWith = (callInbound: Record<string, unknown>): HookBehaviour => ({ kind: 'answer', body: { call_inbound: callInbound } });

  it('when a call comes in, then the hook gets the caller in Retell\'s shape, signed so the bridge\'s own Retell verifier accepts it', async () => {
    await start();
    const params = voiceParams({ CallerName: 'DANA SMITH', StirVerstat: 'TN-Validation-Passed-A' });
    expect((await post(params)).status).toBe(200);

    expect(hook.requests).toHaveLength(1);
    const [req] = hook.requests;
    expect(verifyRetellSignature(req!.raw, RETELL_KEY, req!.headers['x-retell-signature'] as string)).toEqual({ ok: true });
    expect(req!.json).toEqual({
      event: 'call_inbound',
      event_timestamp: expect.any(Number),
      call_inbound: { agent_id: 'agent_default', from_number: params.From, to_number: params.To },
      twilio: { call_sid: params.CallSid, caller_name: 'DANA SMITH', from_city: 'SAN FRANCISCO', from_state: 'CA', from_country: 'US', stir_verstat: 'TN-Validation-Passed-A' },
    });
  });

  it('when Twilio sends a caller detail twice, then the call is still answered and the detail left out of the lookup', async () => {
    await start();
    const params = voiceParams();
    const form = new URLSearchParams(params);
    form.append('FromCity', 'OAKLAND');
    const signature = getExpectedTwilioSignature(bridge.config.twilio.authToken, PUBLIC_URL + VOICE, { ...params, FromCity: [params.FromCity!, 'OAKLAND'] });
    const res = await fetch(bridge.url + VOICE, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: form.toString(),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<Sip>');
    expect((hook.requests[0]!.json as { twilio: object }).twilio).not.toHaveProperty('from_city');
  });

  it('when the hook chooses the agent, version, variables, metadata and overrides, then they reach Retell\'s registration, with the bridge\'s metadata keys winning', async () => {
    await start();
    hook.behaviour = answerWith({
      override_agent_id: 'agent_vip',
      override_agent_version: 3,
      dynamic_variables: { customer_name: 'Dana', order_id: 1182, caller_name: 'Dana Smith' },
      metadata: { crm_id: 'cus_1182', twilio_call_sid: 'CA' + '0'.repeat(32) },
      agent_override: { retell_llm: { begin_message: 'Hi Dana, calling about order 1182?' } },
    });
    const params = voiceParams({ CallerName: 'DANA SMITH' });
    const res = await post(params);

    expect(bridge.retell.registrations).toHaveLength(1);
    const { body, callId } = bridge.retell.registrations[0]!;
    expect(body).toEqual({
      agent_id: 'agent_vip',
      agent_version: 3,
      agent_override: { retell_llm: { begin_message: 'Hi Dana, calling about order 1182?' } },
      direction: 'inbound',
      from_number: params.From,
      to_number: params.To,
      metadata: { crm_id: 'cus_1182', twilio_call_sid: params.CallSid, twilio_account_sid: ACCOUNT_SID },
      retell_llm_dynamic_variables: { caller_number: params.From, called_number: params.To, caller_name: 'Dana Smith', customer_name: 'Dana', order_id: '1182' },
    });
    expect(await res.text()).toContain(`<Sip>sip:${callId}@`);
    expect(await bridge.calls.get(params.CallSid!)).toMatchObject({ state: 'registered', agentId: 'agent_vip', lookup: 'ok', callId });
  });

  it('when the hook answers a version tag, then Retell gets the tag', async () => {
    await start();
    hook.behaviour = answerWith({ override_agent_version: 'prod' });
    await post(voiceParams());
    expect(bridge.retell.registrations[0]!.body).toMatchObject({ agent_id: 'agent_default', agent_version: 'prod' });
  });

  it('when the number has no agent of its own, then the hook is asked without one and its choice takes the call', async () => {
    await start({ RETELL_AGENT_ID: undefined, AGENT_ROUTES: JSON.stringify({ '+14155550111': 'agent_sales' }) });
    hook.behaviour = answerWith({ override_agent_id: 'agent_from_crm' });
    const params = voiceParams({ To: '+14155550999' });
    await post(params);
    expect((hook.requests[0]!.json as { call_inbound: object }).call_inbound).toEqual({ from_number: params.From, to_number: '+14155550999' });
    expect(bridge.retell.registrations[0]!.body.agent_id).toBe('agent_from_crm');
  });

  it('when the hook rejects the call, then Twilio gets <Reject/>, nothing is registered, and repeats get the same without asking again', async () => {
    await start();
    hook.behaviour = answerWith({ reject: true, override_agent_id: 'agent_vip' });
    const params = voiceParams();
    const first = await post(params);
    expect(first.status).toBe(200);
    expect(await first.text()).toBe(REJECT_TWIML);
    expect(await (await post(params)).text()).toBe(REJECT_TWIML);

    expect(hook.requests).toHaveLength(1);
    expect(bridge.retell.received).toBe(0);
    expect(await bridge.calls.get(params.CallSid!)).toMatchObject({ state: 'rejected', lookup: 'rejected', twiml: REJECT_TWIML });
    const answers = await bridge.metrics.prometheus.getSingleMetricAsString('bridge_voice_answers_total');
    expect(answers).toContain('outcome="rejected"} 1');
    expect(answers).toContain('outcome="duplicate"} 1');
  });

  it('when 25 duplicate webhooks arrive at once, then the hook is asked once and every one gets the same TwiML', async () => {
    await start();
    hook.behaviour = { kind: 'answer', body: { call_inbound: { override_agent_id: 'agent_vip' } }, delayMs: 200 };
    const params = voiceParams();
    const responses = await Promise.all(Array.from({ length: 25 }, () => post(params)));
    const bodies = await Promise.all(responses.map((r) => r.text()));

    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(hook.requests).toHaveLength(1);
    expect(bridge.retell.registrations).toHaveLength(1);
    expect(bridge.retell.registrations[0]!.body.agent_id).toBe('agent_vip');
    expect(new Set(bodies).size).toBe(1);
  });

  it('when the hook and Retell together take longer than Retell alone may, then a repeat on another process still waits for the live holder', async () => {
    // 1.7 s of hook and 0.9 s of Retell: past a lease sized for Retell's 1 s alone (2.5 s), within one
    // that counts the hook's 2 s too.
    await start({ INBOUND_WEBHOOK_TIMEOUT_MS: '2000' });
    const second = await startBridge({
      REDIS_PREFIX: bridge.config.redis.prefix,
      RETELL_BASE_URL: bridge.retell.url,
      INBOUND_WEBHOOK_URL: `${hook.url}/lookup`,
      INBOUND_WEBHOOK_TIMEOUT_MS: '2000',
    });
    try {
      hook.behaviour = { kind: 'answer', body: { call_inbound: { override_agent_id: 'agent_vip' } }, delayMs: 1700 };
      bridge.retell.behaviour = { kind: 'ok', delayMs: 900 };
      const params = voiceParams();
      const first = post(params);
      const repeats: Promise<Response>[] = [];
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 300));
        repeats.push(post(params, second.url));
      }
      const bodies = await Promise.all([first, ...repeats].map(async (r) => (await r).text()));
      expect(hook.requests).toHaveLength(1);
      expect(bridge.retell.registrations).toHaveLength(1);
      expect(new Set(bodies)).toEqual(new Set([expect.stringContaining(bridge.retell.registrations[0]!.callId)]));
    } finally {
      await second.close();
    }
  });

  describe('when the hook fails, the caller still reaches the default agent, once the bridge has given up on the hook', () => {
    // Which of the bridge's limits gave up on the hook, as its log and bridge_inbound_webhook_total say;
    // how long a hanging hook delays the answer is bounded in the fault suite (lookup-hook-faults.test.ts).
    it.each([
      ['hangs', { kind: 'hang' } as HookBehaviour, 'timeout'],
      // Its answer would choose another agent, so a bridge still waiting for it when it came would use it.
      ['answers, but only after four times its timeout', { kind: 'answer', body: { call_inbound: { override_agent_id: 'agent_vip' } }, delayMs: 4 * HOOK_TIMEOUT_MS } as HookBehaviour, 'timeout'],
      ['answers 500', { kind: 'answer', status: 500, body: { error: 'crm down' } } as HookBehaviour, 'http_error'],
      ['answers garbage', { kind: 'answer', body: '\u0000\u0001 not json {' } as HookBehaviour, 'invalid'],
      ['answers 10 MB', { kind: 'stream', bytes: 10 * 1024 * 1024 } as HookBehaviour, 'too_large'],
      // 60 KB, under the 64 KB answer limit: fine for JSON.parse, but the registration serialises metadata.
      ['answers metadata nested 10,000 deep', { kind: 'answer', body: `{"call_inbound":{"override_agent_id":"agent_vip","metadata":${'{"m":'.repeat(10_000)}{}${'}'.repeat(10_000)}}}` } as HookBehaviour, 'invalid'],
      ['answers agent_override nested 10,000 deep', { kind: 'answer', body: `{"call_inbound":{"agent_override":${'{"a":'.repeat(10_000)}{}${'}'.repeat(10_000)}}}` } as HookBehaviour, 'invalid'],
      ['answers a variable that is an object', { kind: 'answer', body: { call_inbound: { override_agent_id: 'agent_vip', dynamic_variables: { order: { id: 1 } } } } } as HookBehaviour, 'invalid'],
    ])('when the hook %s', async (_what, behaviour, result) => {
      await start();
      hook.behaviour = behaviour;
      const params = voiceParams();
      const res = await post(params);
      const body = await res.text();

      expect(res.status).toBe(200);
      expect(bridge.retell.registrations).toHaveLength(1);
      const registration = bridge.retell.registrations[0]!;
      expect(registration.body).toMatchObject({ agent_id: 'agent_default', retell_llm_dynamic_variables: { caller_number: params.From } });
      expect(registration.body).not.toHaveProperty('agent_version');
      expect(body).toContain(`<Sip>sip:${registration.callId}@`);
      expect(await bridge.calls.get(params.CallSid!)).toMatchObject({ state: 'registered', agentId: 'agent_default', lookup: result });
      expect(await bridge.metrics.prometheus.getSingleMetricAsString('bridge_inbound_webhook_total')).toContain(`result="${result}"} 1`);
      const gaveUp = bridge.lines.filter((l) => l.includes('lookup hook gave no usable answer: using the default agent') && l.includes(params.CallSid!));
      expect(gaveUp).toHaveLength(1);
      // Given up on by the hook's own timeout (INBOUND_WEBHOOK_TIMEOUT_MS), not by some other limit.
      if (result === 'timeout') expect(JSON.parse(gaveUp[0]!)).toMatchObject({ lookup: 'timeout', reason: `no complete answer within ${HOOK_TIMEOUT_MS} ms` });
      // The bridge asked once, and closed a request it stopped reading rather than leaving it open on the hook.
      expect(hook.requests).toHaveLength(1);
      if (result === 'timeout' || result === 'too_large') await waitFor('the bridge to close the hook\'s request', () => hook.abandoned === 1);
      else expect(hook.abandoned).toBe(0);
    });

    it('when nothing listens at the hook\'s URL', async () => {
      await start();
      await hook.stop();
      const res = await post(voiceParams());
      expect(await res.text()).toContain('<Sip>');
      expect(bridge.retell.registrations[0]!.body.agent_id).toBe('agent_default');
      expect(await bridge.metrics.prometheus.getSingleMetricAsString('bridge_inbound_webhook_total')).toContain('result="unreachable"} 1');
      hook = await new HookServer().start();
    });
  });

  it('when the call is an outbound leg, then the hook is not asked: outbound calls carry their own variables', async () => {
    await start();
    await post(voiceParams({ Direction: 'outbound-api', From: '+14155550100', To: '+14155550123' }));
    expect(hook.requests).toHaveLength(0);
    expect(bridge.retell.registrations).toHaveLength(1);
  });

  it('when Redis is unreachable, then the hook is still asked and the caller connected with its choice', async () => {
    await start({}, { redisUrl: 'redis://127.0.0.1:1' });
    hook.behaviour = answerWith({ override_agent_id: 'agent_vip' });
    const res = await post(voiceParams());
    expect(await res.text()).toContain('<Sip>');
    expect(bridge.retell.registrations[0]!.body.agent_id).toBe('agent_vip');
  });
});
