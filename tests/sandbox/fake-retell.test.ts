import { FakeRetell } from '../../src/sandbox/fake-retell';

const KEY = 'key_fake_0123456789';

describe('FakeRetell: POST /v2/register-phone-call', () => {
  let retell: FakeRetell;
  beforeEach(async () => {
    retell = await new FakeRetell(KEY).start();
  });
  afterEach(() => retell.stop());

  const register = (body: Record<string, unknown>) =>
    fetch(`${retell.url}/v2/register-phone-call`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent_id: 'agent_a', ...body }),
    });

  it('when agent_version, agent_override and metadata are sent, then they are recorded as sent and the version echoed', async () => {
    const body = { agent_version: 7, agent_override: { retell_llm: { begin_message: 'Hi' } }, metadata: { crm: 'c1' }, retell_llm_dynamic_variables: { name: 'Dana' } };
    const res = await register(body);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ agent_id: 'agent_a', agent_version: 7, metadata: { crm: 'c1' }, retell_llm_dynamic_variables: { name: 'Dana' } });
    expect(retell.registrations[0]!.body).toEqual({ agent_id: 'agent_a', ...body });
  });

  it('when agent_version is a tag, then it is accepted and resolved to a version number', async () => {
    const res = await register({ agent_version: 'prod' });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { agent_version: unknown }).agent_version).toBe(1);
  });

  it.each([
    ['agent_version is negative', { agent_version: -1 }, /agent_version/],
    ['agent_version is a tag with capitals and spaces', { agent_version: 'Prod v2' }, /agent_version/],
    ['agent_override is not an object', { agent_override: 'x' }, /agent_override/],
    ['metadata is a list', { metadata: [1] }, /metadata/],
    ['a dynamic variable is a number', { retell_llm_dynamic_variables: { n: 1 } }, /must be strings/],
  ])('when %s, then 400 with Retell\'s error shape and nothing is registered', async (_what, body, message) => {
    const res = await register(body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_message: string }).error_message).toMatch(message);
    expect(retell.registrations).toHaveLength(0);
  });
});
