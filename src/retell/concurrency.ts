import type Retell from 'retell-sdk';

export interface RetellConcurrency {
  /** Calls the Retell workspace has going now. */
  current: number;
  /** How many it may have at once. */
  limit: number;
}

/**
 * Retell's `GET /get-concurrency`: how many calls the workspace has going and may have. A workspace at
 * its limit refuses new calls (`concurrency_limit_reached`), so outbound calls are held back before
 * dialing rather than answered by a callee who then hears the fallback.
 */
export async function getRetellConcurrency(client: Retell, timeoutMs: number): Promise<RetellConcurrency> {
  const answer = await client.concurrency.retrieve({ timeout: timeoutMs, maxRetries: 0 });
  const current = answer.current_concurrency;
  const limit = answer.concurrency_limit;
  if (typeof current !== 'number' || typeof limit !== 'number') {
    throw new Error('Retell answered get-concurrency without current_concurrency and concurrency_limit');
  }
  return { current, limit };
}
