/**
 * Traces: the OTEL_* settings, and what tracing costs while it is off. With no exporter endpoint the SDK
 * is never loaded (checked in a process of its own, which plays a call and a transfer through the web
 * app and the worker and lists what it loaded) and nothing is exported. The spans themselves, across
 * the web and worker processes, are in tests/faults/traces.test.ts.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../../src/config';
import { tracingOn, withClientSpan, withSpan } from '../../src/observability/tracing';
import { BRIDGE_VERSION } from '../../src/observability/version';
import { testEnv } from '../support/bridge';
import { OtlpReceiver } from '../support/otlp-receiver';

const ROOT = path.resolve(__dirname, '../..');

const tracing = (env: Record<string, string>) => loadConfig(testEnv(env)).tracing;

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(testEnv(env));
    return [];
  } catch (err) {
    return (err as ConfigError).problems.map((p) => `${p.variable} ${p.problem}`);
  }
}

describe('OTEL_* settings', () => {
  it('when no endpoint is set, then tracing is off', () => {
    expect(tracing({})).toBeUndefined();
    expect(tracing({ OTEL_SERVICE_NAME: 'bridge', OTEL_TRACES_SAMPLER: 'always_on' })).toBeUndefined();
  });

  it('when OTEL_EXPORTER_OTLP_ENDPOINT is set, then traces go to its /v1/traces with the defaults of the specification', () => {
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual({
      url: 'http://collector:4318/v1/traces',
      headers: {},
      serviceName: undefined,
      resourceAttributes: {},
      sampler: 'parentbased_always_on',
      ratio: 1,
    });
  });

  it('when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, then it is used as it is, over the base endpoint', () => {
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://b.example.com/otlp/traces' })?.url).toBe(
      'https://b.example.com/otlp/traces',
    );
  });

  it('when headers, a service name, resource attributes and a ratio sampler are set, then they are read as the specification writes them', () => {
    expect(
      tracing({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc%3D%3D, x-team = voice',
        OTEL_SERVICE_NAME: 'voice-bridge',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
      }),
    ).toEqual({
      url: 'http://collector:4318/v1/traces',
      headers: { 'x-api-key': 'abc==', 'x-team': 'voice' },
      serviceName: 'voice-bridge',
      resourceAttributes: { 'deployment.environment.name': 'staging' },
      sampler: 'parentbased_traceidratio',
      ratio: 0.25,
    });
  });

  it('when OTEL_SDK_DISABLED=true, then tracing is off even with an endpoint', () => {
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
  });

  it('when a value is wrong, then the start is refused naming the variable, and a header value is never echoed', () => {
    expect(
      problems({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_TRACES_SAMPLER_ARG: '1.5',
        OTEL_EXPORTER_OTLP_HEADERS: 'secret-token-without-a-key',
        OTEL_RESOURCE_ATTRIBUTES: 'a=%E0%A4%A',
      }),
    ).toEqual([
      'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL (got "collector:4318")',
      'OTEL_EXPORTER_OTLP_HEADERS entries must be key=value pairs separated by commas (e.g. x-api-key=abc,x-team=voice)',
      expect.stringMatching(/^OTEL_RESOURCE_ATTRIBUTES the value of a is not valid percent-encoding/),
      expect.stringMatching(/^OTEL_TRACES_SAMPLER must be one of always_on, always_off, traceidratio/),
      'OTEL_TRACES_SAMPLER_ARG must be at most 1 (got "1.5")',
    ]);
    expect(problems({ OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: '0.5' })).toEqual([
      'OTEL_TRACES_SAMPLER_ARG is set, but OTEL_TRACES_SAMPLER=always_on takes no ratio: use traceidratio or parentbased_traceidratio, or unset it',
    ]);
  });
});

describe('spans while tracing is off', () => {
  it('when the code makes spans, then they record nothing and the code runs as it would without them', async () => {
    expect(tracingOn()).toBe(false);
    await expect(withSpan('a', { x: 1 }, async (span) => ({ recording: span.isRecording() }))).resolves.toEqual({ recording: false });
    await expect(withSpan('b', {}, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const attributes = jest.fn(() => ({}));
    await expect(withClientSpan('c', { method: 'GET', url: 'http://x/' }, attributes, async () => 'sent')).resolves.toBe('sent');
    expect(attributes).not.toHaveBeenCalled();
  });
});

/** Runs the transfer in a process of its own with `env`, and returns what it reported. */
function runTransfer(env: Record<string, string>): Promise<{ on: boolean; packages: string[]; recording: boolean; apiRecording: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'tsx/cjs', 'tests/observability/support/transfer-run.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`the run exited ${code}:\n${err}\n${out}`));
      resolve(JSON.parse(line) as { on: boolean; packages: string[]; recording: boolean; apiRecording: boolean });
    });
  });
}

describe('a call and a transfer through the web app and the worker', () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await new OtlpReceiver().start();
  });
  afterAll(() => receiver.stop());

  it('when no endpoint is set, then no SDK module is loaded and every span is the API\'s no-op one', async () => {
    const report = await runTransfer({});
    expect(report).toEqual({ on: false, packages: [], recording: false, apiRecording: false });
  }, 60_000);

  it('when an endpoint is set with OTEL_SDK_DISABLED=true, then nothing is loaded and nothing is exported', async () => {
    const report = await runTransfer({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SDK_DISABLED: 'true' });
    expect(report).toEqual({ on: false, packages: [], recording: false, apiRecording: false });
    expect(receiver.requests).toEqual([]);
  }, 60_000);

  it('when an endpoint is set, then the SDK is loaded and the spans reach it (the same run, for contrast)', async () => {
    const report = await runTransfer({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    expect(report.on).toBe(true);
    expect(report.recording).toBe(true);
    expect(report.packages).toEqual(expect.arrayContaining(['@opentelemetry/sdk-trace', '@opentelemetry/exporter-trace-otlp-http', 'bullmq-otel']));
    expect(receiver.spans.map((s) => s.name)).toEqual(expect.arrayContaining(['twilio.voice', 'retell.function transfer_call', 'process call-actions', 'twilio POST Calls']));
  }, 60_000);
});

describe('the version the spans report', () => {
  it('when read, then it is package.json\'s version', () => {
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string };
    expect(BRIDGE_VERSION).toBe(pkg.version);
  });
});
