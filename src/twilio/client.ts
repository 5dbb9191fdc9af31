import twilio, { type RequestClient, type Twilio } from 'twilio';
import type { Config } from '../config';
import { TwilioHttpClient } from './http-client';

/**
 * Per-request timeout for the REST API: a caller is waiting on the line, and three attempts (with the
 * looks between them) must fit in an action's 12 s.
 */
export const TWILIO_REQUEST_TIMEOUT_MS = 4000;

/**
 * The Twilio REST client, pointed at `TWILIO_API_BASE_URL`: twilio-node's resources, types and error
 * classes over an undici-based http client (twilio-node has no base-URL option; the http client moves
 * the API's origin). No retries here: BullMQ retries the whole job with backoff instead.
 */
export function createTwilioClient(config: Config['twilio']): Twilio {
  const httpClient = new TwilioHttpClient({ baseUrl: config.apiBaseUrl, timeoutMs: TWILIO_REQUEST_TIMEOUT_MS });
  return twilio(config.accountSid, config.authToken, { httpClient: httpClient as unknown as RequestClient, lazyLoading: true });
}
