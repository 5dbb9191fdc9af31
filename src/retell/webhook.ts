import express, { type RequestHandler } from 'express';
import { HttpError } from '../http/errors';
import { verifyRetellSignature } from './signature';

export interface RetellSignedOptions {
  apiKey: string;
  /** Largest body accepted; Retell's call object carries the transcript so far. */
  limit: string;
  onRefused?: (reason: string) => void;
}

/**
 * Reads the raw body, checks `X-Retell-Signature` over those exact bytes (401 when missing or wrong),
 * then parses it as JSON (400 when it is not). Afterwards `req.body` holds the parsed value.
 */
export function retellSigned(opts: RetellSignedOptions): RequestHandler[] {
  const raw = express.raw({ type: () => true, limit: opts.limit });
  const verify: RequestHandler = (req, res, next) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const check = verifyRetellSignature(body, opts.apiKey, req.get('x-retell-signature'));
    if (!check.ok) {
      opts.onRefused?.(check.reason);
      res.status(401).json({ error: 'unauthorized', reason: `Retell signature ${check.reason}` });
      return;
    }
    try {
      req.body = JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      throw new HttpError(400, 'body is not valid JSON');
    }
    next();
  };
  return [raw, verify];
}
