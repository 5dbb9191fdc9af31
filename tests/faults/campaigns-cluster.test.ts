/**
 * Campaigns on a Redis Cluster of three masters: every script of a campaign touches one slot (its
 * `{cmp_…}` tag), the campaign lists theirs, and the scheduler (two workers) dials each number once.
 */
import { Metrics } from '../../src/observability/metrics';
import { startWorker, type RunningWorker } from '../../src/worker/start';
import { startBridge, type TestBridge } from '../support/bridge';
import { memoryLogger } from '../support/logs';
import { OUR_NUMBER, OUTBOUND_ENV } from '../support/outbound';
import { api } from '../features/campaigns/support';
import { waitFor } from './support/ports';
import { RedisClusterTopology } from './support/redis-topology';

jest.setTimeout(180_000);

describe('campaigns on a Redis Cluster', () => {
  let cluster: RedisClusterTopology;
  let bridge: TestBridge;
  let second: RunningWorker;
  beforeAll(async () => {
    cluster = await RedisClusterTopology.start();
    bridge = await startBridge({ ...OUTBOUND_ENV, TWILIO_CPS: '50', ...cluster.env }, { worker: true, campaigns: { campaignTickMs: 200 } });
    bridge.twilio.addNumber(OUR_NUMBER);
    second = startWorker({ config: bridge.config, logger: memoryLogger('warn').logger, metrics: new Metrics({ defaultMetrics: false }), campaigns: { campaignTickMs: 200 } });
  });
  afterAll(async () => {
    await second?.close(5000);
    await bridge?.close();
    await cluster?.dispose();
  });

  it('when a campaign is created, filled by CSV, paged, dialed and read back, then it works as on one Redis, each number dialed once', async () => {
    bridge.twilio.callee.defaultScript = { answer: 'busy', ringMs: 10 };
    const created = await api(bridge, 'POST', '/campaigns', { paused: true, tasks: [{ to: '+12125555000' }] }, { key: 'cluster-1' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const csv = ['to,name', ...Array.from({ length: 19 }, (_, i) => `+1212555${5001 + i},N${i}`), '+12125555000,dup'].join('\r\n');
    const added = await api(bridge, 'POST', `/campaigns/${id}/tasks`, undefined, { csv, key: 'cluster-tasks-1' });
    expect(added.body).toEqual({ added: 19, skipped: [{ row: 21, reason: expect.stringMatching(/duplicate/) }] });
    expect((await api(bridge, 'GET', '/campaigns')).body.campaigns.map((c: { id: string }) => c.id)).toContain(id);
    await api(bridge, 'POST', `/campaigns/${id}/resume`);
    await waitFor('the campaign to complete', async () => (await api(bridge, 'GET', `/campaigns/${id}`)).body.status === 'completed', 60_000);
    const creates = bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));
    expect(creates).toHaveLength(20);
    expect(new Set(creates.map((r) => r.form.To)).size).toBe(20);
    expect((await api(bridge, 'GET', `/campaigns/${id}`)).body).toMatchObject({ counts: { total: 20, completed: 20 }, outcomes: { dial_busy: 20 } });
    expect((await api(bridge, 'GET', `/campaigns/${id}/results.csv`)).text.trim().split('\r\n')).toHaveLength(21);
  });
});
