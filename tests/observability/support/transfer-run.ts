/**
 * Run by tests/observability/traces.test.ts in a process of its own (node -r tsx/cjs), so that what it
 * loads is its own: starts tracing as the entry points do (from the OTEL_* variables it is given), plays
 * a call and an agent's transfer through the real web app and worker (in this process) against the fake
 * Retell and Twilio, then prints one JSON line: the OpenTelemetry and bullmq-otel modules loaded, whether
 * tracing is on, and whether a span made now would record.
 */
import { trace } from '@opentelemetry/api';
import { loadConfig } from '../../../src/config';
import { startTracing, stopTracing, tracingOn, withSpan } from '../../../src/observability/tracing';
import { startBridge, testEnv } from '../../support/bridge';
import { liveCall } from '../../support/calls';
import { waitFor } from '../../support/wait';
import { postFunction, TRANSFER_ENV } from '../../faults/support/call-actions';

const OTEL = Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith('OTEL_')));

async function main(): Promise<void> {
  const env = { ...TRANSFER_ENV, ...OTEL, LOG_LEVEL: 'silent' };
  startTracing(loadConfig(testEnv(env)).tracing, 'dev');
  const bridge = await startBridge(env, { worker: true });
  try {
    const { callSid, callId } = await liveCall(bridge);
    const res = await postFunction(bridge, 'transfer_call', callId);
    if (res.status !== 200) throw new Error(`transfer_call answered ${res.status}`);
    await waitFor('the transfer', () => bridge.twilio.callUpdates(callSid).some((u) => u.answered === 200), 15_000);
    const recording = await withSpan('probe', {}, async (span) => span.isRecording());
    const apiRecording = trace.getTracer('probe').startSpan('probe').isRecording();
    const loaded = Object.keys(require.cache).filter((file) => /[\\/]node_modules[\\/](@opentelemetry[\\/](?!api[\\/])[^\\/]+|bullmq-otel)[\\/]/.test(file));
    const packages = [...new Set(loaded.map((file) => /node_modules[\\/]((@opentelemetry[\\/])?[^\\/]+)/.exec(file)![1]!.replace(/\\/g, '/')))].sort();
    process.stdout.write(`${JSON.stringify({ on: tracingOn(), packages, recording, apiRecording })}\n`);
  } finally {
    await bridge.close();
    await stopTracing(2000);
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
