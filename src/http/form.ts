import type { RequestHandler } from 'express';
import type { ByteBudget } from './byte-budget';
import { BodyError, readBody } from './read-body';

export interface FormParserOptions {
  /** Largest body accepted, in bytes; larger ones get 413. */
  limitBytes: number;
  /** Most fields accepted; more get 413. */
  parameterLimit: number;
  /** Shared bound on unauthenticated bodies held at once (see ByteBudget). */
  budget?: ByteBudget;
}

const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;

/**
 * A parser for `application/x-www-form-urlencoded` bodies, the shape of every Twilio webhook.
 *
 * It does what `express.urlencoded({ extended: false })` does for these requests (size and field
 * limits answered 413, other charsets and any Content-Encoding answered 415, repeated keys as arrays)
 * with `URLSearchParams` instead of body-parser's general machinery, which cost an eighth of the
 * webhook's CPU. Other content types pass through with no body. The parsed object has no prototype,
 * so a field named `__proto__` is just a field.
 */
export function formParser(opts: FormParserOptions): RequestHandler {
  return (req, _res, next) => {
    const type = req.headers['content-type'];
    if (!type || !FORM_TYPE.test(type) || req.method === 'GET' || req.method === 'HEAD') return next();
    const charset = CHARSET.exec(type)?.[1]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8') {
      return next(new BodyError('charset.unsupported', 415, `unsupported charset "${charset.toUpperCase()}"`));
    }
    readBody(req, opts).then((raw) => {
      const body: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
      let fields = 0;
      for (const [key, value] of new URLSearchParams(raw.toString('utf8'))) {
        if (++fields > opts.parameterLimit) return next(new BodyError('parameters.too.many', 413, 'too many parameters'));
        const seen = body[key];
        body[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
      }
      req.body = body;
      next();
    }, next);
  };
}
