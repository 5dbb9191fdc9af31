import { Metrics } from '../../src/observability/metrics';
import { PUBLIC_URL, startBridge, type TestBridge } from '../support/bridge';
import { liveCall } from '../support/calls';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { postSigned, voiceParams } from '../support/twilio-signing';

/** Reads one sample from Prometheus text: `name{labels} value`. */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('GET /metrics', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startBridge({ TRANSFER_DESTINATIONS: '{"sales":"+14155550101"}' });
  });
  afterAll(() => bridge.close());

  const scrape = async () => {
    const res = await fetch(`${bridge.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return res.text();
  };

  it('when traffic flows, then the counters, histogram and gauges move with it', async () => {
    const before = await scrape();
    expect(sample(before, 'bridge_redis_up')).toBe(1);

    const params = voiceParams();
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', params);
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', params);
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', voiceParams(), { signature: null });
    bridge.retell.behaviour = { kind: 'status', status: 429 };
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', voiceParams());
    bridge.retell.behaviour = { kind: 'ok' };
    const { callId } = await liveCall(bridge);
    await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
    await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'nowhere' }));
    await postRetell(bridge.url, '/retell/functions/end_call', functionCallBody('end_call', callId, {}), { signature: null });

    const after = await scrape();
    expect(sample(after, 'bridge_voice_answers_total', 'outcome="registered"')).toBe(2);
    expect(sample(after, 'bridge_voice_answers_total', 'outcome="duplicate"')).toBe(1);
    expect(after).not.toContain('bridge_dedupe_hits_total');
    expect(sample(after, 'bridge_retell_registrations_total', 'result="ok"')).toBe(2);
    expect(sample(after, 'bridge_fallbacks_total', 'reason="retell_rejected"')).toBe(1);
    expect(sample(after, 'bridge_signature_refusals_total', 'source="twilio"')).toBe(1);
    expect(sample(after, 'bridge_signature_refusals_total', 'source="retell"')).toBe(1);
    expect(sample(after, 'bridge_function_calls_total', 'name="transfer_call",outcome="queued"')).toBe(1);
    expect(sample(after, 'bridge_function_calls_total', 'name="transfer_call",outcome="not_allowed"')).toBe(1);
    // No worker runs here, so the queued transfer is still waiting.
    expect(sample(after, 'bridge_queue_jobs', 'state="waiting"')).toBe(1);
    expect(sample(after, 'bridge_webhook_duration_seconds_count', 'route="/twilio/voice",code="200"')).toBe(4);
    expect(sample(after, 'bridge_webhook_duration_seconds_count', 'route="/twilio/voice",code="403"')).toBe(1);
    expect(sample(after, 'bridge_retell_registration_duration_seconds_count', 'result="ok"')).toBe(2);
    expect(sample(after, 'bridge_retell_registration_duration_seconds_count', 'result="retell_rejected"')).toBe(1);
  });

  it('when health checks and scrapes are answered, then only webhook routes are timed', async () => {
    await fetch(`${bridge.url}/healthz`);
    await fetch(`${bridge.url}/readyz`);
    await scrape();
    const text = await scrape();
    expect(text).toMatch(/bridge_webhook_duration_seconds_count\{route="\/twilio\/voice"/);
    expect(text).not.toMatch(/bridge_webhook_duration_seconds_count\{route="\/(healthz|readyz|metrics)"/);
  });

  it('when the default Node metrics are collected, then they carry their usual names, without the bridge_ prefix', async () => {
    const text = await new Metrics().prometheus.metrics();
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d+/m);
    expect(text).not.toContain('bridge_nodejs_');
    expect(text).not.toContain('bridge_process_');
  });

  it('when scanners probe unknown paths, then no new series appear', async () => {
    for (let i = 0; i < 5; i++) await fetch(`${bridge.url}/wp-login-${i}.php`);
    expect(await scrape()).not.toMatch(/wp-login/);
  });
});
