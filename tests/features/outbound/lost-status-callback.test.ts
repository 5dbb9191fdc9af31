import { ANSWERED_LOOK_EVERY_MS, LOOK_MARGIN_MS, OutboundReconciler, OutboundStore } from '../../../src/features/outbound';
import type { SentWebhook } from '../../../src/sandbox/fake-callee';
import { startBridge, type TestBridge } from '../../support/bridge';
import { eventsOf, EVENTS_ENV } from '../../support/events';
import { memoryLogger } from '../../support/logs';
import { getCall, OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForCall } from '../../support/outbound';
import { sleep, waitFor } from '../../support/wait';

/**
 * A final status callback the bridge refused (Redis away: 503) is never retried by Twilio. The call is
 * watched from its placement; once overdue it is looked at Twilio and ended exactly as the callback
 * would have ended it, once, even when the callback comes after all. Real web app, worker, Redis and
 * BullMQ; the fake Twilio serves the call's record.
 */
jest.setTimeout(60_000);

describe('an outbound call whose final status callback is lost', () => {
  let bridge: TestBridge;
  /** The final status callbacks held back, to be delivered late. */
  const held: Array<() => Promise<SentWebhook>> = [];

  beforeEach(async () => {
    held.length = 0;
    bridge = await startBridge({ ...OUTBOUND_ENV, ...EVENTS_ENV }, { worker: true });
    bridge.twilio.addNumber(OUR_NUMBER);
    const callee = bridge.twilio.callee;
    const deliver = callee.deliver.bind(callee);
    // The completed callback is "refused": Twilio records the 503 and never sends it again.
    callee.deliver = async (kind, callSid, url, params) => {
      if (kind !== 'status' || params.CallStatus !== 'completed') return deliver(kind, callSid, url, params);
      held.push(() => deliver(kind, callSid, url, params));
      const refused: SentWebhook = { kind, url, callSid, params, status: 503, body: '', at: Date.now() };
      callee.webhooks.push(refused);
      return refused;
    };
  });
  afterEach(() => bridge.close());

  const store = () => new OutboundStore(bridge.redis, bridge.config.redis.prefix);
  const reconciler = (now: () => number = Date.now) =>
    new OutboundReconciler({ twilio: bridge.container.twilio, store: store(), callbacks: bridge.container.outboundCallbacks, logger: memoryLogger('warn').logger, metrics: bridge.metrics, now });
  const lookScore = async (id: string) => bridge.redis.zscore(store().keys.looks, id);

  it('when Twilio says it is over, then the sweep ends it as the callback would, and the late callback changes nothing', async () => {
    bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 300 };
    const placedAt = Date.now();
    const id = await placeCall(bridge, { ring_timeout_s: 20 });
    const live = await waitForCall(bridge, id, 'the call to be answered', (v) => v.status === 'in-progress');
    // Placement scheduled the first look: after the ring time and a margin.
    const score = Number(await lookScore(id));
    expect(score).toBeGreaterThanOrEqual(placedAt + 20_000 + LOOK_MARGIN_MS);
    expect(score).toBeLessThan(Date.now() + 20_000 + LOOK_MARGIN_MS + 1000);

    await waitFor('the callee to hang up (callback refused)', () => held.length === 1, 10_000);
    await sleep(300);
    expect((await getCall(bridge, id)).body.status).toBe('in-progress');

    // Not due yet: nothing is looked at.
    expect(await reconciler().sweep()).toEqual({ looked: 0, ended: 0 });
    // Due: Twilio's record of the call ends it.
    expect(await reconciler(() => score + 1).sweep()).toEqual({ looked: 1, ended: 1 });
    const ended = (await getCall(bridge, id)).body;
    const fake = bridge.twilio.callee.placed.get(live.call_sid!)!.call;
    expect(ended).toMatchObject({ status: 'ended', outcome: 'completed', call_sid: live.call_sid, ended_at: new Date(Math.floor(fake.endedAt! / 1000) * 1000).toISOString() });
    expect(ended.duration_s).toEqual(expect.any(Number));
    expect(await lookScore(id)).toBeNull();
    expect(bridge.twilio.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/Calls/${live.call_sid}.json`))).toHaveLength(1);
    await waitFor('outbound.completed', async () => (await eventsOf(bridge, 'outbound.completed')).length === 1, 10_000);

    // The callback comes after all: accepted, and nothing moves or is told twice.
    const late = await held[0]!();
    expect(late.status).toBe(204);
    await sleep(500);
    // Only updated_at moves (every callback is recorded as heard).
    expect({ ...(await getCall(bridge, id)).body, updated_at: ended.updated_at }).toEqual(ended);
    expect(await eventsOf(bridge, 'outbound.completed')).toHaveLength(1);
    expect(await eventsOf(bridge, 'call.ended')).toHaveLength(1);
    const outcomes = (await bridge.metrics.outboundOutcomes.get()).values.filter((v) => v.labels.outcome === 'completed');
    expect(outcomes.reduce((n, v) => n + v.value, 0)).toBe(1);
    expect(await reconciler(() => score + 10 * 60_000).sweep()).toEqual({ looked: 0, ended: 0 });
  });

  it('when Twilio says it still goes on, then it is looked at again periodically', async () => {
    bridge.twilio.callee.defaultScript = { answer: 'human' };
    const id = await placeCall(bridge);
    await waitForCall(bridge, id, 'the call to be answered', (v) => v.status === 'in-progress');
    const at = Date.now() + 10 * 60_000;
    expect(await reconciler(() => at).look(id)).toBe('live');
    expect(Number(await lookScore(id))).toBe(at + ANSWERED_LOOK_EVERY_MS);
    expect((await getCall(bridge, id)).body.status).toBe('in-progress');
  });

  it('when the late callback and the look come together, then the call ends once', async () => {
    bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 300 };
    const id = await placeCall(bridge);
    await waitForCall(bridge, id, 'the call to be answered', (v) => v.status === 'in-progress');
    await waitFor('the callee to hang up (callback refused)', () => held.length === 1, 10_000);
    const [late, looked] = await Promise.all([held[0]!(), reconciler().look(id)]);
    expect(late.status).toBe(204);
    expect(looked).toBe('ended');
    expect((await getCall(bridge, id)).body).toMatchObject({ status: 'ended', outcome: 'completed' });
    await waitFor('outbound.completed', async () => (await eventsOf(bridge, 'outbound.completed')).length >= 1, 10_000);
    await sleep(500);
    expect(await eventsOf(bridge, 'outbound.completed')).toHaveLength(1);
    const outcomes = (await bridge.metrics.outboundOutcomes.get()).values.filter((v) => v.labels.outcome === 'completed');
    expect(outcomes.reduce((n, v) => n + v.value, 0)).toBe(1);
    expect(await lookScore(id)).toBeNull();
  });
});
