/**
 * What the spans of one new-call webhook cost by themselves, in a process of its own: the voice webhook's
 * spans as the bridge makes them (server span, claim, registration with its Retell client span, record,
 * the attributes set on the way) around awaits that do nothing, repeated; CPU per webhook, export included.
 *
 * Env: SPAN_COST_MODE: bare (the same awaits, no span calls), off (tracing off: the bridge's default), or
 * on (the SDK exporting every span to OTEL_EXPORTER_OTLP_ENDPOINT); SPAN_COST_WEBHOOKS: webhooks
 * measured (after a fifth as many of warm-up), default 100,000.
 *
 * Prints one JSON line: `{ mode, webhooks, cpuUs }` (CPU µs per webhook).
 */
import {
  annotate,
  answered,
  ATTR_CALL_SID,
  ATTR_RETELL_CALL_ID,
  startTracing,
  stopTracing,
  withClientSpan,
  withServerSpan,
  withSpan,
} from '../../src/observability/tracing';

const mode = process.env.SPAN_COST_MODE ?? 'off';
const webhooks = Number(process.env.SPAN_COST_WEBHOOKS ?? 100_000);
const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;

const work = async () => 1;
const REGISTER = { method: 'POST', url: 'http://127.0.0.1:9/v2/register-phone-call' };

/** One webhook's spans, as src/features/inbound makes them. */
async function traced(i: number): Promise<void> {
  const req = { method: 'POST', path: '/twilio/voice', res: { statusCode: 200 } };
  await withServerSpan('twilio.voice', req, '/twilio/voice', { [ATTR_CALL_SID]: `CA${i}` }, async (span) => {
    await withSpan('call.claim', {}, work);
    await withSpan('retell.register', { 'retell.agent_id': 'agent_bench' }, () =>
      withClientSpan('retell POST /v2/register-phone-call', REGISTER, {}, async (client) => {
        await work();
        answered(client, 201);
      }),
    );
    annotate({ [ATTR_RETELL_CALL_ID]: `call_${i}` });
    await withSpan('call.record', {}, work);
    if (span.isRecording()) span.setAttributes({ 'bridge.answer': 'registered' });
  });
}

/** The same awaits without a span. */
async function bare(): Promise<void> {
  await work();
  await work();
  await work();
  await work();
}

async function run(n: number, offset: number): Promise<void> {
  for (let i = 0; i < n; i++) await (mode === 'bare' ? bare() : traced(offset + i));
}

async function main(): Promise<void> {
  if (mode === 'on') {
    if (!endpoint) throw new Error('on needs OTEL_EXPORTER_OTLP_ENDPOINT');
    startTracing({ url: `${endpoint}/v1/traces`, headers: {}, serviceName: 'span-cost', resourceAttributes: {}, sampler: 'parentbased_always_on', ratio: 1 }, 'web');
  }
  await run(Math.ceil(webhooks / 5), 0);
  const before = process.cpuUsage();
  await run(webhooks, webhooks);
  // The spans' export is part of their cost.
  await stopTracing(30_000);
  const used = process.cpuUsage(before);
  process.stdout.write(`${JSON.stringify({ mode, webhooks, cpuUs: (used.user + used.system) / webhooks })}\n`);
}

void main();
