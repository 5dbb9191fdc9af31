import { startBridge, type TestBridge } from '../support/bridge';

describe('health endpoints', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startBridge();
  });
  afterAll(() => bridge.close());

  it('GET /healthz answers 200 while the process is up', async () => {
    const res = await fetch(`${bridge.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 when Redis answers', async () => {
    const res = await fetch(`${bridge.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ redis: 'up' });
  });

  it('an unknown path answers 404', async () => {
    expect((await fetch(`${bridge.url}/nope`)).status).toBe(404);
  });
});
