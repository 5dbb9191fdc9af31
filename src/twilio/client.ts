import twilio, { RequestClient, type Twilio } from 'twilio';
import type { Config } from '../config';

const TWILIO_API = 'https://api.twilio.com';

/**
 * Per-request timeout for the REST API: a caller is waiting on the line, and three attempts (with the
 * looks between them) must fit in an action's 12 s.
 */
export const TWILIO_REQUEST_TIMEOUT_MS = 4000;

/**
 * The Twilio REST client, pointed at `TWILIO_API_BASE_URL`.
 *
 * twilio-node has no base-URL option, so requests go through an http client that swaps the API origin.
 * The SDK's own retry (429 only) stays off: BullMQ retries the whole job with backoff instead.
 */
export function createTwilioClient(config: Config['twilio']): Twilio {
  const inner = new RequestClient({ timeout: TWILIO_REQUEST_TIMEOUT_MS, keepAlive: true, autoRetry: false });
  const base = config.apiBaseUrl.replace(/\/+$/, '');
  const httpClient =
    base === TWILIO_API
      ? inner
      : ({
          request: (opts: Parameters<RequestClient['request']>[0]) =>
            inner.request({ ...opts, uri: opts.uri.startsWith(TWILIO_API) ? base + opts.uri.slice(TWILIO_API.length) : opts.uri }),
        } as unknown as RequestClient);
  return twilio(config.accountSid, config.authToken, { httpClient, lazyLoading: true });
}
