import { callInboundRequest, LOOKUP_LIMITS, parseCallInboundAnswer } from '../../../src/features/inbound/lookup-contract';

const route = (body: unknown) => {
  const parsed = parseCallInboundAnswer(typeof body === 'string' ? body : JSON.stringify(body));
  if (!parsed.ok) throw new Error(`refused: ${parsed.reason}`);
  if (parsed.decision.kind !== 'route') throw new Error('rejected');
  return parsed.decision.choice;
};

const refusal = (body: unknown) => {
  const parsed = parseCallInboundAnswer(typeof body === 'string' ? body : JSON.stringify(body));
  if (parsed.ok) throw new Error('accepted');
  return parsed.reason;
};

describe('callInboundRequest', () => {
  it('when Twilio sent caller details, then the request has Retell\'s call_inbound shape plus them under twilio', () => {
    expect(
      callInboundRequest(
        { callSid: 'CA1', from: '+14155550199', to: '+14155550100', agentId: 'agent_default', callerName: 'DANA', fromCity: 'OAKLAND', fromState: 'CA', fromCountry: 'US', stirVerstat: 'TN-Validation-Passed-A' },
        1_700_000_000_000,
      ),
    ).toEqual({
      event: 'call_inbound',
      event_timestamp: 1_700_000_000_000,
      call_inbound: { agent_id: 'agent_default', from_number: '+14155550199', to_number: '+14155550100' },
      twilio: { call_sid: 'CA1', caller_name: 'DANA', from_city: 'OAKLAND', from_state: 'CA', from_country: 'US', stir_verstat: 'TN-Validation-Passed-A' },
    });
  });

  it('when there is no default agent and no details, then those keys are left out rather than sent empty', () => {
    const request = callInboundRequest({ callSid: 'CA1', from: 'Anonymous', to: '+14155550100', agentId: undefined }, 1);
    expect(request.call_inbound).toEqual({ from_number: 'Anonymous', to_number: '+14155550100' });
    expect(request.twilio).toEqual({ call_sid: 'CA1' });
  });
});

describe('parseCallInboundAnswer', () => {
  it('when every field is given, then each maps to the registration, variables turned into strings', () => {
    expect(
      route({
        call_inbound: {
          override_agent_id: 'agent_vip',
          override_agent_version: 3,
          dynamic_variables: { customer_name: 'Dana', open_orders: 2, vip: true, ratio: 0.5 },
          metadata: { crm_id: 'cus_1', nested: { a: [1] } },
          agent_override: { retell_llm: { begin_message: 'Hi Dana' } },
        },
      }),
    ).toEqual({
      agentId: 'agent_vip',
      agentVersion: 3,
      dynamicVariables: { customer_name: 'Dana', open_orders: '2', vip: 'true', ratio: '0.5' },
      metadata: { crm_id: 'cus_1', nested: { a: [1] } },
      agentOverride: { retell_llm: { begin_message: 'Hi Dana' } },
    });
  });

  it('when the version is a tag, then it is kept as a string', () => {
    expect(route({ call_inbound: { override_agent_version: 'prod' } }).agentVersion).toBe('prod');
  });

  it.each([['an empty body', ''], ['{}', {}], ['an empty call_inbound', { call_inbound: {} }], ['call_inbound null', { call_inbound: null }]])(
    'when the answer is %s, then nothing changes',
    (_what, body) => {
      expect(route(body)).toEqual({ dynamicVariables: {} });
    },
  );

  it('when fields are null (as many serialisers write absent ones), then they count as absent', () => {
    expect(
      route({ call_inbound: { override_agent_id: null, override_agent_version: null, dynamic_variables: { a: 'x', b: null }, metadata: null, agent_override: null, reject: null } }),
    ).toEqual({ dynamicVariables: { a: 'x' } });
  });

  it('when unknown fields are present, then they are ignored', () => {
    expect(route({ call_inbound: { override_agent_id: 'agent_x', future_field: 1 }, other: true })).toEqual({ agentId: 'agent_x', dynamicVariables: {} });
  });

  it('when reject is true, then the call is rejected whatever else the answer says', () => {
    expect(parseCallInboundAnswer(JSON.stringify({ call_inbound: { reject: true, override_agent_id: 'agent_x' } }))).toEqual({ ok: true, decision: { kind: 'reject' } });
    expect(route({ call_inbound: { reject: false } })).toEqual({ dynamicVariables: {} });
  });

  it.each([
    ['not JSON', '<html>oops</html>', /not JSON/],
    ['a JSON array', [], /the answer/],
    ['an agent id of the wrong type', { call_inbound: { override_agent_id: 42 } }, /call_inbound\.override_agent_id/],
    ['an agent id with spaces', { call_inbound: { override_agent_id: 'agent vip' } }, /override_agent_id: must be an agent id/],
    ['a negative version', { call_inbound: { override_agent_version: -1 } }, /override_agent_version: must be a version number or a tag/],
    ['a version tag Retell would refuse', { call_inbound: { override_agent_version: 'Prod Version' } }, /override_agent_version/],
    ['variables as a list', { call_inbound: { dynamic_variables: ['a'] } }, /dynamic_variables: must be a JSON object/],
    ['a variable holding an object', { call_inbound: { dynamic_variables: { order: { id: 1 } } } }, /dynamic_variables\.order/],
    ['metadata as a string', { call_inbound: { metadata: 'x' } }, /metadata: must be a JSON object/],
    ['agent_override as a list', { call_inbound: { agent_override: [] } }, /agent_override: must be a JSON object/],
    ['reject as a string', { call_inbound: { reject: 'yes' } }, /reject: must be true or false/],
    ['call_inbound as a string', { call_inbound: 'agent_vip' }, /call_inbound/],
  ])('when the answer has %s, then it is refused whole, with the field named', (_what, body, reason) => {
    expect(refusal(body)).toMatch(reason);
  });

  /** An answer whose `field` holds objects `levels` deep, as raw JSON (JSON.stringify of such a value overflows the stack). */
  const nested = (field: string, levels: number) => `{"call_inbound":{"${field}":${'{"m":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}}}`;

  it.each([
    ['metadata', 10_000],
    ['agent_override', 10_000],
    ['metadata', 63],
    ['dynamic_variables', 10_000],
  ])('when %s nests %i levels deep (the answer more than 64), then the answer is refused for its depth, without throwing', (field, levels) => {
    expect(refusal(nested(field, levels))).toMatch(/the answer nests more than 64 levels deep \(in call_inbound\)/);
  });

  it('when metadata nests 62 levels deep (the answer 64), then it is used as it is', () => {
    let metadata = route(nested('metadata', 62)).metadata;
    let levels = 0;
    while (metadata && typeof metadata === 'object') {
      levels++;
      metadata = (metadata as { m?: Record<string, unknown> }).m;
    }
    expect(levels).toBe(62);
  });

  it('when there are too many variables, or one is too long or has too long a name, then the answer is refused', () => {
    const many = Object.fromEntries(Array.from({ length: LOOKUP_LIMITS.variables + 1 }, (_, i) => [`v${i}`, 'x']));
    expect(refusal({ call_inbound: { dynamic_variables: many } })).toMatch(/at most 100 variables/);
    expect(refusal({ call_inbound: { dynamic_variables: { long: 'x'.repeat(LOOKUP_LIMITS.variableValueChars + 1) } } })).toMatch(/at most 10000 characters/);
    expect(refusal({ call_inbound: { dynamic_variables: { ['n'.repeat(LOOKUP_LIMITS.variableNameChars + 1)]: 'x' } } })).toMatch(/dynamic_variables: names must be 1-100 characters/);
    const exactly = Object.fromEntries(Array.from({ length: LOOKUP_LIMITS.variables }, (_, i) => [`v${i}`, 'x'.repeat(10)]));
    expect(Object.keys(route({ call_inbound: { dynamic_variables: exactly } }).dynamicVariables)).toHaveLength(100);
  });
});
