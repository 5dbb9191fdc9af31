import { PUBLIC_URL, RETELL_KEY, startBridge } from '../support/bridge';
import { liveCall } from '../support/calls';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { AUTH_TOKEN, postSigned, voiceParams } from '../support/twilio-signing';

describe('logs', () => {
  it('when a call is answered, transferred and refused along the way, then every line is JSON, call lines carry ids, and no secret appears', async () => {
    const bridge = await startBridge({ LOG_LEVEL: 'trace', TRANSFER_DESTINATIONS: '{"sales":"+14155550101"}' }, { worker: true });
    try {
      const { callSid, callId } = await liveCall(bridge);
      await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
      await bridge.twilio.waitForSuccessfulUpdates(1);
      await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', voiceParams(), { token: 'wrong-token-0123456789' });
      await postRetell(bridge.url, '/retell/functions/end_call', functionCallBody('end_call', callId, {}), { apiKey: 'key_wrong_0123456' });
      bridge.retell.behaviour = { kind: 'status', status: 500 };
      await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', voiceParams());
      await new Promise((r) => setTimeout(r, 300));

      const lines = [...bridge.lines, ...bridge.workerLines];
      const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const secret of [AUTH_TOKEN, RETELL_KEY, Buffer.from(`${bridge.config.twilio.accountSid}:${AUTH_TOKEN}`).toString('base64')]) {
        expect(lines.join('\n')).not.toContain(secret);
      }
      expect(records.every((r) => typeof r.level === 'string' && typeof r.time === 'string' && typeof r.msg === 'string')).toBe(true);

      const registered = records.find((r) => r.msg === 'registered with retell' && r.callSid === callSid);
      expect(registered).toMatchObject({ callSid, callId });
      expect(records.find((r) => r.msg === 'transfer queued')).toMatchObject({ callSid, callId, jobId: `transfer-${callSid}-1` });
      expect(records.find((r) => r.msg === 'transfer performed')).toMatchObject({ callSid, callId, jobId: `transfer-${callSid}-1` });
      expect(records.find((r) => r.msg === 'retell registration failed: answering the fallback')).toMatchObject({
        callSid: expect.stringMatching(/^CA/),
        reason: 'retell_rejected',
      });
      expect(records.filter((r) => r.msg === 'request' && r.status === 403)).toHaveLength(1);
      expect(records.filter((r) => r.msg === 'request' && r.status === 401)).toHaveLength(1);
    } finally {
      await bridge.close();
    }
  });

  it('when a request comes with X-Request-Id, then it is answered back and every line logged for the request carries it; without one, an id is made', async () => {
    const bridge = await startBridge({ LOG_LEVEL: 'debug' });
    try {
      const params = voiceParams();
      const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', params, { headers: { 'x-request-id': 'router-id-0123' } });
      expect(res.headers.get('x-request-id')).toBe('router-id-0123');
      bridge.retell.behaviour = { kind: 'status', status: 500 };
      const other = await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', voiceParams(), { headers: { 'x-request-id': 'bad id\twith spaces' } });
      const madeId = other.headers.get('x-request-id');
      expect(madeId).toMatch(/^[0-9a-f-]{36}$/);
      await new Promise((r) => setTimeout(r, 100));

      const records = bridge.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const first = records.filter((r) => r.callSid === params.CallSid);
      expect(first.map((r) => r.msg)).toEqual(expect.arrayContaining(['registered with retell', 'request']));
      for (const r of first) expect(r.requestId).toBe('router-id-0123');

      // An error is logged whole under err: its type and stack, not just its message.
      const failed = records.find((r) => r.msg === 'retell registration failed: answering the fallback');
      expect(failed).toMatchObject({ requestId: madeId, err: { type: 'RegistrationError', message: expect.stringContaining('500') } });
      expect((failed!.err as { stack: string }).stack).toMatch(/\n\s+at /);
      // Lines outside any request have no request id.
      expect(records.find((r) => r.msg === 'web listening')?.requestId).toBeUndefined();
    } finally {
      await bridge.close();
    }
  });
});
