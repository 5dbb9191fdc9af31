/**
 * The `referUrl` Twilio requests if the far end of the <Dial> to Retell sends a SIP REFER: signed, checked
 * against the same destinations as transfer_call, counted.
 */
import { PUBLIC_URL, startBridge, type TestBridge } from '../../support/bridge';
import { newCallSid, postSigned, voiceParams } from '../../support/twilio-signing';

const XML = '<?xml version="1.0" encoding="UTF-8"?>';

describe('POST /twilio/refer', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startBridge({
      TRANSFER_DESTINATIONS: JSON.stringify({ sales: '+14155550101', desk: 'sip:desk@pbx.example.com' }),
      TRANSFER_ALLOWLIST: '+1646*',
      FALLBACK_MESSAGE: 'Sorry, we cannot transfer you right now.',
    });
  });
  afterAll(() => bridge.close());

  const refer = (target: string | undefined, overrides: Record<string, string> = {}) => {
    const params: Record<string, string> = { ...voiceParams({ CallSid: newCallSid(), CallStatus: 'in-progress' }), ...overrides };
    if (target !== undefined) params.ReferTransferTarget = target;
    return postSigned(bridge.url, PUBLIC_URL, '/twilio/refer', params);
  };
  const counted = () => bridge.metrics.prometheus.getSingleMetricAsString('bridge_refer_requests_total');
  const refusals = async () => (await bridge.metrics.referRequests.get()).values.find((v) => v.labels.result === 'refused')?.value ?? 0;

  it('when the target is an allow-listed tel: URI, then the caller is dialed to it, showing their own number', async () => {
    const res = await refer('<tel:+16465550100>');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`${XML}<Response><Dial callerId="+14155550199"><Number>+16465550100</Number></Dial></Response>`);
    expect(await counted()).toContain('result="transferred"} 1');
    expect(bridge.lines.some((l) => l.includes('sip refer: transferring'))).toBe(true);
  });

  it('when the target is a configured SIP destination with headers, then it is dialed over SIP, headers dropped', async () => {
    const res = await refer('<sip:desk@pbx.example.com?X-Retell-Call=abc>');
    expect(await res.text()).toBe(`${XML}<Response><Dial callerId="+14155550199"><Sip>sip:desk@pbx.example.com</Sip></Dial></Response>`);
  });

  it('when the caller ID is withheld, then the business number is shown', async () => {
    const res = await refer('tel:+14155550101', { From: 'Anonymous', Caller: 'Anonymous' });
    expect(await res.text()).toContain('<Dial callerId="+14155550100">');
  });

  it.each([
    ['a number off the allowlist', '<tel:+19005550199>'],
    ['a SIP URI not configured', 'sip:attacker@evil.example.com'],
  ])('when the target is %s, then nothing is dialed there: the caller gets the fallback, and the refusal is counted', async (_what, target) => {
    const before = await refusals();
    const res = await refer(target);
    expect(res.status).toBe(200);
    const twiml = await res.text();
    expect(twiml).toBe(`${XML}<Response><Say>Sorry, we cannot transfer you right now.</Say><Hangup/></Response>`);
    expect(await refusals()).toBe(before + 1);
  });

  it('when the request is unsigned or forged, then 403', async () => {
    const params = { ...voiceParams(), ReferTransferTarget: 'tel:+16465550100' };
    expect((await postSigned(bridge.url, PUBLIC_URL, '/twilio/refer', params, { signature: null })).status).toBe(403);
    expect((await postSigned(bridge.url, PUBLIC_URL, '/twilio/refer', params, { tamper: (p) => ({ ...p, ReferTransferTarget: 'tel:+19005550199' }) })).status).toBe(403);
  });

  it('when ReferTransferTarget is missing, then 400 naming it', async () => {
    const res = await refer(undefined);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('ReferTransferTarget');
  });
});
