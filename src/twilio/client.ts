import twilio, { RequestClient, type Twilio } from 'twilio';
import type { Config } from '../config';
import type { Metrics } from '../observability/metrics';

const TWILIO_API = 'https://api.twilio.com';

/**
 * Per-request timeout for the REST API: a caller is waiting on the line, and three attempts (with the
 * looks between them) must fit in an action's 12 s.
 */
export const TWILIO_REQUEST_TIMEOUT_MS = 4000;

type RequestOptions = Parameters<RequestClient['request']>[0];

/** The REST resource a request is for (`Calls`, `IncomingPhoneNumbers`), a bounded metric label. */
function resourceOf(uri: string): string {
  return /\/Accounts\/AC[0-9a-fA-F]{32}\/([A-Za-z]+)/.exec(uri)?.[1] ?? 'other';
}

/**
 * The Twilio REST client, pointed at `TWILIO_API_BASE_URL`, timing each request into
 * `bridge_twilio_request_duration_seconds` when given the metrics.
 *
 * twilio-node has no base-URL option, so requests go through an http client that swaps the API origin.
 * The SDK's own retry (429 only) stays off: BullMQ retries the whole job with backoff instead.
 */
export function createTwilioClient(config: Config['twilio'], metrics?: Pick<Metrics, 'twilioRequestDuration'>): Twilio {
  const inner = new RequestClient({ timeout: TWILIO_REQUEST_TIMEOUT_MS, keepAlive: true, autoRetry: false });
  const base = config.apiBaseUrl.replace(/\/+$/, '');
  const rebase = (uri: string) => (base !== TWILIO_API && uri.startsWith(TWILIO_API) ? base + uri.slice(TWILIO_API.length) : uri);
  const request = async (opts: RequestOptions) => {
    const sent = inner.request({ ...opts, uri: rebase(opts.uri) });
    if (!metrics) return sent;
    const labels = { resource: resourceOf(opts.uri), method: String(opts.method).toUpperCase() };
    const stop = metrics.twilioRequestDuration.startTimer(labels);
    try {
      const res = await sent;
      stop({ code: String(res.statusCode) });
      return res;
    } catch (err) {
      stop({ code: 'error' });
      throw err;
    }
  };
  const httpClient = base === TWILIO_API && !metrics ? inner : ({ request } as unknown as RequestClient);
  return twilio(config.accountSid, config.authToken, { httpClient, lazyLoading: true });
}
