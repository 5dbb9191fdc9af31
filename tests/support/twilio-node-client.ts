import twilio, { RequestClient, type Twilio } from 'twilio';

const TWILIO_API = 'https://api.twilio.com';

/**
 * twilio-node on its own http client (axios), as the bridge made its Twilio client before it had one
 * of its own: the reference the bridge's client is held to, byte for byte, and measured against.
 * twilio-node has no base-URL option, so a wrapper moves the API's origin to `baseUrl`.
 */
export function twilioNodeClient(opts: { baseUrl: string; accountSid: string; authToken: string; timeoutMs: number }): Twilio {
  const inner = new RequestClient({ timeout: opts.timeoutMs, keepAlive: true, autoRetry: false });
  const httpClient = {
    request: (req: Parameters<RequestClient['request']>[0]) =>
      inner.request({ ...req, uri: req.uri.startsWith(TWILIO_API) ? opts.baseUrl + req.uri.slice(TWILIO_API.length) : req.uri }),
  } as unknown as RequestClient;
  return twilio(opts.accountSid, opts.authToken, { httpClient, lazyLoading: true });
}
