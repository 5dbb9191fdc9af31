import { ANSWER_BUDGET_MS, loadConfig } from '../../../src/config';
import { answerTiming } from '../../../src/features/inbound/answerer';
import { testEnv } from '../../support/bridge';

/** Every pair of Retell and lookup-hook timeouts the configuration accepts, on a grid. */
function acceptedSettings(): Array<{ retell: number; hook: number }> {
  const pairs: Array<{ retell: number; hook: number }> = [];
  for (let retell = 200; retell <= 8000; retell += 200) {
    for (let hook = 100; hook <= 13_000; hook += 250) {
      try {
        const config = loadConfig(testEnv({ RETELL_TIMEOUT_MS: String(retell), INBOUND_WEBHOOK_URL: 'https://crm.example.com/hook', INBOUND_WEBHOOK_TIMEOUT_MS: String(hook) }));
        pairs.push({ retell: config.retell.timeoutMs, hook: config.lookupHook.timeoutMs });
      } catch {
        break;
      }
    }
  }
  return pairs;
}

describe('answerTiming', () => {
  it('when there is no lookup hook, then the timing is the one derived from Retell\'s timeout alone', () => {
    expect(answerTiming(4000)).toEqual({ leaseMs: 5500, deadlineMs: 11_000 });
    expect(answerTiming(8000)).toEqual({ leaseMs: 9500, deadlineMs: ANSWER_BUDGET_MS });
  });

  it('when a lookup hook is configured, then the lease and the deadline grow with its timeout', () => {
    expect(answerTiming(4000, 2500)).toEqual({ leaseMs: 8000, deadlineMs: ANSWER_BUDGET_MS });
    expect(answerTiming(1000, 500).leaseMs).toBeGreaterThan(answerTiming(1000).leaseMs);
    expect(answerTiming(1000, 500).deadlineMs).toBeGreaterThan(answerTiming(1000).deadlineMs);
  });

  it('for every accepted setting: the claim holder is never overtaken, gets the hook\'s and Retell\'s full time, and answers inside the budget', () => {
    const settings = acceptedSettings();
    expect(settings.length).toBeGreaterThan(500);
    for (const { retell, hook } of settings) {
      const { leaseMs, deadlineMs } = answerTiming(retell, hook);
      expect(leaseMs).toBeGreaterThan(hook + retell);
      // 200 ms is what the answerer keeps after the registration for storing and sending the answer.
      expect(deadlineMs).toBeGreaterThanOrEqual(hook + retell + 200);
      expect(deadlineMs).toBeLessThanOrEqual(ANSWER_BUDGET_MS);
    }
  });
});
