import Retell from 'retell-sdk';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Config } from '../config';

/**
 * The Retell client for the webhook hot path.
 *
 * - `maxRetries: 0`: register sends no idempotency key, so an SDK retry after a timeout can mint a
 *   second, orphaned Retell call; and there is no time for retries inside Twilio's 15 s budget.
 * - A keep-alive undici pool instead of the global fetch: the TLS handshake to Retell is paid once per
 *   connection, not once per call.
 */
export function createRetellClient(config: Config['retell']): Retell {
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 128, pipelining: 1 });
  const fetchWithPool = ((input: string | URL | Request, init?: RequestInit) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher,
    })) as unknown as typeof fetch;
  return new Retell({
    apiKey: config.apiKey,
    baseURL: config.baseUrl,
    timeout: config.timeoutMs,
    maxRetries: 0,
    fetch: fetchWithPool,
    logLevel: 'off',
  });
}
