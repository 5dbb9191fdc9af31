/**
 * Fault case: a worker process is SIGKILLed while its `calls.create` request is inside Twilio. Twilio's
 * API takes no idempotency key, so whether the call exists is only known at Twilio. The worker that
 * takes the job over must look there before placing again: the callee's phone rings once.
 */
import { getCall, OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForCall } from '../support/outbound';
import { TAKEOVER_BOUND_MS, useCrashHarness } from './support/crash-harness';
import { waitFor } from './support/ports';

const crash = useCrashHarness(OUTBOUND_ENV, { numbers: [OUR_NUMBER], workerEnv: (b) => ({ RETELL_BASE_URL: b.retell.url }) });
const startWorker = () => crash.startWorker();
const creates = () => crash.bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));

describe('when a worker process is SIGKILLed during calls.create', () => {
  it('and Twilio had created the call (answering late), then the next worker finds it at Twilio and adopts it: one call placed', async () => {
    // The callee's callbacks come late too, so nothing but the look can tell the survivor about the call.
    crash.bridge.twilio.callee.defaultScript = { answer: 'human', startDelayMs: 120_000 };
    crash.bridge.twilio.callee.createInjections.push({ kind: 'late', ms: 120_000 });
    const first = await startWorker();
    const id = await placeCall(crash.bridge);
    await waitFor('the create request to reach Twilio', () => creates().length === 1, 15_000);
    expect(crash.bridge.twilio.callee.placed.size).toBe(1);
    const [created] = [...crash.bridge.twilio.callee.placed.keys()];

    await first.kill();
    const killedAt = Date.now();
    const second = await startWorker();
    const adopted = await waitForCall(crash.bridge, id, 'the call to be linked by the surviving worker', (v) => v.call_sid !== undefined, TAKEOVER_BOUND_MS);

    expect(Date.now() - killedAt).toBeLessThan(TAKEOVER_BOUND_MS);
    expect(adopted.call_sid).toBe(created);
    expect(creates()).toHaveLength(1);
    expect(crash.bridge.twilio.callee.placed.size).toBe(1);
    await waitFor('the job to complete', async () => (await crash.bridge.outboundQueue.getJob(`place-${id}`))?.returnvalue === 'adopted', 5000);
    expect(second.messages('warn')).toContain('found the call an earlier attempt placed: adopted, not placing again');
    expect((await getCall(crash.bridge, id)).body.status).toBe('dialing');
  });

  it('and Twilio had not created the call, then the next worker looks, finds nothing and places it: one call placed', async () => {
    crash.bridge.twilio.callee.defaultScript = { answer: 'human' };
    crash.bridge.twilio.callee.createInjections.push({ kind: 'hang' });
    const first = await startWorker();
    const id = await placeCall(crash.bridge);
    await waitFor('the create request to reach Twilio', () => creates().length === 1, 15_000);
    expect(crash.bridge.twilio.callee.placed.size).toBe(0);

    await first.kill();
    await startWorker();
    const live = await waitForCall(crash.bridge, id, 'the call placed and answered', (v) => v.status === 'in-progress', TAKEOVER_BOUND_MS);
    expect(creates()).toHaveLength(2);
    expect(crash.bridge.twilio.callee.placed.size).toBe(1);
    expect(live.call_sid).toBe([...crash.bridge.twilio.callee.placed.keys()][0]);
    expect(crash.bridge.twilio.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/Calls.json'))).toHaveLength(1);
    expect(crash.bridge.retell.registrations).toHaveLength(1);
  });
});
