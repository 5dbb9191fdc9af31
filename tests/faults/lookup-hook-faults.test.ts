/**
 * The lookup hook (INBOUND_WEBHOOK_URL) hangs, answers too late, or sends its headers in time and its
 * body too late. The caller still reaches the default agent, and a hook can hold a call back by at most
 * INBOUND_WEBHOOK_TIMEOUT_MS: the registration leaves then, and the answer follows it. The unit tests
 * (twilio-voice-lookup.test.ts) check which agent and what is counted; this file, on the production entry
 * point in its own process, checks how long it takes.
 */
import { FakeRetell } from '../../src/sandbox/fake-retell';
import { RETELL_KEY } from '../support/bridge';
import { HookServer, type HookBehaviour } from '../support/hook-server';
import { voiceParams } from '../support/twilio-signing';
import { waitFor } from './support/ports';
import { RedisServer } from './support/redis-server';
import { WebProcess } from './support/web-process';
import { dialedCallId, isCallTwiml, sendVoice } from './support/webhooks';

const HOOK_TIMEOUT_MS = 1000;
/** From the webhook's arrival to the registration reaching Retell: the hook's timeout, and some slack. */
const REGISTRATION_BOUND_MS = HOOK_TIMEOUT_MS + 500;
/** Retell answers at once here, so the answer follows the registration closely. */
const ANSWER_BOUND_MS = HOOK_TIMEOUT_MS + 2000;

let redis: RedisServer;
let retell: FakeRetell;
let hook: HookServer;
let web: WebProcess;
beforeAll(async () => {
  redis = await RedisServer.start();
  retell = await new FakeRetell(RETELL_KEY).start();
  hook = await new HookServer().start();
  web = await WebProcess.start({
    REDIS_URL: redis.url,
    REDIS_PREFIX: 'faults-lookup',
    RETELL_BASE_URL: retell.url,
    INBOUND_WEBHOOK_URL: `${hook.url}/lookup`,
    INBOUND_WEBHOOK_TIMEOUT_MS: String(HOOK_TIMEOUT_MS),
  });
});
afterAll(async () => {
  await web?.dispose();
  await hook?.stop();
  await retell?.stop();
  await redis?.dispose();
});

describe.each<[string, HookBehaviour]>([
  ['hangs', { kind: 'hang' }],
  ['answers with an agent of its own, after three times its timeout', { kind: 'answer', body: { call_inbound: { override_agent_id: 'agent_vip' } }, delayMs: 3 * HOOK_TIMEOUT_MS }],
  ['sends its headers at once and its body after three times its timeout', { kind: 'answer', body: { call_inbound: { override_agent_id: 'agent_vip' } }, bodyDelayMs: 3 * HOOK_TIMEOUT_MS }],
])('when the lookup hook %s', (_what, behaviour) => {
  it('then the call is registered with the default agent once the hook\'s timeout is up, and answered soon after', async () => {
    hook.behaviour = behaviour;
    const abandonedBefore = hook.abandoned;
    const params = voiceParams();

    const answer = await sendVoice(web.url, params);
    expect(isCallTwiml(answer)).toBe(true);
    const registration = retell.registrations.find((r) => dialedCallId(answer.body) === r.callId);
    expect(registration?.body).toMatchObject({ agent_id: 'agent_default' });
    expect(registration!.receivedAt - answer.startedAt).toBeLessThan(REGISTRATION_BOUND_MS);
    expect(answer.elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
    // The bridge closed the request it gave up on.
    await waitFor('the bridge to close the hook\'s request', () => hook.abandoned === abandonedBefore + 1);
    expect(web.records().find((r) => r.callSid === params.CallSid && r.msg === 'lookup hook gave no usable answer: using the default agent')).toMatchObject({ lookup: 'timeout' });
  });
});
