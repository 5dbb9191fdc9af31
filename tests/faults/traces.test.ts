/**
 * Traces across the two processes: a real web process and a real worker process (src/bin/web.ts and
 * src/bin/worker.ts, as production runs them) export to a local OTLP/HTTP receiver. An agent's
 * `transfer_call` becomes one trace: the web's function-call span, the job it queued (its context
 * carried in the job through Redis), the worker's run of it and the worker's Twilio request, each the
 * child of the one before. The voice webhook that made the call is a trace of its own, with its steps.
 */
import type { TestBridge } from '../support/bridge';
import { liveCall } from '../support/calls';
import { OtlpReceiver, SPAN_KIND, type ReceivedSpan } from '../support/otlp-receiver';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis';
import { FakeRetell } from '../../src/sandbox/fake-retell';
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';
import { RETELL_KEY } from '../support/bridge';
import { ACCOUNT_SID, AUTH_TOKEN } from '../support/twilio-signing';
import { postFunction, TRANSFER_ENV } from './support/call-actions';
import { waitFor } from './support/ports';
import { WebProcess } from './support/web-process';
import { WorkerProcess } from './support/worker-process';

const PREFIX = uniquePrefix('traces');

let receiver: OtlpReceiver;
let retell: FakeRetell;
let twilio: FakeTwilioApi;
let web: WebProcess;
let worker: WorkerProcess;

beforeAll(async () => {
  receiver = await new OtlpReceiver().start();
  retell = await new FakeRetell(RETELL_KEY).start();
  twilio = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
  const common = { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: PREFIX, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k%20123' };
  [web, worker] = await Promise.all([
    WebProcess.start({ ...common, ...TRANSFER_ENV, RETELL_BASE_URL: retell.url, RETELL_TIMEOUT_MS: '4000' }),
    WorkerProcess.start({ ...common, TWILIO_API_BASE_URL: twilio.url }),
  ]);
});
afterAll(async () => {
  await worker?.dispose();
  await web?.dispose();
  await twilio?.stop();
  await retell?.stop();
  await receiver?.stop();
  await deletePrefix(PREFIX);
});

/** What liveCall and postFunction use of a bridge: the web's URL and the fakes. */
const bridge = () => ({ url: web.url, retell, twilio }) as unknown as TestBridge;

const byName = (spans: ReceivedSpan[], name: string) => spans.find((s) => s.name === name);

/** The chain of parents of `span` within `spans`, nearest first. */
function ancestors(span: ReceivedSpan, spans: ReceivedSpan[]): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (let at = spans.find((s) => s.spanId === span.parentSpanId); at; at = spans.find((s) => s.spanId === at!.parentSpanId)) out.push(at);
  return out;
}

describe('when an agent asks for a transfer with tracing on in the web and the worker processes', () => {
  it("then one trace runs from the web's function call through the queued job to the worker's Twilio request", async () => {
    const { callSid, callId } = await liveCall(bridge());
    const res = await postFunction(bridge(), 'transfer_call', callId);
    expect(res.status).toBe(200);
    await waitFor('the transfer to reach Twilio', () => twilio.callUpdates(callSid).some((u) => u.answered === 200), 20_000);

    // Exports are batched (every second), so the spans arrive a moment after the work.
    const twilioSpan = await waitFor(
      "the worker's Twilio request span",
      () => receiver.spans.find((s) => s.kind === SPAN_KIND.client && s.name.startsWith('twilio POST') && s.attributes['twilio.call_sid'] === callSid),
      20_000,
      100,
    );
    const trace = await waitFor(
      'the whole trace',
      () => {
        const spans = receiver.trace(twilioSpan.traceId);
        return byName(spans, 'retell.function transfer_call') && byName(spans, 'add call-actions.transfer') ? spans : undefined;
      },
      10_000,
      100,
    );

    const fn = byName(trace, 'retell.function transfer_call')!;
    // BullMQ names it after the queue and the job's kind.
    const add = byName(trace, 'add call-actions.transfer')!;
    const job = byName(trace, 'process call-actions')!;
    expect(job).toBeDefined();

    // The web's span is the trace's root: a server span with the call's ids and the HTTP exchange.
    expect(fn.parentSpanId).toBe('');
    expect(fn.kind).toBe(SPAN_KIND.server);
    expect(fn.resource).toMatchObject({ 'service.name': 'twilio-retell-bridge-web', 'bridge.process': 'web' });
    expect(fn.attributes).toMatchObject({
      'retell.call_id': callId,
      'twilio.call_sid': callSid,
      'http.request.method': 'POST',
      'http.route': '/retell/functions/transfer_call',
      'http.response.status_code': 200,
      'bridge.outcome': 'queued',
    });
    // The job was queued inside it, in the web...
    expect(add.parentSpanId).toBe(fn.spanId);
    expect(add.kind).toBe(SPAN_KIND.producer);
    expect(add.resource['bridge.process']).toBe('web');
    // ...and run by the worker, as the queued span's child across the two processes...
    expect(job.parentSpanId).toBe(add.spanId);
    expect(job.kind).toBe(SPAN_KIND.consumer);
    expect(job.resource).toMatchObject({ 'service.name': 'twilio-retell-bridge-worker', 'bridge.process': 'worker' });
    expect(job.attributes).toMatchObject({ 'twilio.call_sid': callSid, 'retell.call_id': callId });
    // ...whose Twilio request is a client span under the job.
    expect(ancestors(twilioSpan, trace).map((s) => s.spanId)).toContain(job.spanId);
    expect(twilioSpan.resource['bridge.process']).toBe('worker');
    expect(twilioSpan.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.response.status_code': 200,
      'server.address': '127.0.0.1',
      'url.full': `${twilio.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Calls/${callSid}.json`,
    });
    // BullMQ's housekeeping (lock renewals, stalled checks, job fetches) is not recorded.
    expect(receiver.spans.filter((s) => /^(extendLocks|moveStalledJobsToWait|getNextJob|startStalledCheckTimer) /.test(s.name))).toEqual([]);
    // The collector got the configured headers, decoded.
    expect(receiver.requests.find((r) => r.path === '/v1/traces')?.headers['x-collector-key']).toBe('k 123');
  });

  it("then the call's voice webhook is a trace of its own: the claim, the registration and its Retell request, the record", async () => {
    const { callSid, callId } = await liveCall(bridge());
    const voice = await waitFor(
      'the voice webhook span',
      () => receiver.spans.find((s) => s.name === 'twilio.voice' && s.attributes['twilio.call_sid'] === callSid),
      20_000,
      100,
    );
    expect(voice.parentSpanId).toBe('');
    expect(voice.kind).toBe(SPAN_KIND.server);
    expect(voice.attributes).toMatchObject({ 'retell.call_id': callId, 'bridge.answer': 'registered', 'http.response.status_code': 200, 'http.route': '/twilio/voice' });
    const trace = await waitFor('its steps', () => {
      const spans = receiver.trace(voice.traceId);
      return ['call.claim', 'retell.register', 'call.record', 'retell POST /v2/register-phone-call'].every((n) => byName(spans, n)) ? spans : undefined;
    });
    for (const step of ['call.claim', 'retell.register', 'call.record']) expect(byName(trace, step)!.parentSpanId).toBe(voice.spanId);
    const request = byName(trace, 'retell POST /v2/register-phone-call')!;
    expect(request.parentSpanId).toBe(byName(trace, 'retell.register')!.spanId);
    expect(request.kind).toBe(SPAN_KIND.client);
    expect(request.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.response.status_code': 201 });
  });

  it('then on SIGTERM both processes export the spans they still hold, and stop', async () => {
    // Stopped at once after the answer, well inside the exporter's one-second batching delay: the span
    // reaches the receiver only because the shutdown flushes it.
    const { callSid } = await liveCall(bridge());
    web.terminate();
    worker.terminate();
    expect(await web.exited(15_000)).toMatchObject({ code: 0 });
    expect(receiver.spans.some((s) => s.name === 'twilio.voice' && s.attributes['twilio.call_sid'] === callSid)).toBe(true);
    expect(await worker.exited(30_000)).toMatchObject({ code: 0 });
  });
});
