/**
 * The console in a real browser: Chromium (Debian's, headless) driven by playwright-core against a real
 * bridge holding a warm-transferred call and its events. Each page is opened, checked and
 * screenshotted under test-output/screenshots/; the redeliver button is clicked; the pages are walked
 * with the keyboard alone.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ADMIN_PASSWORD, HOSTILE, startConsoleBridge, type ConsoleBridge } from '../../support/console';
import { waitFor } from '../../support/wait';

jest.setTimeout(90_000);

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = path.resolve(__dirname, '../../../test-output/screenshots');

describe('the console in a browser', () => {
  let c: ConsoleBridge;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
    mkdirSync(SHOTS, { recursive: true });
    c = await startConsoleBridge();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    context = await browser.newContext({ httpCredentials: { username: 'operator', password: ADMIN_PASSWORD }, viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    // Nothing on the pages may break the Content-Security-Policy (which would mean inline script or style slipped in).
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) throw new Error(`CSP violation: ${msg.text()}`);
    });
  });
  afterAll(async () => {
    await browser?.close();
    await c?.close();
  });

  it('when /admin is opened, then the calls list shows the calls, newest first, with their states', async () => {
    await page.goto(`${c.bridge.url}/admin`);
    expect(new URL(page.url()).pathname).toBe('/admin/calls');
    await expect(page.title()).resolves.toBe('Calls · bridge console');
    const rows = page.locator('table.calls tbody tr');
    // The answered campaign attempt (the unanswered one never had a call record), the record full of
    // markup, then the warm-transferred call.
    expect(await rows.count()).toBe(3);
    const texts = await rows.allInnerTexts();
    const transferred = texts.findIndex((t) => t.includes('warm: accepted'));
    const hostile = texts.findIndex((t) => t.includes(HOSTILE));
    expect(texts[transferred]).toContain('transferred');
    // The hostile record's text shows as text (no script element on the page), and it is newer.
    expect(hostile).toBeGreaterThanOrEqual(0);
    expect(hostile).toBeLessThan(transferred);
    expect(await page.evaluate('document.scripts.length')).toBe(0);
    await shot('calls');
  });

  it('when the list is filtered and searched, then it shows the matching call, and a search opens it', async () => {
    await page.goto(`${c.bridge.url}/admin/calls`);
    await page.getByLabel('State').selectOption('transferred');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/state=transferred/);
    expect(await page.locator('table.calls tbody tr').count()).toBe(1);
    await shot('calls-filtered');
    await page.getByLabel('CallSid, Retell call_id or out_… id').fill(c.call.callId);
    await page.getByRole('button', { name: 'Open' }).click();
    await page.waitForURL(new RegExp(`/admin/calls/${c.call.callId}$`));
    expect(await page.locator('h1').innerText()).toContain(c.call.callSid);
  });

  it("when a call is opened, then its timeline shows everything in order, and the person's leg links to its own page", async () => {
    await page.goto(`${c.bridge.url}/admin/calls/${c.call.callSid}`);
    const items = page.locator('ol.timeline > li');
    const texts = await items.allInnerTexts();
    const index = (needle: string | RegExp) => texts.findIndex((t) => (typeof needle === 'string' ? t.includes(needle) : needle.test(t)));
    expect(index('Voice webhook: a call came in')).toBe(0);
    expect(index('Registered with Retell')).toBeGreaterThan(0);
    expect(index('Function call #1: warm_transfer')).toBeGreaterThan(index('Registered with Retell'));
    expect(index(/Twilio POST …\/Calls\.json → 201/)).toBeGreaterThan(index('Function call #1: warm_transfer'));
    expect(index('Warm transfer accepted by sales')).toBeGreaterThan(0);
    expect(index('Event call.started')).toBeGreaterThan(0);
    await shot('call');
    await page.getByRole('link', { name: c.call.legSid }).first().click();
    await page.waitForURL(new RegExp(`/admin/calls/${c.call.legSid}$`));
    expect(await page.locator('h1').innerText()).toContain('Call leg');
    await shot('call-leg');
    await page.getByRole('link', { name: c.call.callSid }).click();
    await page.waitForURL(new RegExp(`/admin/calls/${c.call.callSid}$`));
  });

  it('when Redeliver is clicked on the events page, then the event is delivered again and the page says so', async () => {
    await page.goto(`${c.bridge.url}/admin/events`);
    expect(await page.locator('tbody tr').count()).toBeGreaterThan(1);
    await shot('events');
    const [event] = await c.bridge.eventStore.list({ type: 'call.started', limit: 1 });
    const before = c.receiver.withId(event!.id).length;
    await page.getByRole('button', { name: `Redeliver call.started event ${event!.id}` }).click();
    await page.waitForURL(/redelivered=/);
    expect(await page.getByRole('status').innerText()).toContain(`Event ${event!.id} is being delivered again`);
    await waitFor('the redelivery at the receiver', () => c.receiver.withId(event!.id).length > before);
    await page.reload();
    await shot('events-redelivered');
  });

  it('when the campaigns are opened, then the list shows progress bars and a campaign its counts, outcomes chart and tasks', async () => {
    await page.goto(`${c.bridge.url}/admin/campaigns`);
    expect(await page.locator('progress').count()).toBe(2);
    await shot('campaigns');
    await page.getByRole('link', { name: `Renewals ${HOSTILE}` }).click();
    await page.waitForURL(new RegExp(`/admin/campaigns/${c.campaigns.done}$`));
    expect(await page.getByRole('img').getAttribute('aria-labelledby')).toBe('outcomes-title');
    expect(await page.locator('tbody tr').count()).toBe(2);
    await shot('campaign');
    // A task's attempt opens its call, whose timeline links back to the task.
    await page.getByRole('link', { name: 'attempt 1' }).first().click();
    await page.waitForURL(/\/admin\/calls\/out_/);
    expect(await page.locator('ol.timeline').innerText()).toContain('campaign attempt');
    await shot('call-campaign-attempt');
  });

  it('when Pause then Resume are clicked on a campaign, then it is paused then resumed, and the page says so each time', async () => {
    await page.goto(`${c.bridge.url}/admin/campaigns/${c.campaigns.waiting}`);
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.waitForURL(/done=pause/);
    expect(await page.getByRole('status').innerText()).toBe('The campaign is paused.');
    expect(await page.locator('main strong').first().innerText()).toBe('paused');
    await shot('campaign-paused');
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.waitForURL(/done=resume/);
    expect(await page.getByRole('status').innerText()).toBe('The campaign is resumed.');
    expect(await page.getByRole('button', { name: 'Pause' }).count()).toBe(1);
  });

  it('when only the keyboard is used, then the skip link, the navigation, the filters and the rows are reachable in order with a visible focus', async () => {
    await page.goto(`${c.bridge.url}/admin/calls`);
    // Evaluated in the page (a string: the suite's TypeScript has no DOM types).
    const focused = async () =>
      page.evaluate(`(() => {
        const el = document.activeElement;
        const field = el && (el.tagName === 'INPUT' || el.tagName === 'SELECT');
        return { tag: el ? el.tagName : '', text: ((field ? el.id : el && el.innerText) || (el && el.getAttribute('aria-label')) || '').trim(), outline: el ? getComputedStyle(el).outlineStyle : '' };
      })()`) as Promise<{ tag: string; text: string; outline: string }>;
    await page.keyboard.press('Tab');
    expect(await focused()).toMatchObject({ tag: 'A', text: 'Skip to content' });
    const seen: string[] = [];
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab');
      const f = await focused();
      if (f.tag === 'BODY') break;
      seen.push(`${f.tag}:${f.text}`);
      expect({ at: seen.at(-1), outline: f.outline }).not.toEqual({ at: seen.at(-1), outline: 'none' });
    }
    expect(seen.slice(0, 5)).toEqual(['A:Calls', 'A:Events', 'A:Campaigns', 'A:Queues', 'INPUT:q']);
    expect(seen).toContain('SELECT:state');
    expect(seen.some((s) => s.startsWith('A:20'))).toBe(true);
    // Enter on a focused row link opens the call.
    while (!(await focused()).text.startsWith('20')) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/admin\/calls\/CA/);
  });

  it('when the screen is a phone, then the list and the call fit its width', async () => {
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    for (const [name, p] of [['calls-phone', '/admin/calls'], ['call-phone', `/admin/calls/${c.call.callSid}`], ['campaign-phone', `/admin/campaigns/${c.campaigns.done}`]] as const) {
      await phone.goto(`${c.bridge.url}${p}`);
      const wide = (await phone.evaluate(`(() => {
        const width = document.documentElement.clientWidth;
        return [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > width + 1 && !el.closest('.scroll') && !el.classList.contains('skip'))
          .map((el) => el.tagName + '.' + el.className + ': ' + (el.innerText || '').slice(0, 40));
      })()`)) as string[];
      const scroll = await phone.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      expect({ page: name, wide, scroll }).toEqual({ page: name, wide: [], scroll: 0 });
      await phone.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    }
    await phone.close();
  });
});
