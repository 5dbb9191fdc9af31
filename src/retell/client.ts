import Retell from 'retell-sdk';
import { Agent } from 'undici';
import type { Config } from '../config';
import { bufferedFetch } from '../http/buffered-fetch';

/**
 * The Retell client for the webhook hot path.
 *
 * - `maxRetries: 0`: register sends no idempotency key, so an SDK retry after a timeout can mint a
 *   second, orphaned Retell call; and there is no time for retries inside Twilio's 15 s budget.
 * - A keep-alive undici pool: the TLS handshake to Retell is paid once per connection, not once per call.
 * - `fetch` over undici's dispatcher API (`bufferedFetch`) rather than a WHATWG fetch: registering a
 *   call through the SDK on fetch (Node's built-in one or undici's) costs about three times the CPU,
 *   nearly all of it in Request/Response/stream objects the SDK never needs. See BENCHMARKS.md.
 */
export function createRetellClient(config: Config['retell']): Retell {
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 128, pipelining: 1 });
  return new Retell({
    apiKey: config.apiKey,
    baseURL: config.baseUrl,
    timeout: config.timeoutMs,
    maxRetries: 0,
    fetch: bufferedFetch(dispatcher),
    logLevel: 'off',
  });
}
