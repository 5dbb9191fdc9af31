import type { IncomingMessage } from 'node:http';
import { MAX_JSON_DEPTH, nestedDeeperThan, tooDeepReason } from '../formats';
import type { ByteBudget } from './byte-budget';
import { HttpError } from './errors';

/**
 * A refused body, with the status for the client. After one, what is left of the body is discarded
 * unread (up to DRAIN_LIMIT_BYTES, so the client can read the answer), or, when `closeConnection`, the
 * connection is closed after the answer instead.
 */
export class BodyError extends Error {
  readonly expose = true;

  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
    readonly closeConnection = false,
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

/**
 * The most of a refused body discarded so that its sender gets a clean answer (a client that writes its
 * whole body before reading would see a reset otherwise). Nothing is kept; past this the connection is
 * closed.
 */
export const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;

/** Lets the rest of a refused body flow past unread, and closes the connection if it goes on too long. */
function discardRest(req: IncomingMessage): void {
  let seen = 0;
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DRAIN_LIMIT_BYTES) req.socket.destroy();
  });
  req.resume();
}

export interface ReadBodyOptions {
  /** Largest body accepted, in bytes; a larger declared or received body is refused with 413. */
  limitBytes: number;
  /**
   * Shared bound on bodies held at once. The whole declared length is taken before reading (a chunked
   * body takes as it arrives) and given back when the promise settles; when it does not fit, 503.
   */
  budget?: ByteBudget;
}

/**
 * Reads a request body in full, within `limitBytes`. Only identity encoding is accepted: the bridge's
 * senders (Twilio, Retell) never compress, and inflating would let a small request become a large one.
 * Errors are BodyErrors with a status for the client.
 */
export function readBody(req: IncomingMessage, opts: ReadBodyOptions): Promise<Buffer> {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  const refuse = (err: BodyError) => {
    if (err.closeConnection) req.pause();
    else discardRest(req);
    return Promise.reject(err);
  };
  // A body declared larger than can be discarded is not waited for at all.
  const hopeless = declared !== undefined && declared > DRAIN_LIMIT_BYTES;
  const encoding = req.headers['content-encoding'];
  if (encoding && encoding.toLowerCase() !== 'identity') {
    return refuse(new BodyError('encoding.unsupported', 415, `unsupported content encoding "${encoding}"`, hopeless));
  }
  if (declared !== undefined && !(declared >= 0)) return refuse(new BodyError('request.size.invalid', 400, 'invalid Content-Length', true));
  if (declared !== undefined && declared > opts.limitBytes) {
    return refuse(new BodyError('entity.too.large', 413, 'request entity too large', hopeless));
  }
  const budget = opts.budget;
  let taken = 0;
  const take = (n: number): boolean => {
    if (!budget) return true;
    if (!budget.tryTake(n)) return false;
    taken += n;
    return true;
  };
  if (declared !== undefined && !take(declared)) {
    // Shedding load: closing costs less than discarding what a flood sends.
    return refuse(new BodyError('server.busy', 503, 'too many requests in progress; try again', true));
  }

  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (err: Error | undefined, body?: Buffer) => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
      req.removeListener('aborted', onError);
      budget?.give(taken);
      if (err) {
        if (err instanceof BodyError && err.closeConnection) req.pause();
        else discardRest(req);
        reject(err);
      } else resolve(body!);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > opts.limitBytes) return finish(new BodyError('entity.too.large', 413, 'request entity too large'));
      if (declared === undefined && !take(chunk.length)) {
        return finish(new BodyError('server.busy', 503, 'too many requests in progress; try again', true));
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (declared !== undefined && declared !== received) {
        return finish(new BodyError('request.size.invalid', 400, 'request size did not match content length'));
      }
      finish(undefined, Buffer.concat(chunks, received));
    };
    const onError = () => finish(new BodyError('request.aborted', 400, 'request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}

/**
 * A request body read by `readBody`, parsed as JSON; 400 when it is not JSON, or when it nests more than
 * MAX_JSON_DEPTH levels deep: checked here, once for every JSON route, so that no handler, serialiser or
 * log line ever walks a value deep enough to overflow the stack.
 */
export function parseJsonBody(raw: Buffer): unknown {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  const deep = nestedDeeperThan(value, MAX_JSON_DEPTH);
  if (deep) throw new HttpError(400, tooDeepReason('the body', MAX_JSON_DEPTH, deep.under));
  return value;
}
