import twilio, { type RequestClient, type Twilio } from 'twilio';
import type { Config } from '../config';
import type { Metrics } from '../observability/metrics';
import { resourceOf, TwilioHttpClient, type ObservedTwilioRequest } from './http-client';

/**
 * Per-request timeout for the REST API: a caller is waiting on the line, and three attempts (with the
 * looks between them) must fit in an action's 11 s.
 */
export const TWILIO_REQUEST_TIMEOUT_MS = 4000;

type TwilioRequest = Parameters<RequestClient['request']>[0];

/** `client`, timing each request into `bridge_twilio_request_duration_seconds` (code `error` when no answer came). */
function timed(client: TwilioHttpClient, metrics: Pick<Metrics, 'twilioRequestDuration'>): Pick<TwilioHttpClient, 'request'> {
  return {
    async request(opts: TwilioRequest) {
      const stop = metrics.twilioRequestDuration.startTimer({ resource: resourceOf(opts.uri), method: String(opts.method).toUpperCase() });
      try {
        const res = await client.request(opts);
        stop({ code: String(res.statusCode) });
        return res;
      } catch (err) {
        stop({ code: 'error' });
        throw err;
      }
    },
  } as Pick<TwilioHttpClient, 'request'>;
}

/**
 * The Twilio REST client, pointed at `TWILIO_API_BASE_URL`: twilio-node's resources, types and error
 * classes over an undici-based http client (twilio-node has no base-URL option; the http client moves
 * the API's origin). No retries here: BullMQ retries the whole job with backoff instead. With `metrics`,
 * each request is timed; with `observe`, each is reported with the call it was for (the console's log).
 */
export function createTwilioClient(
  config: Config['twilio'],
  metrics?: Pick<Metrics, 'twilioRequestDuration'>,
  observe?: (request: ObservedTwilioRequest) => void,
): Twilio {
  const client = new TwilioHttpClient({ baseUrl: config.apiBaseUrl, timeoutMs: TWILIO_REQUEST_TIMEOUT_MS, observe });
  const httpClient = metrics ? timed(client, metrics) : client;
  return twilio(config.accountSid, config.authToken, { httpClient: httpClient as unknown as RequestClient, lazyLoading: true });
}
