import Retell, { verify } from 'retell-sdk';
import { Metrics } from '../../../src/observability/metrics';
import type { InboundCallDetails } from '../../../src/features/inbound/lookup-contract';
import { verifyRetellSignature } from '../../../src/retell/signature';
import { LookupHook } from '../../../src/features/inbound/lookup-hook';
import { RETELL_KEY } from '../../support/bridge';
import { HookServer } from '../../support/hook-server';
import { memoryLogger } from '../../support/logs';
import { freePort } from '../../support/ports';

const CALL: InboundCallDetails = {
  callSid: 'CA' + 'a'.repeat(32),
  from: '+14155550199',
  to: '+14155550100',
  agentId: 'agent_default',
  callerName: 'DANA',
  fromCity: 'OAKLAND',
};

describe('LookupHook', () => {
  let server: HookServer;
  let hook: LookupHook;
  let metrics: Metrics;
  const log = memoryLogger();

  beforeEach(async () => {
    server = await new HookServer().start();
    metrics = new Metrics({ defaultMetrics: false });
    hook = new LookupHook({ url: `${server.url}/lookup?tenant=acme`, apiKey: RETELL_KEY, timeoutMs: 500, metrics });
  });
  afterEach(async () => {
    await server.stop();
    await hook.close();
  });

  const counted = async () => (await metrics.prometheus.getSingleMetricAsString('bridge_inbound_webhook_total')).split('\n').filter((l) => !l.startsWith('#'));

  describe('the request', () => {
    it('when a call is looked up, then the hook gets Retell\'s call_inbound body, POSTed as JSON to the configured path and query', async () => {
      const before = Date.now();
      await hook.lookup(CALL, 3000, log.logger);
      const [req] = server.requests;
      expect(req).toMatchObject({ method: 'POST', path: '/lookup?tenant=acme' });
      expect(req!.headers['content-type']).toBe('application/json');
      expect(req!.json).toEqual({
        event: 'call_inbound',
        event_timestamp: expect.any(Number),
        call_inbound: { agent_id: 'agent_default', from_number: '+14155550199', to_number: '+14155550100' },
        twilio: { call_sid: CALL.callSid, caller_name: 'DANA', from_city: 'OAKLAND' },
      });
      expect((req!.json as { event_timestamp: number }).event_timestamp).toBeGreaterThanOrEqual(before);
    });

    it('when the hook checks X-Retell-Signature with Retell\'s SDK or with the bridge\'s own verifier, then both accept it', async () => {
      await hook.lookup(CALL, 500, log.logger);
      const [req] = server.requests;
      const signature = req!.headers['x-retell-signature'] as string;
      expect(signature).toMatch(/^v=\d{13},d=[0-9a-f]{64}$/);
      const raw = req!.raw.toString('utf8');
      expect(await Retell.verify(raw, RETELL_KEY, signature)).toBe(true);
      expect(await verify(raw, RETELL_KEY, signature)).toBe(true);
      expect(verifyRetellSignature(req!.raw, RETELL_KEY, signature)).toEqual({ ok: true });
      // And they are checking something: another key or a changed body fails.
      expect(await Retell.verify(raw, 'key_other_0123456789', signature)).toBe(false);
      expect(await Retell.verify(raw.replace('DANA', 'DINA'), RETELL_KEY, signature)).toBe(false);
      expect(verifyRetellSignature(Buffer.from(raw.replace('DANA', 'DINA')), RETELL_KEY, signature)).toEqual({ ok: false, reason: 'mismatch' });
    });
  });

  describe('the answer', () => {
    it('when the hook chooses an agent and variables, then they are returned and counted ok', async () => {
      server.behaviour = {
        kind: 'answer',
        body: { call_inbound: { override_agent_id: 'agent_vip', override_agent_version: 'prod', dynamic_variables: { customer_name: 'Dana', orders: 2 }, metadata: { crm: 'c1' } } },
      };
      expect(await hook.lookup(CALL, 500, log.logger)).toEqual({
        result: 'ok',
        choice: { agentId: 'agent_vip', agentVersion: 'prod', dynamicVariables: { customer_name: 'Dana', orders: '2' }, metadata: { crm: 'c1' } },
      });
      expect(await counted()).toEqual(['bridge_inbound_webhook_total{result="ok"} 1']);
      const histogram = await metrics.prometheus.getSingleMetricAsString('bridge_inbound_webhook_duration_seconds');
      expect(histogram).toContain('bridge_inbound_webhook_duration_seconds_count{result="ok"} 1');
    });

    it('when the hook rejects the call, then the lookup says so', async () => {
      server.behaviour = { kind: 'answer', body: { call_inbound: { reject: true } } };
      expect(await hook.lookup(CALL, 500, log.logger)).toEqual({ result: 'rejected' });
      expect(await counted()).toEqual(['bridge_inbound_webhook_total{result="rejected"} 1']);
    });

    it.each([
      ['hangs', { kind: 'hang' } as const, 'timeout', /no complete answer within 500 ms/],
      ['answers 500', { kind: 'answer', status: 500, body: { error: 'db down' } } as const, 'http_error', /HTTP 500$/],
      ['redirects', { kind: 'answer', status: 302, body: '', headers: { location: 'https://example.com/' } } as const, 'http_error', /HTTP 302 \(redirects are not followed\)/],
      ['answers HTML', { kind: 'answer', body: '<html>Bad gateway</html>' } as const, 'invalid', /not JSON/],
      ['answers the wrong shape', { kind: 'answer', body: { call_inbound: { dynamic_variables: 'Dana' } } } as const, 'invalid', /dynamic_variables/],
      ['answers 10 MB', { kind: 'stream', bytes: 10 * 1024 * 1024 } as const, 'too_large', /larger than 65536 bytes/],
    ])('when the hook %s, then the lookup fails with the reason, counted and logged', async (_what, behaviour, result, reason) => {
      server.behaviour = behaviour;
      const lookup = await hook.lookup(CALL, 500, log.logger);
      expect(lookup).toEqual({ result, reason: expect.stringMatching(reason) });
      expect(await counted()).toEqual([`bridge_inbound_webhook_total{result="${result}"} 1`]);
      const line = log.records().reverse().find((r) => r.lookup === result);
      expect(line).toMatchObject({ level: 'warn', msg: 'lookup hook gave no usable answer: using the default agent' });
      expect(line!.reason).toMatch(reason);
    });

    it('when nothing listens at the URL, then the lookup fails with unreachable', async () => {
      const gone = new LookupHook({ url: `http://127.0.0.1:${await freePort()}/`, apiKey: RETELL_KEY, timeoutMs: 500, metrics });
      try {
        expect(await gone.lookup(CALL, 500, log.logger)).toEqual({ result: 'unreachable', reason: 'ECONNREFUSED' });
      } finally {
        await gone.close();
      }
    });
  });

  describe('the time it may take', () => {
    it('when the budget is shorter than the timeout, then the budget is the limit', async () => {
      server.behaviour = { kind: 'hang' };
      const lookup = await hook.lookup(CALL, 200, log.logger);
      expect(lookup).toEqual({ result: 'timeout', reason: 'no complete answer within 200 ms' });
    });

    it('when the budget is longer than the timeout, then the timeout is the limit', async () => {
      server.behaviour = { kind: 'hang' };
      expect(await hook.lookup(CALL, 10_000, log.logger)).toEqual({ result: 'timeout', reason: 'no complete answer within 500 ms' });
    });

    it('when too little time is left, then the hook is not asked at all, and that is counted as skipped', async () => {
      expect(await hook.lookup(CALL, 40, log.logger)).toEqual({ result: 'skipped', reason: 'only 40 ms were left' });
      expect(server.requests).toHaveLength(0);
      expect(await counted()).toEqual(['bridge_inbound_webhook_total{result="skipped"} 1']);
    });
  });

  describe('ask (for tools that show the exchange)', () => {
    it('when the hook answers, then its status and body come back with the result', async () => {
      server.behaviour = { kind: 'answer', status: 200, body: { call_inbound: { override_agent_id: 'agent_vip' } } };
      const exchange = await hook.ask(CALL);
      expect(exchange).toMatchObject({ result: 'ok', status: 200, body: '{"call_inbound":{"override_agent_id":"agent_vip"}}' });
      expect(await counted()).toEqual([]);
    });
  });
});
