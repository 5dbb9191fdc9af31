/**
 * The worker's check just before each outbound dial, end to end with the real worker, BullMQ and Redis
 * and the fake Twilio counting every calls.create: a number listed after its call was queued, and the
 * pre-dial hook (PREDIAL_WEBHOOK_URL) allowing, denying, timing out, failing or answering nonsense. Only
 * an allow in time is dialed; every other call ends with its outcome and reason, in GET /calls/{id} and
 * in its outbound.completed event.
 */
import { startWorker, type RunningWorker } from '../../../src/worker/start';
import { Metrics } from '../../../src/observability/metrics';
import { verifyRetellSignature } from '../../../src/retell/signature';
import { RETELL_KEY, startBridge, type TestBridge } from '../../support/bridge';
import { eventsOf, EVENTS_ENV } from '../../support/events';
import { HookServer, type HookBehaviour } from '../../support/hook-server';
import { memoryLogger } from '../../support/logs';
import { API_TOKEN, CALLEE, OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForCall, waitForOutcome } from '../../support/outbound';
import { freePort } from '../../support/ports';
import { sleep, waitFor } from '../../support/wait';

const HOOK_TIMEOUT_MS = 500;

describe('just before an outbound dial', () => {
  let bridge: TestBridge;
  let hook: HookServer | undefined;
  let extraWorker: RunningWorker | undefined;
  afterEach(async () => {
    await extraWorker?.close(5000);
    extraWorker = undefined;
    await bridge?.close();
    await hook?.stop();
    hook = undefined;
  });

  const creates = () => bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));
  const refusals = (m: Metrics) => m.prometheus.getSingleMetricAsString('bridge_dial_refusals_total');

  async function start(env: Record<string, string> = {}, worker = true) {
    bridge = await startBridge({ ...OUTBOUND_ENV, ...EVENTS_ENV, ...env }, { worker });
    bridge.twilio.addNumber(OUR_NUMBER);
  }

  async function withHook(behaviour: HookBehaviour, worker = true) {
    hook = await new HookServer().start();
    hook.behaviour = behaviour;
    await start({ PREDIAL_WEBHOOK_URL: `${hook.url}/predial?tenant=acme`, PREDIAL_WEBHOOK_TIMEOUT_MS: String(HOOK_TIMEOUT_MS) }, worker);
  }

  /** A worker of its own, started after the test has queued its calls. */
  function startOwnWorker(): Metrics {
    const metrics = new Metrics({ defaultMetrics: false });
    extraWorker = startWorker({ config: bridge.config, logger: memoryLogger('silent').logger, metrics });
    return metrics;
  }

  async function completedEvent(id: string) {
    return waitFor('outbound.completed', async () => (await eventsOf(bridge, 'outbound.completed')).find((e) => (e.data as { id: string }).id === id));
  }

  it('when the number is listed after the call was queued, then the worker does not dial it, and the call ends do_not_call, saying so in its event', async () => {
    await start({}, false);
    const id = await placeCall(bridge);
    const listed = await fetch(`${bridge.url}/dnc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ numbers: [CALLEE] }),
    });
    expect(listed.status).toBe(200);

    const metrics = startOwnWorker();
    const ended = await waitForOutcome(bridge, id);
    expect(ended).toMatchObject({ status: 'ended', outcome: 'do_not_call', error: { code: 'do_not_call', message: `${CALLEE} is on the do-not-call list` } });
    expect(ended.call_sid).toBeUndefined();
    expect(ended.dialing_at).toBeUndefined();
    const event = await completedEvent(id);
    expect(event.data).toMatchObject({ id, status: 'ended', outcome: 'do_not_call', reason: `${CALLEE} is on the do-not-call list` });
    await sleep(300);
    expect(creates()).toHaveLength(0);
    expect(await refusals(metrics)).toContain('stage="predial",reason="do_not_call"} 1');
    expect(await metrics.prometheus.getSingleMetricAsString('bridge_outbound_outcomes_total')).toContain('outcome="do_not_call"} 1');
  });

  it('when the pre-dial hook allows the call, then it is asked once, signed like the lookup hook, with the numbers, ids and metadata, and the call is dialed', async () => {
    await withHook({ kind: 'answer', body: { allow: true } });
    const id = await placeCall(bridge, { metadata: { campaign_id: 'cmp_1', task_id: 'tsk_9', crm: 7 } });
    await waitForCall(bridge, id, 'answered', (v) => v.status === 'in-progress');
    expect(creates()).toHaveLength(1);
    expect(hook!.requests).toHaveLength(1);
    const [request] = hook!.requests;
    expect(request!.path).toBe('/predial?tenant=acme');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(verifyRetellSignature(request!.raw, RETELL_KEY, request!.headers['x-retell-signature'] as string)).toEqual({ ok: true });
    expect(request!.json).toEqual({
      to: CALLEE,
      from: OUR_NUMBER,
      outbound_id: id,
      campaign_id: 'cmp_1',
      task_id: 'tsk_9',
      metadata: { campaign_id: 'cmp_1', task_id: 'tsk_9', crm: 7 },
    });
    expect(await bridge.worker!.metrics.prometheus.getSingleMetricAsString('bridge_predial_webhook_duration_seconds')).toContain('result="allow"} 1');
  });

  it('when the pre-dial hook denies the call, then it is not dialed, and the call ends predial_refused with the hook\'s reason', async () => {
    await withHook({ kind: 'answer', body: { allow: false, reason: 'customer asked for no calls' } });
    const id = await placeCall(bridge);
    const ended = await waitForOutcome(bridge, id);
    expect(ended).toMatchObject({ outcome: 'predial_refused', error: { code: 'predial_denied', message: 'customer asked for no calls' } });
    expect((await completedEvent(id)).data).toMatchObject({ outcome: 'predial_refused', reason: 'customer asked for no calls' });
    expect(creates()).toHaveLength(0);
    expect(hook!.requests).toHaveLength(1);
    expect(await refusals(bridge.worker!.metrics)).toContain('stage="predial",reason="predial_denied"} 1');
  });

  it.each<[string, HookBehaviour, string, RegExp]>([
    ['answers 500', { kind: 'answer', status: 500, body: { allow: true } }, 'predial_http_error', /HTTP 500/],
    ['redirects', { kind: 'answer', status: 302, body: '', headers: { location: 'https://elsewhere.example.com/' } }, 'predial_http_error', /HTTP 302 \(redirects are not followed\)/],
    ['answers something that is not JSON', { kind: 'answer', body: 'allow' }, 'predial_invalid', /not JSON/],
    ['answers allow as a string', { kind: 'answer', body: { allow: 'true' } }, 'predial_invalid', /"allow": true or false/],
    ['answers an array', { kind: 'answer', body: [true] }, 'predial_invalid', /not a JSON object/],
    ['answers an empty body', { kind: 'answer', body: '' }, 'predial_invalid', /not JSON/],
    ['answers a reason of the wrong type', { kind: 'answer', body: { allow: true, reason: 5 } }, 'predial_invalid', /"reason" must be a string/],
    ['answers more than 16 KB', { kind: 'large', bytes: 64 * 1024 }, 'predial_too_large', /larger than 16384 bytes/],
    ['never answers', { kind: 'hang' }, 'predial_timeout', /within 500 ms/],
    ['answers after its timeout', { kind: 'answer', body: { allow: true }, delayMs: HOOK_TIMEOUT_MS + 500 }, 'predial_timeout', /within 500 ms/],
  ])('when the pre-dial hook %s, then the call is not dialed (fail closed) and ends predial_refused with the reason', async (_what, behaviour, code, reason) => {
    await withHook(behaviour);
    const id = await placeCall(bridge);
    const ended = await waitForOutcome(bridge, id);
    expect(ended).toMatchObject({ outcome: 'predial_refused', error: { code } });
    expect(ended.error!.message).toMatch(reason);
    expect(((await completedEvent(id)).data as { reason: string }).reason).toMatch(reason);
    await sleep(200);
    expect(creates()).toHaveLength(0);
    expect(await refusals(bridge.worker!.metrics)).toContain(`stage="predial",reason="${code}"} 1`);
  });

  it('when the pre-dial hook cannot be reached, then the call is not dialed', async () => {
    await start({ PREDIAL_WEBHOOK_URL: `http://127.0.0.1:${await freePort()}/predial` });
    const id = await placeCall(bridge);
    expect(await waitForOutcome(bridge, id)).toMatchObject({ outcome: 'predial_refused', error: { code: 'predial_unreachable' } });
    expect(creates()).toHaveLength(0);
  });

  it('when the pre-dial hook hangs, then each call waits no longer than the timeout, and the queue goes on to the next', async () => {
    await withHook({ kind: 'hang' });
    const started = Date.now();
    const ids = [await placeCall(bridge), await placeCall(bridge, { to: '+14155550198' }), await placeCall(bridge, { to: '+14155550197' })];
    for (const id of ids) expect(await waitForOutcome(bridge, id, 15_000)).toMatchObject({ outcome: 'predial_refused', error: { code: 'predial_timeout' } });
    // Three timeouts of 500 ms, even one after the other, with generous room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(hook!.requests).toHaveLength(3);
    await waitFor('the hook\'s connections to be given up', () => hook!.abandoned === 3);
    expect(creates()).toHaveLength(0);
  });

  it.each([true, false])('when the call is canceled while the hook is being asked (allow: %s), then it ends canceled, once, and is not dialed', async (allow) => {
    await withHook({ kind: 'answer', body: { allow, reason: 'late' }, delayMs: 800 });
    const id = await placeCall(bridge);
    await waitFor('the hook to be asked', () => hook!.requests.length === 1);
    const del = await fetch(`${bridge.url}/calls/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(del.status).toBe(200);
    expect(await waitForOutcome(bridge, id)).toMatchObject({ outcome: 'canceled' });
    await sleep(1500);
    expect((await waitForOutcome(bridge, id)).outcome).toBe('canceled');
    expect((await eventsOf(bridge, 'outbound.completed')).map((e) => (e.data as { outcome: string }).outcome)).toEqual(['canceled']);
    expect(creates()).toHaveLength(0);
  });

  it('when a number listed after queueing has a hook that would allow it, then the list wins: not dialed, and the hook is not asked', async () => {
    await withHook({ kind: 'answer', body: { allow: true } }, false);
    const listedId = await placeCall(bridge);
    const otherId = await placeCall(bridge, { to: '+14155550196' });
    await bridge.redis.hset(`${bridge.config.redis.prefix}:dnc`, CALLEE, JSON.stringify({ added_at: new Date().toISOString(), source: 'api' }));
    startOwnWorker();
    expect(await waitForOutcome(bridge, listedId)).toMatchObject({ outcome: 'do_not_call' });
    await waitForCall(bridge, otherId, 'answered', (v) => v.status === 'in-progress');
    expect(hook!.requests.map((r) => (r.json as { to: string }).to)).toEqual(['+14155550196']);
    expect(creates().map((r) => r.form.To)).toEqual(['+14155550196']);
  });
});
