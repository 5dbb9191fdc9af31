import type { RequestHandler } from 'express';

export interface FormParserOptions {
  /** Largest body accepted, in bytes; larger ones get 413. */
  limitBytes: number;
  /** Most fields accepted; more get 413. */
  parameterLimit: number;
}

/** An error body-parser would raise, so `errorHandler` answers it the same way (by `type`). */
function parseError(type: string, status: number, message: string): Error {
  return Object.assign(new Error(message), { type, status, expose: true });
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
      return next(parseError('charset.unsupported', 415, `unsupported charset "${charset.toUpperCase()}"`));
    }
    const encoding = req.headers['content-encoding'];
    if (encoding && encoding.toLowerCase() !== 'identity') {
      return next(parseError('encoding.unsupported', 415, `unsupported content encoding "${encoding}"`));
    }
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && declared > opts.limitBytes) {
      req.resume();
      return next(parseError('entity.too.large', 413, 'request entity too large'));
    }

    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
      req.removeListener('aborted', onAborted);
      if (err) {
        req.resume();
        return next(err);
      }
      next();
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > opts.limitBytes) return finish(parseError('entity.too.large', 413, 'request entity too large'));
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (declared !== undefined && declared !== received) {
        return finish(parseError('request.size.invalid', 400, 'request size did not match content length'));
      }
      const body: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
      let fields = 0;
      for (const [key, value] of new URLSearchParams(Buffer.concat(chunks, received).toString('utf8'))) {
        if (++fields > opts.parameterLimit) return finish(parseError('parameters.too.many', 413, 'too many parameters'));
        const seen = body[key];
        body[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
      }
      req.body = body;
      finish();
    };
    const onError = () => finish(parseError('request.aborted', 400, 'request aborted'));
    const onAborted = onError;
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  };
}
