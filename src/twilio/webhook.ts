import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { z } from 'zod';
import type { ByteBudget } from '../http/byte-budget';
import { HttpError } from '../http/errors';
import { formParser } from '../http/form';
import { parseOr400 } from '../http/validate';
import type { Metrics } from '../observability/metrics';
import { amdForm } from './forms';
import { isValidTwilioSignature } from './signature';

/** Form parsing for Twilio webhooks: Twilio's own requests are a few KiB with a few dozen fields. */
export const twilioForm = (budget?: ByteBudget) => formParser({ limitBytes: 64 * 1024, parameterLimit: 500, budget });

export interface TwilioWebhookOptions {
  authToken: string;
  publicUrl: string;
  onRefused?: () => void;
}

/** Refuses (403) any request not signed by Twilio with our auth token. Runs after `twilioForm`. */
export function verifyTwilioSignature(opts: TwilioWebhookOptions): RequestHandler {
  return (req, res, next) => {
    // Every field as received, in an object without a prototype: copied into a plain object, a field
    // named __proto__ would vanish and an attacker could add one to a signed request. Arrays are copied
    // because twilio's signer recognises repeated keys with `instanceof Array`, which fails for arrays
    // made in another realm.
    const params: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [key, value] of Object.entries((req.body ?? {}) as Record<string, unknown>)) {
      params[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
    }
    let valid = false;
    try {
      valid = isValidTwilioSignature(opts.authToken, opts.publicUrl, req.originalUrl, params, req.get('x-twilio-signature'));
    } catch {
      valid = false;
    }
    if (!valid) {
      opts.onRefused?.();
      res.status(403).type('text/plain').send('Twilio signature missing or invalid');
      return;
    }
    next();
  };
}

export interface TwilioWebhookConfig {
  publicUrl: string;
  twilio: { accountSid: string; authToken: string };
}

/**
 * Form parsing, then `X-Twilio-Signature` (403 when missing or wrong, counted): what every Twilio webhook
 * route runs first.
 */
export function twilioVerified(config: TwilioWebhookConfig, metrics: Pick<Metrics, 'signatureRefusals'>, budget?: ByteBudget): RequestHandler[] {
  const onRefused = () => metrics.signatureRefusals.inc({ source: 'twilio' });
  return [twilioForm(budget), verifyTwilioSignature({ authToken: config.twilio.authToken, publicUrl: config.publicUrl, onRefused })];
}

/** What every router of Twilio's webhooks is given. */
export interface TwilioRoutesDeps {
  config: TwilioWebhookConfig;
  /** Bodies read before their signature is checked, shared with the other unauthenticated routes. */
  budget?: ByteBudget;
  metrics: Pick<Metrics, 'signatureRefusals'>;
}

/** A router for Twilio's webhooks, with what each route runs first (twilioVerified). */
export function twilioRouter(deps: TwilioRoutesDeps): { router: Router; verified: RequestHandler[] } {
  return { router: Router(), verified: twilioVerified(deps.config, deps.metrics, deps.budget) };
}

/** A verified webhook's form, parsed (400 with the reason) and from our account (400 otherwise). */
export function accountForm<S extends z.ZodType<{ AccountSid: string }>>(config: Pick<TwilioWebhookConfig, 'twilio'>, schema: S, req: Request): z.output<S> {
  const form = parseOr400(schema, req.body);
  checkAccount(config, form.AccountSid);
  return form;
}

/**
 * The id a callback URL the bridge gave Twilio carries in its query (`?name=`), which the signature
 * covers; 400 saying what it must be otherwise.
 */
export function queryId(req: Request, name: string, pattern: RegExp, mustBe: string): string {
  const id = req.query[name];
  if (typeof id !== 'string' || !pattern.test(id)) throw new HttpError(400, `${name} must be ${mustBe}`);
  return id;
}

/**
 * The route of Twilio's asynchronous answering-machine verdicts (amdForm) on a call the bridge placed:
 * `onVerdict` is given the id its URL carries (`idOf`, see queryId), the CallSid and the verdict, and the
 * request is answered 204 once it is done.
 */
export function amdRoute(
  { router, verified }: { router: Router; verified: RequestHandler[] },
  config: Pick<TwilioWebhookConfig, 'twilio'>,
  path: string,
  idOf: (req: Request) => string,
  onVerdict: (id: string, callSid: string, answeredBy: z.output<typeof amdForm>['AnsweredBy']) => Promise<unknown>,
): void {
  router.post(path, ...verified, async (req, res) => {
    const form = accountForm(config, amdForm, req);
    const id = idOf(req);
    await onVerdict(id, form.CallSid, form.AnsweredBy);
    res.status(204).end();
  });
}

/** A webhook from another Twilio account than ours is answered 400. */
export function checkAccount(config: Pick<TwilioWebhookConfig, 'twilio'>, accountSid: string): void {
  if (accountSid !== config.twilio.accountSid) throw new HttpError(400, 'AccountSid is not the account this bridge serves');
}

/**
 * A TwiML answer, written in one go: Express's `send` works out a content type, an ETag and a charset
 * for every response, and the voice webhook answers every call.
 */
export function sendTwiml(res: Response, twiml: string): void {
  res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(twiml) }).end(twiml);
}
