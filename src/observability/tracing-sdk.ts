/**
 * The OpenTelemetry SDK as the bridge sets it up. Imported only by `startTracing` (tracing.ts), and only
 * when an exporter endpoint is configured: with tracing off, none of these modules is loaded.
 */
import { context, propagation, trace, SpanKind, type Attributes, type Context, type Link } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { BullMQOtel } from 'bullmq-otel';
import type { TracingConfig } from '../config';
import type { TracedProcess, TracingSdk } from './tracing';
import { BRIDGE_VERSION } from './version';

/** The instrumentation's name on its spans (`otel.scope.name`). */
const SCOPE = 'twilio-retell-bridge';

/**
 * BullMQ's own housekeeping, which it traces too (every few seconds per worker: stalled-job checks, lock
 * renewals, job fetches): not about any call, so never recorded. Its `add` and `process` spans are kept.
 */
const BULLMQ_HOUSEKEEPING = new Set([
  'getNextJob',
  'moveStalledJobsToWait',
  'startStalledCheckTimer',
  'extendLocks',
  'rateLimit',
  'pause',
  'resume',
  'close',
  'trimEvents',
  'promoteJobs',
  'obliterate',
  'clean',
  'drain',
  'updateJobProgress',
  'complete',
  'remove',
  'removeDeduplicationKey',
  'removeDebounceKey',
]);

/** `inner`, but BullMQ's housekeeping spans are dropped. */
class WithoutHousekeeping implements Sampler {
  constructor(private readonly inner: Sampler) {}

  shouldSample(ctx: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    if (kind === SpanKind.INTERNAL && BULLMQ_HOUSEKEEPING.has(name.split(' ', 1)[0]!)) return { decision: SamplingDecision.NOT_RECORD };
    return this.inner.shouldSample(ctx, traceId, name, kind, attributes, links);
  }

  toString(): string {
    return `WithoutHousekeeping{${this.inner.toString()}}`;
  }
}

function sampler(config: TracingConfig): Sampler {
  const root = (name: string): Sampler =>
    name.endsWith('always_off') ? new AlwaysOffSampler() : name.endsWith('traceidratio') ? new TraceIdRatioBasedSampler(config.ratio) : new AlwaysOnSampler();
  const chosen = config.sampler.startsWith('parentbased_') ? new ParentBasedSampler({ root: root(config.sampler) }) : root(config.sampler);
  return new WithoutHousekeeping(chosen);
}

/** Sets up the global tracer provider, context manager and propagator, exporting to `config.url`. */
export function startSdk(config: TracingConfig, role: TracedProcess): TracingSdk {
  const exporter = new OTLPTraceExporter({ url: config.url, headers: { ...config.headers } });
  // Batches: the export happens off the request path, at most every second, at most 512 spans a post.
  const processor = new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1000 });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      ...config.resourceAttributes,
      [ATTR_SERVICE_NAME]: config.serviceName ?? `twilio-retell-bridge-${role}`,
      [ATTR_SERVICE_VERSION]: BRIDGE_VERSION,
      'bridge.process': role,
    }),
    sampler: sampler(config),
    spanProcessors: [processor],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    tracer: provider.getTracer(SCOPE, BRIDGE_VERSION),
    telemetry: new BullMQOtel({ tracerName: 'bullmq', version: BRIDGE_VERSION }),
    flush: (timeoutMs) => provider.forceFlush({ timeoutMillis: timeoutMs }),
    shutdown: () => provider.shutdown(),
  };
}
