import { startBridge, type TestBridge } from '../../support/bridge';
import { eventsOf, EVENTS_ENV } from '../../support/events';
import { HookServer } from '../../support/hook-server';
import { OUR_NUMBER, OUTBOUND_ENV } from '../../support/outbound';
import { sleep, waitFor } from '../../support/wait';
import { api } from './support';

/** The pre-dial hook (PREDIAL_WEBHOOK_URL) asked before each campaign dial, failing closed. */
describe('campaigns and the pre-dial hook', () => {
  let bridge: TestBridge;
  let hook: HookServer;
  let now = Date.UTC(2026, 2, 4, 15, 0);
  beforeAll(async () => {
    hook = await new HookServer().start();
    bridge = await startBridge(
      { ...OUTBOUND_ENV, ...EVENTS_ENV, TWILIO_CPS: '20', PREDIAL_WEBHOOK_URL: `${hook.url}/predial`, PREDIAL_WEBHOOK_TIMEOUT_MS: '500' },
      { worker: true, campaigns: { clock: () => now, campaignTickMs: 100 } },
    );
    bridge.twilio.addNumber(OUR_NUMBER);
  });
  afterAll(async () => {
    await bridge.close();
    await hook.stop();
  });

  it('when the hook refuses a dial, then the task ends predial_refused without a call and is not retried', async () => {
    bridge.twilio.callee.defaultScript = { answer: 'failed' };
    hook.behaviour = { kind: 'answer', body: { allow: false, reason: 'no consent on file' } };
    const res = await api(bridge, 'POST', '/campaigns', { tasks: [{ to: '+12125556001' }], retry: { on: ['failed'], max_attempts: 3, delay_s: 1 } });
    const id = res.body.id as string;
    await waitFor('the campaign to complete', async () => (await api(bridge, 'GET', `/campaigns/${id}`)).body.status === 'completed', 20_000, 100);
    now += 10_000;
    await sleep(500);
    const [task] = (await api(bridge, 'GET', `/campaigns/${id}/tasks`)).body.tasks;
    expect(task).toMatchObject({ status: 'completed', outcome: 'predial_refused', attempts: [{ outcome: 'predial_refused' }] });
    expect(bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'))).toHaveLength(0);
    expect(hook.requests.length).toBeGreaterThanOrEqual(1);
    await waitFor('the task event', async () => (await eventsOf(bridge, 'campaign.task.completed')).length >= 1);
    expect((await eventsOf(bridge, 'campaign.task.completed'))[0]!.data).toMatchObject({ campaign_id: id, outcome: 'predial_refused', attempts: 1 });
  });
});
