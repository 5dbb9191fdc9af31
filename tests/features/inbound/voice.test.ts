import { CallRepository } from '../../../src/calls/repository';
import { getExpectedTwilioSignature } from 'twilio';
import { startBridge, PUBLIC_URL, type TestBridge } from '../../support/bridge';
import { waitFor } from '../../support/calls';
import { ACCOUNT_SID, newCallSid, postSigned, voiceParams } from '../../support/twilio-signing';

const VOICE = '/twilio/voice';

describe('POST /twilio/voice', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge({ AGENT_ROUTES: JSON.stringify({ '+14155550111': 'agent_sales' }) });
  });
  afterEach(() => bridge.close());

  const post = (params: Record<string, string>, opts?: Parameters<typeof postSigned>[4]) =>
    postSigned(bridge.url, PUBLIC_URL, VOICE, params, opts);

  describe('when a signed inbound call arrives', () => {
    it('then it registers the call with Retell and answers TwiML dialing its SIP URI', async () => {
      const params = voiceParams({ CallerName: 'Ada Lovelace' });
      const res = await post(params);

      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
      expect(bridge.retell.registrations).toHaveLength(1);
      const { body, callId } = bridge.retell.registrations[0]!;
      expect(await res.text()).toBe(
        '<?xml version="1.0" encoding="UTF-8"?><Response>' +
          `<Dial answerOnBridge="true" action="${PUBLIC_URL}/twilio/dial-action" method="POST" referUrl="${PUBLIC_URL}/twilio/refer" referMethod="POST">` +
          `<Sip>sip:${callId}@sip.retellai.com;transport=tcp</Sip></Dial></Response>`,
      );
      expect(body).toEqual({
        agent_id: 'agent_default',
        direction: 'inbound',
        from_number: params.From,
        to_number: params.To,
        metadata: { twilio_call_sid: params.CallSid, twilio_account_sid: ACCOUNT_SID },
        retell_llm_dynamic_variables: { caller_number: params.From, called_number: params.To, caller_name: 'Ada Lovelace' },
      });
    });

    it('then the call record is stored and findable from the Retell call id', async () => {
      const params = voiceParams();
      await post(params);
      const { callId } = bridge.retell.registrations[0]!;

      const record = await bridge.calls.get(params.CallSid!);
      expect(record).toMatchObject({
        callSid: params.CallSid,
        accountSid: ACCOUNT_SID,
        callId,
        agentId: 'agent_default',
        from: params.From,
        to: params.To,
        direction: 'inbound',
        state: 'registered',
      });
      expect(record?.claim_owner).toBeUndefined();
      expect(await bridge.calls.callSidForRetellCall(callId)).toBe(params.CallSid);
      const ttl = await bridge.redis.pttl(bridge.calls.keys.record(params.CallSid!));
      expect(ttl).toBeGreaterThan(20 * 3600 * 1000);
    });

    it('then SIP host and transport come from configuration', async () => {
      await bridge.close();
      bridge = await startBridge({ RETELL_SIP_HOST: 'sip.eu.example.net', SIP_TRANSPORT: 'tls' });
      const res = await post(voiceParams());
      expect(await res.text()).toContain(`<Sip>sip:${bridge.retell.registrations[0]!.callId}@sip.eu.example.net;transport=tls</Sip>`);
    });
  });

  describe('routing', () => {
    it('when the called number is in AGENT_ROUTES, then its agent takes the call', async () => {
      await post(voiceParams({ To: '+14155550111', Called: '+14155550111' }));
      expect(bridge.retell.registrations[0]!.body.agent_id).toBe('agent_sales');
    });

    it('when the called number is not routed, then RETELL_AGENT_ID takes the call', async () => {
      await post(voiceParams({ To: '+14155550999' }));
      expect(bridge.retell.registrations[0]!.body.agent_id).toBe('agent_default');
    });

    it('when the leg is outbound-api, then it registers as outbound and routes by our number (From)', async () => {
      await post(voiceParams({ Direction: 'outbound-api', From: '+14155550111', To: '+14155550123' }));
      expect(bridge.retell.registrations[0]!.body).toMatchObject({ direction: 'outbound', agent_id: 'agent_sales' });
    });

    it('when no agent is routed and there is no default, then the caller gets the fallback and Retell is not called', async () => {
      await bridge.close();
      bridge = await startBridge({ RETELL_AGENT_ID: undefined, AGENT_ROUTES: '{"+14155550111":"agent_sales"}' });
      const res = await post(voiceParams({ To: '+14155550999' }));
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<Say>');
      expect(bridge.retell.registrations).toHaveLength(0);
    });

    it('when the caller ID is withheld, then it is passed as a dynamic variable, not as from_number', async () => {
      await post(voiceParams({ From: 'Anonymous', Caller: 'Anonymous' }));
      const body = bridge.retell.registrations[0]!.body;
      expect(body.from_number).toBeUndefined();
      expect(body.retell_llm_dynamic_variables).toMatchObject({ caller_number: 'Anonymous' });
    });
  });

  describe('signatures', () => {
    it('when the signature header is missing, then 403 and nothing is registered', async () => {
      const res = await post(voiceParams(), { signature: null });
      expect(res.status).toBe(403);
      expect(bridge.retell.registrations).toHaveLength(0);
    });

    it('when the request is signed with another auth token, then 403', async () => {
      const res = await post(voiceParams(), { token: 'not-our-token-0123456789abcdef' });
      expect(res.status).toBe(403);
      expect(bridge.retell.registrations).toHaveLength(0);
    });

    it.each([
      ['a parameter changed', (p: Record<string, string>) => ({ ...p, To: '+19005550000' })],
      ['a parameter added', (p: Record<string, string>) => ({ ...p, Extra: '1' })],
      // A field with this name would vanish if copied into a plain object before the signature check.
      ['a parameter named __proto__ added', (p: Record<string, string>) => ({ ...p, ['__proto__']: 'x' })],
      ['a parameter removed', (p: Record<string, string>) => {
        const { CallerName: _omit, FromCity: _city, ...rest } = p;
        return rest;
      }],
    ])('when %s after signing, then 403 and nothing is registered', async (_what, tamper) => {
      const res = await post(voiceParams(), { tamper });
      expect(res.status).toBe(403);
      expect(bridge.retell.registrations).toHaveLength(0);
    });

    it('when the signature was made for another URL, then 403', async () => {
      const params = voiceParams();
      const res = await postSigned(bridge.url, 'https://attacker.example.com', VOICE, params);
      expect(res.status).toBe(403);
    });

    it('when Twilio signed the URL with the default port, then it is still accepted', async () => {
      const params = voiceParams();
      const signature = getExpectedTwilioSignature((bridge.config.twilio.authToken), `${PUBLIC_URL}:443${VOICE}`, params);
      const res = await post(params, { signature });
      expect(res.status).toBe(200);
    });

    it('when the webhook URL carries a query string, then the signature covers it', async () => {
      const params = voiceParams();
      const ok = await postSigned(bridge.url, PUBLIC_URL, `${VOICE}?tenant=acme`, params);
      expect(ok.status).toBe(200);
      const wrong = getExpectedTwilioSignature(bridge.config.twilio.authToken, `${PUBLIC_URL}${VOICE}?tenant=other`, params);
      const refused = await postSigned(bridge.url, PUBLIC_URL, `${VOICE}?tenant=acme`, voiceParams(), { signature: wrong });
      expect(refused.status).toBe(403);
    });
  });

  describe('malformed input', () => {
    it.each([
      ['CallSid is missing', { CallSid: undefined }, /CallSid/],
      ['CallSid is malformed', { CallSid: 'CA123' }, /CallSid must be CA/],
      ['From is empty', { From: '' }, /From must not be empty/],
      ['To is missing', { To: undefined }, /To must be present/],
      ['AccountSid is another account', { AccountSid: 'AC' + '9'.repeat(32) }, /AccountSid/],
    ])('when %s, then 400 with the reason', async (_what, change, reason) => {
      const params = voiceParams();
      for (const [k, v] of Object.entries(change)) {
        if (v === undefined) delete params[k];
        else params[k] = v;
      }
      const res = await post(params);
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(reason);
      expect(bridge.retell.registrations).toHaveLength(0);
    });

    it('when CallSid appears twice in the form, then 400 (a signed duplicate key cannot pick a call)', async () => {
      const params = voiceParams();
      const form = new URLSearchParams(params);
      form.append('CallSid', newCallSid());
      const asObject: Record<string, string | string[]> = { ...params, CallSid: [...form.getAll('CallSid')] };
      const signature = getExpectedTwilioSignature(bridge.config.twilio.authToken, PUBLIC_URL + VOICE, asObject);
      const res = await fetch(bridge.url + VOICE, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: form.toString(),
      });
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/CallSid must be present, once/);
    });

    it('when the body is larger than 64 KiB, then 413', async () => {
      const res = await post(voiceParams({ Padding: 'x'.repeat(70 * 1024) }));
      expect(res.status).toBe(413);
      expect(bridge.retell.registrations).toHaveLength(0);
    });

    it('when the form has hundreds of parameters, then 413', async () => {
      const many: Record<string, string> = {};
      for (let i = 0; i < 600; i++) many[`P${i}`] = '1';
      const res = await post(voiceParams(many));
      expect(res.status).toBe(413);
    });

    it('when the body is JSON instead of a form, then it is refused without a 5xx', async () => {
      const res = await fetch(bridge.url + VOICE, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-twilio-signature': 'abc' },
        body: JSON.stringify(voiceParams()),
      });
      expect(res.status).toBe(403);
    });
  });

  describe('when the call has already finished', () => {
    it('then nothing is registered and Twilio is told to hang up (a status callback aimed at the voice URL)', async () => {
      const res = await post(voiceParams({ CallStatus: 'completed', CallDuration: '12' }));
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>');
      expect(bridge.retell.registrations).toHaveLength(0);
    });
  });

  describe('when Twilio repeats the webhook', () => {
    it('then sequential repeats replay byte-identical TwiML and register once', async () => {
      const params = voiceParams();
      const bodies: string[] = [];
      for (let i = 0; i < 4; i++) {
        // Twilio's fallback-URL retry adds ErrorCode/ErrorUrl; it is the same call.
        const res = await post(i === 3 ? { ...params, ErrorCode: '11205', ErrorUrl: `${PUBLIC_URL}${VOICE}` } : params);
        expect(res.status).toBe(200);
        bodies.push(await res.text());
      }
      expect(bridge.retell.registrations).toHaveLength(1);
      expect(new Set(bodies).size).toBe(1);
    });

    it('then 30 concurrent repeats while Retell is slow register once and all get the same TwiML', async () => {
      bridge.retell.behaviour = { kind: 'ok', delayMs: 400 };
      const params = voiceParams();
      const responses = await Promise.all(Array.from({ length: 30 }, () => post(params)));
      const bodies = await Promise.all(responses.map((r) => r.text()));

      expect(responses.every((r) => r.status === 200)).toBe(true);
      expect(bridge.retell.registrations).toHaveLength(1);
      expect(new Set(bodies).size).toBe(1);
      expect(bodies[0]).toContain(bridge.retell.registrations[0]!.callId);
    });

    it('then repeats spread over two web processes sharing Redis register once', async () => {
      const second = await startBridge({ REDIS_PREFIX: bridge.config.redis.prefix, RETELL_BASE_URL: bridge.retell.url });
      try {
        bridge.retell.behaviour = { kind: 'ok', delayMs: 300 };
        const params = voiceParams();
        const responses = await Promise.all(
          Array.from({ length: 26 }, (_, i) => postSigned(i % 2 ? second.url : bridge.url, PUBLIC_URL, VOICE, params)),
        );
        const bodies = await Promise.all(responses.map((r) => r.text()));
        expect(bridge.retell.registrations).toHaveLength(1);
        expect(new Set(bodies).size).toBe(1);
      } finally {
        await second.close();
      }
    });

    it('then a request whose claim was taken over while it waited on Retell answers with the new holder\'s TwiML', async () => {
      bridge.retell.behaviour = { kind: 'ok', delayMs: 600 };
      const params = voiceParams();
      const key = bridge.calls.keys.record(params.CallSid!);
      const pending = post(params);
      await waitFor('the registration to reach Retell', async () => bridge.retell.received === 1);
      // What a stall longer than the lease looks like from Redis: another process now holds the claim.
      await bridge.redis.hset(key, 'claim_owner', 'another-process', 'claim_until', String(Date.now() + 5000));
      await new Promise((r) => setTimeout(r, 900));
      const theirs = '<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Sip>sip:call_theirs@sip.retellai.com</Sip></Dial></Response>';
      await bridge.redis.hset(key, 'twiml', theirs);

      const res = await pending;
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(theirs);
    });

    it('then a claim left by a process that died expires, and a later repeat registers the call once its lease is over', async () => {
      const params = voiceParams();
      // What a web process leaves behind if it dies between claiming and answering.
      await new CallRepository(bridge.redis, bridge.config.redis.prefix).claimAnswer(params.CallSid!, 'dead-process', 800, { callSid: params.CallSid!, state: 'registering' });
      const leaseEnd = Number(await bridge.redis.hget(bridge.calls.keys.record(params.CallSid!), 'claim_until'));
      const res = await post(params);
      expect(res.status).toBe(200);
      expect(bridge.retell.registrations).toHaveLength(1);
      const registration = bridge.retell.registrations[0]!;
      expect(await res.text()).toContain(registration.callId);
      // Not taken from the dead holder while its lease still ran (the lease's end is on Redis's clock,
      // which is this machine's): the repeat waited for it to run out, then registered.
      expect(leaseEnd).toBeGreaterThan(0);
      expect(registration.receivedAt).toBeGreaterThanOrEqual(leaseEnd);
      expect(await bridge.calls.get(params.CallSid!)).toMatchObject({ state: 'registered', callId: registration.callId });
    });
  });

  describe('when Retell cannot take the call', () => {
    it.each([
      ['500', { kind: 'status', status: 500 } as const, 'retell_rejected'],
      ['429 (concurrency limit)', { kind: 'status', status: 429 } as const, 'retell_rejected'],
      ['402 (no payment)', { kind: 'status', status: 402 } as const, 'retell_rejected'],
    ])('when Retell answers %s, then 200 with the fallback message', async (_what, behaviour, reason) => {
      bridge.retell.behaviour = behaviour;
      const res = await post(voiceParams());
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>' +
          'We\'re sorry, our assistant can\'t take your call right now. Please try again later.' +
          '</Say><Hangup/></Response>',
      );
      const metrics = await bridge.metrics.prometheus.getSingleMetricAsString('bridge_fallbacks_total');
      expect(metrics).toContain(`reason="${reason}"`);
    });

    // How soon after RETELL_TIMEOUT_MS the caller hears the fallback is bounded in the fault suite
    // (retell-faults.test.ts), which also sees the reason retell_timeout: in the test's VM the SDK cannot
    // tell its own abort from a connection error (another realm's AbortError), so here it may read
    // retell_unreachable.
    it.each([
      ['hangs', { kind: 'hang' } as const],
      // Its answer would connect the call, so a bridge still waiting for it when it came would dial Retell.
      ['answers, but only after four times RETELL_TIMEOUT_MS', { kind: 'ok', delayMs: 4000 } as const],
    ])('when Retell %s, then the bridge gives up on the registration, closes it, answers the fallback, and repeats get the same', async (_what, behaviour) => {
      expect(behaviour.kind === 'hang' || behaviour.delayMs >= 4 * bridge.config.retell.timeoutMs).toBe(true);
      bridge.retell.behaviour = behaviour;
      let abandoned = 0;
      bridge.retell.server.on('request', (_req, res) => res.on('close', () => void (res.writableFinished || abandoned++)));
      const params = voiceParams();
      const res = await post(params);
      const body = await res.text();
      expect(res.status).toBe(200);
      expect(body).toContain('<Say>');
      expect(body).not.toContain('<Sip>');
      expect(bridge.retell.received).toBe(1);
      await waitFor('the bridge to close the registration it gave up on', () => abandoned === 1);
      // The registration's own failure, not the answer's overall deadline running out first.
      const record = await bridge.calls.get(params.CallSid!);
      expect(record).toMatchObject({ state: 'fallback' });
      expect(['retell_timeout', 'retell_unreachable']).toContain(record!.error);
      expect(bridge.lines.some((l) => l.includes('retell registration failed: answering the fallback') && l.includes(params.CallSid!))).toBe(true);
      expect(await (await post(params)).text()).toBe(body);
      expect(bridge.retell.received).toBe(1);
    });

    it('when FALLBACK_NUMBER is set, then the caller is dialed through to it', async () => {
      await bridge.close();
      bridge = await startBridge({ FALLBACK_NUMBER: '+14155550142' });
      bridge.retell.behaviour = { kind: 'status', status: 503 };
      const res = await post(voiceParams());
      expect(await res.text()).toBe(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Dial answerOnBridge="true">+14155550142</Dial></Response>',
      );
    });

    it('when FALLBACK_MESSAGE is set, then it is said (escaped) before hanging up', async () => {
      await bridge.close();
      bridge = await startBridge({ FALLBACK_MESSAGE: 'Sorry <we> & co are closed' });
      bridge.retell.behaviour = { kind: 'status', status: 500 };
      const res = await post(voiceParams());
      expect(await res.text()).toContain('<Say>Sorry &lt;we&gt; &amp; co are closed</Say><Hangup/>');
    });
  });
});

describe('POST /twilio/voice when Redis is unreachable', () => {
  it('then the caller is still connected to the agent, and the failure is logged', async () => {
    const bridge = await startBridge({}, { redisUrl: 'redis://127.0.0.1:1' });
    try {
      const res = await postSigned(bridge.url, PUBLIC_URL, VOICE, voiceParams());
      expect(res.status).toBe(200);
      const body = await res.text();
      expect(bridge.retell.registrations).toHaveLength(1);
      expect(body).toContain(`<Sip>sip:${bridge.retell.registrations[0]!.callId}@`);
      expect(bridge.lines.some((l) => l.includes('answering without dedupe'))).toBe(true);
      const ready = await fetch(`${bridge.url}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      await bridge.close();
    }
  });
});

describe('POST /twilio/dial-action', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startBridge();
  });
  afterAll(() => bridge.close());

  it('when the SIP leg to Retell failed, then the caller gets the fallback', async () => {
    const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/dial-action', {
      ...voiceParams(),
      DialCallStatus: 'failed',
      DialSipResponseCode: '404',
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<Say>');
  });

  it('when the conversation ended normally, then the call hangs up', async () => {
    const params = voiceParams();
    await postSigned(bridge.url, PUBLIC_URL, VOICE, params);
    const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/dial-action', { ...params, DialCallStatus: 'completed' });
    expect(await res.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>');
    expect((await bridge.calls.get(params.CallSid!))?.dialStatus).toBe('completed');
  });

  it('when unsigned, then 403', async () => {
    const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/dial-action', voiceParams(), { signature: null });
    expect(res.status).toBe(403);
  });
});
