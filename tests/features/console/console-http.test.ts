/**
 * The console over HTTP, against a real bridge holding a warm-transferred call and its events: the
 * password on every spelling of /admin, CSRF on the buttons, escaping, masking, no secret on any page.
 */
import { startBridge } from '../../support/bridge';
import { ADMIN_PASSWORD, adminGet, basic, csrfOf, HOSTILE, rawRequest, startConsoleBridge, type ConsoleBridge } from '../../support/console';
import { AUTH_TOKEN } from '../../support/twilio-signing';
import { RETELL_KEY } from '../../support/bridge';
import { CALLER, SALES } from '../../support/warm-transfer';
import { API_TOKEN } from '../../support/outbound';
import { waitFor } from '../../support/wait';
import { MemoryOutput } from '../../tools/output';
import { runInspect } from '../../../src/tools/inspect';

jest.setTimeout(60_000);

/** Every way of spelling an /admin path we could think of. */
const VARIANTS = [
  '/admin',
  '/admin/',
  '/admin/calls',
  '/admin/calls/',
  '//admin/calls',
  '///admin//calls',
  '/ADMIN/calls',
  '/Admin/Calls',
  '/admin/%2e%2e/admin/calls',
  '/admin/%2e%2e/',
  '/admin/../admin/calls',
  '/x/../admin/calls',
  '/admin./calls',
  '/admin../calls',
  '/admin/calls.',
  '/admin%2fcalls',
  '/admin%2Fcalls',
  '/admin%252fcalls',
  '/%61dmin/calls',
  '/%2561dmin/calls',
  '/admin\\calls',
  '/admin%5ccalls',
  '/admin;x=1/calls',
  '/admin/queues',
  '/ADMIN/QUEUES/',
  '/admin/events',
  '/admin/calls?q=CA00000000000000000000000000000000',
];

describe('the console over HTTP', () => {
  let c: ConsoleBridge;
  beforeAll(async () => {
    c = await startConsoleBridge();
  });
  afterAll(() => c.close());

  it('when no password or a wrong one is given, then every spelling of /admin is refused 401 and shows nothing', async () => {
    for (const path of VARIANTS) {
      for (const headers of [{}, { authorization: basic('wrong-password-123') }, { authorization: 'Bearer x' }] as Array<Record<string, string>>) {
        const res = await rawRequest(c.bridge.url, path, { headers });
        expect({ path, status: res.status }).toEqual({ path, status: 401 });
        expect(res.body).not.toContain(c.call.callSid);
      }
    }
    const post = await rawRequest(c.bridge.url, '/ADMIN/events/evt_00000000000000000000/redeliver', { method: 'POST' });
    expect(post.status).toBe(401);
    // With the password, a cross-site request that changes something is refused before any route, Bull Board's too.
    for (const headers of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }] as Array<Record<string, string>>) {
      const bull = await rawRequest(c.bridge.url, '/admin/queues/api/queues/call-actions/clean/failed', { method: 'PUT', headers: { authorization: basic(ADMIN_PASSWORD), ...headers } });
      expect(bull.status).toBe(403);
    }
  });

  it('when the password is right, then /admin leads to the calls, newest first, with both calls and their states', async () => {
    const root = await adminGet(c.bridge.url, '/admin');
    expect(root.status).toBe(303);
    expect(root.headers.location).toBe('/admin/calls');
    const res = await adminGet(c.bridge.url, '/admin/calls');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(res.headers['content-security-policy']).not.toMatch(/unsafe-inline/);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.body.indexOf(c.hostileSid)).toBeLessThan(res.body.indexOf(c.call.callSid));
    expect(res.body).toContain('transferred');
    expect(res.body).toContain('warm: accepted');
    expect(res.body).toContain(CALLER);
  });

  it('when filtering by state or number, then only matching calls are listed; a bad filter is a 400', async () => {
    const transferred = await adminGet(c.bridge.url, '/admin/calls?state=transferred');
    expect(transferred.body).toContain(c.call.callSid);
    expect(transferred.body).not.toContain(c.hostileSid);
    const ended = await adminGet(c.bridge.url, '/admin/calls?state=ended');
    expect(ended.body).not.toContain(c.call.callSid);
    const byNumber = await adminGet(c.bridge.url, `/admin/calls?number=${encodeURIComponent(CALLER.slice(-7))}`);
    expect(byNumber.body).toContain(c.call.callSid);
    expect((await adminGet(c.bridge.url, '/admin/calls?number=5550000999')).body).not.toContain(c.call.callSid);
    expect((await adminGet(c.bridge.url, '/admin/calls?state=nonsense')).status).toBe(400);
    expect((await adminGet(c.bridge.url, '/admin/calls?state=live&state=ended')).status).toBe(400);
    expect((await adminGet(c.bridge.url, '/admin/calls?cursor=%3Cscript%3E')).status).toBe(400);
  });

  it('when searching by CallSid, Retell call_id or nothing known, then it opens the call or says it is unknown', async () => {
    for (const id of [c.call.callSid, c.call.callId]) {
      const res = await adminGet(c.bridge.url, `/admin/calls?q=${id}`);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe(`/admin/calls/${id}`);
    }
    const unknown = await adminGet(c.bridge.url, '/admin/calls?q=call_nobody');
    expect(unknown.status).toBe(200);
    expect(unknown.body).toContain('No call call_nobody is known');
    const hostile = await adminGet(c.bridge.url, `/admin/calls?q=${encodeURIComponent(HOSTILE)}`);
    expect(hostile.body).not.toContain('<script>');
  });

  it("when a call is opened, then its timeline has the webhook, registration, the function call, each Twilio request with its answer, the person's leg and the events", async () => {
    const res = await adminGet(c.bridge.url, `/admin/calls/${c.call.callId}`);
    expect(res.status).toBe(200);
    const body = res.body;
    expect(body).toContain('Voice webhook: a call came in');
    expect(body).toContain('Registered with Retell');
    expect(body).toContain('Function call #1: warm_transfer');
    expect(body).toMatch(/Twilio POST …\/Calls\.json → 201/);
    expect(body).toMatch(/Twilio POST …\/Calls\/CA[0-9a-f]{32}\.json → 200/);
    expect(body).toContain(`href="/admin/calls/${c.call.legSid}"`);
    expect(body).toContain('Warm transfer accepted by sales');
    expect(body).toContain('Event call.started');
    expect(body).toContain('Event transfer.completed');
    expect(body).not.toContain(c.call.callToken);
    expect((await c.bridge.calls.twilioRequests(c.call.callSid)).map((r) => `${r.method} ${r.status}`)).toEqual(expect.arrayContaining(['POST 201', 'POST 200']));
    const leg = await adminGet(c.bridge.url, `/admin/calls/${c.call.legSid}`);
    expect(leg.status).toBe(200);
    expect(leg.body).toContain(`href="/admin/calls/${c.call.callSid}"`);
    expect(leg.body).toMatch(/Twilio POST …\/Calls\.json → 201/);
    expect((await adminGet(c.bridge.url, '/admin/calls/CA00000000000000000000000000000000')).status).toBe(404);
    expect((await adminGet(c.bridge.url, '/admin/calls/%3Cb%3E')).status).toBe(404);
  });

  it('when npm run inspect prints the call, then it lists each Twilio request with its answer and the call\'s events with their deliveries', async () => {
    const out = new MemoryOutput();
    expect(await runInspect([c.call.callSid], out, () => ({ redis: c.bridge.config.redis }))).toBe(0);
    expect(out.stdout).toMatch(/Twilio requests \(\d+\):/);
    expect(out.stdout).toMatch(/POST +\/2010-04-01\/Accounts\/AC[0-9a-f]{32}\/Calls\.json -> 201, \d+ ms/);
    expect(out.stdout).toMatch(/Events \(\d+\):/);
    expect(out.stdout).toMatch(/call\.started evt_\w+ +events: delivered, \d+ attempts?/);
    expect(out.stdout).not.toContain(c.call.callToken);
  });

  it('when a record holds markup (a caller name, an agent sentence, a summary, a campaign name, a variable), then every page shows it as text', async () => {
    for (const path of ['/admin/calls', `/admin/calls/${c.hostileSid}`, '/admin/campaigns', `/admin/campaigns/${c.campaigns.done}`]) {
      const res = await adminGet(c.bridge.url, path);
      expect(res.status).toBe(200);
      expect(res.body).not.toContain('<script>');
      expect(res.body).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    }
  });

  it('when pages are shown, then no secret is on any of them', async () => {
    const secrets = [ADMIN_PASSWORD, AUTH_TOKEN, RETELL_KEY, API_TOKEN, c.receiver.secret, c.call.callToken];
    const pages = ['/admin/calls', `/admin/calls/${c.call.callSid}`, '/admin/events', `/admin/calls/${c.hostileSid}`, '/admin/campaigns', `/admin/campaigns/${c.campaigns.done}`, `/admin/calls/${c.call.legSid}`];
    for (const path of pages) {
      const res = await adminGet(c.bridge.url, path);
      for (const secret of secrets) expect(res.body).not.toContain(secret);
      expect(res.body).not.toMatch(/authorization/i);
    }
  });

  it('when the redeliver button is posted without a token, with a wrong or stale one, or from another site, then it is refused 403', async () => {
    const [event] = await c.bridge.eventStore.list({ type: 'call.started', limit: 1 });
    const path = `/admin/events/${event!.id}/redeliver`;
    const page = await adminGet(c.bridge.url, '/admin/events');
    const token = csrfOf(page.body);
    const post = (body: string, headers: Record<string, string> = {}) =>
      rawRequest(c.bridge.url, path, { method: 'POST', body, headers: { authorization: basic(ADMIN_PASSWORD), 'content-type': 'application/x-www-form-urlencoded', ...headers } });
    expect((await post('')).status).toBe(403);
    expect((await post('csrf=')).status).toBe(403);
    expect((await post(`csrf=${encodeURIComponent(token.slice(0, -2))}xx`)).status).toBe(403);
    expect((await post(`csrf=${(Date.now() - 9 * 3600_000).toString(36)}.${token.split('.')[1]}`)).status).toBe(403);
    expect((await post(`csrf=${encodeURIComponent(token)}`, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(`csrf=${encodeURIComponent(token)}`, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    const before = c.receiver.withId(event!.id).length;
    expect(before).toBeGreaterThan(0);

    const ok = await post(`csrf=${encodeURIComponent(token)}`, { 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe(`/admin/events?redelivered=${event!.id}&n=1`);
    await waitFor('the event delivered again', () => c.receiver.withId(event!.id).length > before);
    const after = await adminGet(c.bridge.url, ok.headers.location!);
    expect(after.body).toContain(`Event ${event!.id} is being delivered again (redelivery 1).`);
  });

  it('when the campaigns are shown, then each has its progress, one its counts, outcomes chart, tasks with links to their attempts, and the results CSV', async () => {
    const list = await adminGet(c.bridge.url, '/admin/campaigns');
    expect(list.status).toBe(200);
    expect(list.body).toContain(`/admin/campaigns/${c.campaigns.done}`);
    expect(list.body).toMatch(/<progress max="2" value="2"/);
    expect(list.body).toContain('Spring follow-up');
    expect(list.body).not.toContain('<script>');

    const one = await adminGet(c.bridge.url, `/admin/campaigns/${c.campaigns.done}`);
    expect(one.status).toBe(200);
    expect(one.body).toContain('<svg role="img"');
    expect(one.body).toMatch(/<title id="outcomes-title">Outcomes: (completed 1, dial_no_answer 1|dial_no_answer 1, completed 1)<\/title>/);
    expect(one.body).toContain('Results (CSV)');
    const attempt = /href="\/admin\/calls\/(out_[0-9a-f]{32})">attempt 1<\/a>: completed/.exec(one.body)?.[1];
    expect(attempt).toBeDefined();
    // The attempt's call page links back to its campaign task.
    const call = await adminGet(c.bridge.url, `/admin/calls/${attempt}`);
    expect(call.status).toBe(200);
    expect(call.body).toContain(`href="/admin/campaigns/${c.campaigns.done}?task=tsk_1"`);
    // The unanswered attempt has no call record: its page is the outbound record, with its calls.create.
    const unanswered = /href="\/admin\/calls\/(out_[0-9a-f]{32})">attempt 1<\/a>: dial_no_answer/.exec(one.body)?.[1];
    const outboundPage = await adminGet(c.bridge.url, `/admin/calls/${unanswered}`);
    expect(outboundPage.status).toBe(200);
    expect(outboundPage.body).toContain('never answered');
    expect(outboundPage.body).toContain(`href="/admin/campaigns/${c.campaigns.done}?task=tsk_2"`);
    expect(outboundPage.body).toMatch(/Twilio POST …\/Calls\.json → 201/);
    const highlighted = await adminGet(c.bridge.url, `/admin/campaigns/${c.campaigns.done}?task=tsk_2`);
    expect(highlighted.body).toMatch(/<tr class="ok" aria-current="true" id="tsk_2">/);

    const csv = await adminGet(c.bridge.url, `/admin/campaigns/${c.campaigns.done}/results.csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect(csv.body.split('\r\n')[1]).toMatch(/^\+12125550101,completed,completed,1,CA/);
    expect((await adminGet(c.bridge.url, '/admin/campaigns/cmp_00000000000000000000000000000000')).status).toBe(404);
    expect((await rawRequest(c.bridge.url, `/admin/campaigns/${c.campaigns.done}/results.csv`)).status).toBe(401);
  });

  it('when pause and resume are posted with the page\'s token, then the campaign is paused and resumed; without it, nothing changes', async () => {
    const self = `/admin/campaigns/${c.campaigns.waiting}`;
    const page = await adminGet(c.bridge.url, self);
    expect(page.body).toContain('>Pause</button>');
    const token = csrfOf(page.body);
    const post = (action: string, body: string) =>
      rawRequest(c.bridge.url, `${self}/${action}`, { method: 'POST', body, headers: { authorization: basic(ADMIN_PASSWORD), 'content-type': 'application/x-www-form-urlencoded' } });
    expect((await post('pause', '')).status).toBe(403);
    expect((await post('cancel', 'csrf=1.abc')).status).toBe(403);
    const status = async () => ((await (await fetch(`${c.bridge.url}/campaigns/${c.campaigns.waiting}`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as { status: string }).status;
    expect(await status()).toBe('scheduled');
    const paused = await post('pause', `csrf=${encodeURIComponent(token)}`);
    expect(paused.status).toBe(303);
    expect(await status()).toBe('paused');
    expect((await adminGet(c.bridge.url, paused.headers.location!)).body).toContain('The campaign is paused.');
    await post('resume', `csrf=${encodeURIComponent(token)}`);
    expect(await status()).not.toBe('paused');
  });

  it('when /admin/events is shown, then each event has its delivery status and attempts', async () => {
    const res = await adminGet(c.bridge.url, '/admin/events');
    expect(res.status).toBe(200);
    expect(res.body).toContain('call.started');
    expect(res.body).toContain('delivered');
    expect(res.body).toContain(`/admin/calls/${c.call.callSid}`);
    expect((await adminGet(c.bridge.url, '/admin/events?type=transfer.completed')).body).not.toContain('<td>call.started</td>');
  });
});

describe('the console with numbers masked', () => {
  let c: ConsoleBridge;
  beforeAll(async () => {
    c = await startConsoleBridge({ ADMIN_MASK_NUMBERS: 'true' });
  });
  afterAll(() => c.close());

  it('when ADMIN_MASK_NUMBERS is true, then pages show only the last 4 digits of each number', async () => {
    for (const path of ['/admin/calls', `/admin/calls/${c.call.callSid}`]) {
      const res = await adminGet(c.bridge.url, path);
      expect(res.status).toBe(200);
      for (const n of [CALLER, SALES]) {
        expect(res.body).not.toContain(n);
        expect(res.body).not.toContain(n.slice(1));
      }
      expect(res.body).toContain(`+•••••••${CALLER.slice(-4)}`);
    }
    const csv = await adminGet(c.bridge.url, `/admin/campaigns/${c.campaigns.done}/results.csv`);
    expect(csv.body).not.toContain('+12125550101');
    expect(csv.body).toContain('+•••••••0101');
    expect((await adminGet(c.bridge.url, `/admin/campaigns/${c.campaigns.done}`)).body).not.toContain('+12125550101');
  });
});

describe('the console without ADMIN_PASSWORD', () => {
  it('when no password is set, then every spelling of /admin is 404', async () => {
    const bridge = await startBridge();
    try {
      for (const path of VARIANTS) {
        const res = await rawRequest(bridge.url, path, { headers: { authorization: basic('anything-at-all') } });
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
      }
    } finally {
      await bridge.close();
    }
  });
});
