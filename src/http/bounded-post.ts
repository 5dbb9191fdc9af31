import type { Dispatcher } from 'undici';

/** Why a POST produced no answer to read. */
export type PostFailure = 'timeout' | 'unreachable' | 'too_large';

export class PostError extends Error {
  constructor(
    readonly kind: PostFailure,
    message: string,
  ) {
    super(message);
    this.name = 'PostError';
  }
}

export interface BoundedPostOptions {
  headers: Record<string, string>;
  body: string;
  /** For the whole exchange: connecting, sending, and the answer's last byte. */
  timeoutMs: number;
  /** Largest answer body read; a larger one fails with `too_large` as soon as it is seen to be. */
  maxBytes: number;
}

export interface PostAnswer {
  status: number;
  body: string;
}

/**
 * One POST to a URL someone else runs, read within a deadline and a size limit. A redirect is an
 * answer like any other (its 3xx status), never followed: the body must go only where it was
 * configured to go. Answers of any status are returned; only a missing or oversize answer throws.
 */
export async function boundedPost(dispatcher: Dispatcher, url: string, opts: BoundedPostOptions): Promise<PostAnswer> {
  const { origin, pathname, search } = new URL(url);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
  try {
    const res = await dispatcher.request({
      origin,
      path: pathname + search,
      method: 'POST',
      headers: opts.headers,
      body: opts.body,
      signal: controller.signal,
    });
    const tooLarge = () => {
      // Destroying the body closes the connection, so the rest is never downloaded.
      res.body.destroy();
      return new PostError('too_large', `the answer is larger than ${opts.maxBytes} bytes`);
    };
    if (Number(res.headers['content-length'] ?? 0) > opts.maxBytes) throw tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > opts.maxBytes) throw tooLarge();
      chunks.push(chunk as Buffer);
    }
    return { status: res.statusCode, body: Buffer.concat(chunks, size).toString('utf8') };
  } catch (err) {
    if (err instanceof PostError) throw err;
    if (controller.signal.aborted) throw new PostError('timeout', `no complete answer within ${opts.timeoutMs} ms`);
    const e = err as Error & { code?: string; cause?: { code?: string } };
    throw new PostError('unreachable', e.code ?? e.cause?.code ?? e.message);
  } finally {
    clearTimeout(timer);
  }
}
