/**
 * Fault cases: a campaign's worker is SIGKILLed while its dials are inside Twilio, and two workers run
 * the same campaign. Counted from the fake Twilio's side: every number is dialed exactly as often as its
 * callee and the retry rule allow (no extra dial), and every task reaches its final state (none lost).
 */
import { OUR_NUMBER, OUTBOUND_ENV } from '../support/outbound';
import { TAKEOVER_BOUND_MS, useCrashHarness } from './support/crash-harness';
import { campaignNumbers, createCampaign, dialsOf, expectedDials, faultCallee, tasksOf, waitCompleted } from './support/campaigns';
import { sleep, waitFor } from './support/ports';

const ENV = { ...OUTBOUND_ENV, TWILIO_CPS: '10' };
const crash = useCrashHarness(ENV, { numbers: [OUR_NUMBER], workerEnv: (b) => ({ ...ENV, RETELL_BASE_URL: b.retell.url }) });

/** Every task final, each with as many attempts as its number was dialed, each attempt a call Twilio made. */
async function expectEveryTaskFinal(id: string, numbers: readonly string[]): Promise<void> {
  const tasks = await tasksOf(crash.bridge.url, id);
  expect(tasks.map((t) => t.to).sort()).toEqual([...numbers].sort());
  expect(tasks.filter((t) => t.status !== 'completed').map((t) => `${t.to}: ${t.status}`)).toEqual([]);
  const placed = new Set(crash.bridge.twilio.callee.placed.keys());
  for (const t of tasks) {
    expect({ to: t.to, attempts: t.attempts.length }).toEqual({ to: t.to, attempts: expectedDials([t.to])[t.to] });
    for (const a of t.attempts) expect(placed.has(a.call_sid ?? '(no CallSid)')).toBe(true);
  }
}

describe('a campaign when workers crash or compete', () => {
  beforeEach(() => {
    crash.bridge.twilio.callee.scriptRule = faultCallee;
  });

  it('when the worker is SIGKILLed mid-dial, then the next worker finishes the campaign: each number dialed exactly as often as allowed, no task lost', async () => {
    // Twilio answers each create late: at any moment some dial is inside calls.create.
    for (let i = 0; i < 200; i++) crash.bridge.twilio.callee.createInjections.push({ kind: 'late', ms: 400 });
    const numbers = campaignNumbers(30);
    const first = await crash.startWorker();
    const id = await createCampaign(crash.bridge.url, numbers);
    const creates = () => crash.bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));
    // Killed once a third of the dials are made, at a moment a create is inside Twilio (not yet answered).
    await waitFor('a third of the dials, one of them inside calls.create', () => creates().length >= 10 && creates().some((r) => r.answered === undefined), 30_000, 5);
    await first.kill();
    const killedAfter = creates().length;

    await crash.startWorker();
    const done = await waitCompleted(crash.bridge.url, id, TAKEOVER_BOUND_MS + 60_000);
    await sleep(2000);

    expect(killedAfter).toBeLessThan(numbers.length);
    expect(dialsOf(crash.bridge.twilio.callee, numbers)).toEqual(expectedDials(numbers));
    expect(done.counts).toMatchObject({ total: 30, completed: 30, pending: 0, scheduled: 0, dialing: 0, in_progress: 0 });
    await expectEveryTaskFinal(id, numbers);
  });

  it('when two workers run the same campaign, then each number is dialed exactly as often as allowed, and both share the work', async () => {
    const numbers = campaignNumbers(40);
    const workers = [await crash.startWorker(), await crash.startWorker()];
    const id = await createCampaign(crash.bridge.url, numbers);
    const done = await waitCompleted(crash.bridge.url, id, 90_000);
    await sleep(2000);

    expect(dialsOf(crash.bridge.twilio.callee, numbers)).toEqual(expectedDials(numbers));
    expect(done.counts).toMatchObject({ total: 40, completed: 40, pending: 0, scheduled: 0, dialing: 0, in_progress: 0 });
    await expectEveryTaskFinal(id, numbers);
    expect(workers.map((w) => w.alive)).toEqual([true, true]);
    // Both took part: each queued attempts of the one campaign, and each placed calls.
    for (const w of workers) {
      expect(w.messages().filter((m) => m === 'campaign attempt queued').length).toBeGreaterThan(0);
      expect(w.messages().filter((m) => m === 'outbound call placed').length).toBeGreaterThan(0);
    }
  });
});
