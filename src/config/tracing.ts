/**
 * Traces (OpenTelemetry), with the standard OTEL_* variables every collector and vendor documents. Off
 * unless an exporter endpoint is set: then the tracing SDK is not even loaded.
 */
import { z } from 'zod';
import { rule, setting, setupSetting, withExample, type ValuesOf } from './parse';
import { httpUrl, trueFalse } from './values';

export const title = 'Traces (OpenTelemetry)';

/** OTEL_TRACES_SAMPLER's values, as the OpenTelemetry specification names them. */
export const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** The samplers that read OTEL_TRACES_SAMPLER_ARG (the ratio of traces kept). */
const RATIO_SAMPLERS: readonly SamplerName[] = ['traceidratio', 'parentbased_traceidratio'];

/**
 * `key=value` pairs separated by commas, values percent-encoded (the W3C Baggage format the specification
 * uses for OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES); `example` is shown in its messages.
 */
function keyValueList(example: string) {
  const list = z
    .string()
    .default('')
    .transform((raw, ctx) => {
      const pairs: Record<string, string> = {};
      for (const entry of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
        const eq = entry.indexOf('=');
        const key = eq > 0 ? entry.slice(0, eq).trim() : '';
        if (!key) {
          ctx.addIssue({ code: 'custom', message: `entries must be key=value pairs separated by commas (e.g. ${example})` });
          return z.NEVER;
        }
        try {
          pairs[key] = decodeURIComponent(entry.slice(eq + 1).trim());
        } catch {
          ctx.addIssue({ code: 'custom', message: `the value of ${key} is not valid percent-encoding` });
          return z.NEVER;
        }
      }
      return pairs;
    });
  return withExample(list, example);
}

export const settings = {
  OTEL_EXPORTER_OTLP_ENDPOINT: setting(httpUrl.optional(), {
    description: 'OTLP/HTTP collector base URL, e.g. https://otlp.example.com; traces go to <url>/v1/traces. Tracing is off unless this or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set',
    example: 'http://localhost:4318',
    docs: { meaning: 'OTLP/HTTP collector base URL: traces go to `<url>/v1/traces` (see [Traces](operating.md#traces)); tracing is off while neither endpoint is set' },
    dotenv: {
      comment: 'Traces (OpenTelemetry, see docs/operating.md#traces): an OTLP/HTTP collector base URL; traces go to\n<url>/v1/traces. Off when empty: the tracing SDK is not even loaded.',
      paragraph: true,
    },
  }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: setupSetting(httpUrl.optional(), {
    description: 'The full URL traces are posted to (OTLP/HTTP JSON), used as it is; wins over OTEL_EXPORTER_OTLP_ENDPOINT',
    example: 'http://localhost:4318/v1/traces',
    dotenv: { comment: 'Or the full URL traces are posted to, used as it is.' },
  }),
  OTEL_EXPORTER_OTLP_HEADERS: setting(keyValueList('x-api-key=abc,x-team=voice'), {
    description: "Headers sent with every export, key=value pairs separated by commas, values percent-encoded (a vendor's API key)",
    example: 'x-honeycomb-team=<your api key>',
    secret: true,
  }),
  OTEL_SERVICE_NAME: setupSetting(z.string().max(128).regex(/^[\w.\-/]+$/, 'must be letters, digits, dots, dashes, slashes or underscores').optional(), {
    description: 'service.name of the spans, both processes told apart by bridge.process; twilio-retell-bridge-web and -worker when empty',
    example: 'voice-bridge',
    docs: { default: '`twilio-retell-bridge-web` / `-worker`' },
  }),
  OTEL_RESOURCE_ATTRIBUTES: setupSetting(keyValueList('deployment.environment.name=production'), {
    description: "More attributes of every span's resource, key=value pairs separated by commas, e.g. deployment.environment.name=production",
  }),
  OTEL_TRACES_SAMPLER: setupSetting(z.enum(SAMPLERS).default('parentbased_always_on'), {
    description: 'Which traces are kept: always_on, always_off, traceidratio, or parentbased_ each of them (a trace begun elsewhere keeps its decision)',
    example: 'parentbased_traceidratio',
    dotenv: { comment: 'Which traces are kept; with parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG is the share kept (0 to 1).' },
  }),
  OTEL_TRACES_SAMPLER_ARG: setupSetting(
    z.coerce.number({ error: 'must be a number from 0 to 1' }).min(0, 'must be at least 0').max(1, 'must be at most 1').optional(),
    {
      description: 'The share of traces kept, from 0 to 1, by traceidratio or parentbased_traceidratio',
      example: '0.1',
      docs: { default: '1' },
      dotenv: { comment: false },
    },
  ),
  OTEL_SDK_DISABLED: setupSetting(trueFalse.default(false), {
    description: 'true turns tracing off even with an endpoint set',
    example: 'true',
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules = [
  rule(settings, ['OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG'], (e) => {
    if (e.OTEL_TRACES_SAMPLER_ARG === undefined || RATIO_SAMPLERS.includes(e.OTEL_TRACES_SAMPLER)) return [];
    return [
      {
        variable: 'OTEL_TRACES_SAMPLER_ARG',
        problem: `is set, but OTEL_TRACES_SAMPLER=${e.OTEL_TRACES_SAMPLER} takes no ratio: use traceidratio or parentbased_traceidratio, or unset it`,
        example: '0.1',
      },
    ];
  }),
];

/** What the tracing SDK is set up with. */
export interface TracingConfig {
  /** Where spans are posted (OTLP/HTTP, JSON). */
  url: string;
  headers: Readonly<Record<string, string>>;
  /** OTEL_SERVICE_NAME; each process's own name otherwise. */
  serviceName: string | undefined;
  resourceAttributes: Readonly<Record<string, string>>;
  sampler: SamplerName;
  /** The ratio kept by the traceidratio samplers. @defaultValue 1 */
  ratio: number;
}

/** The traces URL: the traces endpoint as it is, else the base endpoint with `/v1/traces` (as the specification says). */
function tracesUrl(e: Values): string | undefined {
  return e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces` : undefined);
}

export function toConfig(e: Values) {
  const url = tracesUrl(e);
  const tracing: TracingConfig | undefined =
    url && !e.OTEL_SDK_DISABLED
      ? {
          url,
          headers: e.OTEL_EXPORTER_OTLP_HEADERS,
          serviceName: e.OTEL_SERVICE_NAME,
          resourceAttributes: e.OTEL_RESOURCE_ATTRIBUTES,
          sampler: e.OTEL_TRACES_SAMPLER,
          ratio: e.OTEL_TRACES_SAMPLER_ARG ?? 1,
        }
      : undefined;
  /** Undefined while tracing is off. */
  return { tracing };
}
