/** What the bearer-token JSON APIs (POST /calls, /campaigns, /dnc, /events) share: errors as JSON, the token, bodies, 404s. */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { requireApiToken } from './auth';
import { HttpError } from './errors';
import { parseJsonBody, readBody } from './read-body';

/**
 * A router whose errors under `path` are answered as JSON, with the API_TOKEN check to put first on each
 * route (so the token is checked before any body is read).
 */
export function apiRouter(path: string, apiToken: string): { router: Router; auth: RequestHandler } {
  const router = Router();
  router.use(path, (_req, res, next) => {
    res.locals.jsonErrors = true;
    next();
  });
  return { router, auth: requireApiToken(apiToken) };
}

/** The JSON body of an authenticated request, within `limitBytes` (413 beyond); 400 when it is not JSON. */
export function jsonBody(limitBytes: number): RequestHandler {
  return (req, _res, next) => {
    readBody(req, { limitBytes }).then((raw) => {
      req.body = parseJsonBody(raw);
    }).then(() => next(), next);
  };
}

/** A client's key for retrying a request safely: 1-255 printable ASCII characters, no spaces. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The request's Idempotency-Key, if any; a malformed one is a 400. */
export function idempotencyKey(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) throw new HttpError(400, 'Idempotency-Key must be 1-255 printable ASCII characters without spaces');
  return key;
}

/** 404 as the APIs answer it, saying what was not found and why it may be gone. */
export function notFound(res: Response, reason: string): void {
  res.status(404).json({ error: 'not_found', reason });
}
