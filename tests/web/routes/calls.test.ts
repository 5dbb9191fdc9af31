import { startBridge, type TestBridge } from '../../support/bridge';
import { CALLEE, OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForOutcome, waitForCall } from '../../support/outbound';

describe('outbound calls: POST /calls through the worker, Twilio and the callee', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge(OUTBOUND_ENV, { worker: true });
    bridge.twilio.addNumber(OUR_NUMBER);
  });
  afterEach(() => bridge.close());

  it('when a person answers, then the call is registered once with direction outbound and the request\'s fields', async () => {
    bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 300 };
    const id = await placeCall(bridge, { dynamic_variables: { first_name: 'Ada' }, metadata: { crm_id: 42 } });
    const ended = await waitForOutcome(bridge, id);
    expect(ended.outcome).toBe('completed');
    expect(bridge.retell.registrations).toHaveLength(1);
    console.log(JSON.stringify(ended, null, 1), bridge.retell.registrations[0]!.body, bridge.twilio.callee.webhooks.map(w => [w.kind, w.status, w.params.CallStatus, w.body.slice(0,200)]));
  });
});
