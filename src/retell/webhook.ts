import type { RequestHandler } from 'express';
import type { ByteBudget } from '../http/byte-budget';
import { parseJsonBody, readBody } from '../http/read-body';
import { parseRetellSignature, signsBody, type SignatureRefusal } from './signature';

export interface RetellSignedOptions {
  apiKey: string;
  /** Largest body accepted, in bytes; Retell's call object carries the transcript so far. */
  limitBytes: number;
  /** Shared bound on bodies held before their signature is checked (see ByteBudget). */
  budget?: ByteBudget;
  onRefused?: (reason: SignatureRefusal) => void;
}

/**
 * Authenticates a Retell request, then parses it as JSON (400 when it is not); afterwards `req.body`
 * holds the parsed value.
 *
 * The header is checked first: a request whose `X-Retell-Signature` is missing, malformed or stale is
 * refused (401) before a byte of its body is read, and the connection is closed. Only a fresh,
 * well-formed header earns a read, within `limitBytes` and the shared budget; then the HMAC over the
 * exact bytes decides.
 */
export function retellSigned(opts: RetellSignedOptions): RequestHandler {
  const refuse = (res: Parameters<RequestHandler>[1], reason: SignatureRefusal, closeConnection: boolean) => {
    opts.onRefused?.(reason);
    if (closeConnection) res.setHeader('Connection', 'close');
    res.status(401).json({ error: 'unauthorized', reason: `Retell signature ${reason}` });
  };
  return (req, res, next) => {
    const parsed = parseRetellSignature(req.get('x-retell-signature'));
    if (!parsed.ok) return refuse(res, parsed.reason, true);
    readBody(req, { limitBytes: opts.limitBytes, budget: opts.budget })
      .then((raw) => {
        if (!signsBody(parsed.header, raw, opts.apiKey)) {
          refuse(res, 'mismatch', false);
          return false;
        }
        req.body = parseJsonBody(raw);
        return true;
      })
      .then((signed) => signed && next(), next);
  };
}
