import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackServer } from '../../src/sandbox/loopback-server';

/** A request the hook received, as bytes and headers, so tests can verify its signature themselves. */
export interface HookRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  raw: Buffer;
  json: unknown;
}

export type HookBehaviour =
  /**
   * Answer `body` (JSON-encoded unless a string) with `status`, after `delayMs`; with `bodyDelayMs`,
   * the headers go at once and the body that much later.
   */
  | { kind: 'answer'; status?: number; body: unknown; delayMs?: number; bodyDelayMs?: number; headers?: Record<string, string> }
  /** Accept the request and never answer. */
  | { kind: 'hang' }
  /** Send headers, then trickle `bytes` of a JSON-looking body in chunks without a Content-Length. */
  | { kind: 'stream'; bytes: number }
  /** Answer with a Content-Length of `bytes` and send that many. */
  | { kind: 'large'; bytes: number };

/** The user's lookup hook in tests: a real HTTP server on loopback whose answer each test chooses. */
export class HookServer extends LoopbackServer {
  readonly requests: HookRequest[] = [];
  behaviour: HookBehaviour = { kind: 'answer', body: { call_inbound: {} } };
  /** Bytes actually written by `stream`/`large` answers before the client went away. */
  bytesSent = 0;
  /** Requests whose connection the client closed before the answer was complete: the ones it gave up on. */
  abandoned = 0;

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      json = undefined;
    }
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, json });
    res.on('close', () => {
      if (!res.writableFinished) this.abandoned++;
    });
    const b = this.behaviour;
    if (b.kind === 'hang') return;
    if (b.kind === 'answer') {
      if (b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
      if (res.destroyed) return;
      const text = typeof b.body === 'string' ? b.body : JSON.stringify(b.body);
      res.writeHead(b.status ?? 200, { 'content-type': 'application/json', ...b.headers });
      if (b.bodyDelayMs) {
        res.flushHeaders();
        await new Promise((r) => setTimeout(r, b.bodyDelayMs));
      }
      if (!res.destroyed) res.end(text);
      return;
    }
    // A well-formed answer of exactly `bytes` bytes, so only its size can be held against it.
    const prefix = '{"call_inbound":{"dynamic_variables":{"a":"';
    const suffix = '"}}}';
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (b.kind === 'large') headers['content-length'] = String(b.bytes);
    res.writeHead(200, headers);
    res.write(prefix);
    const chunk = Buffer.alloc(16 * 1024, 'x');
    let left = b.bytes - prefix.length - suffix.length;
    while (left > 0 && !res.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      const flushed = res.write(piece);
      this.bytesSent += piece.length;
      if (!flushed) await drainedOrClosed(res);
    }
    if (!res.destroyed) res.end(suffix);
  }
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
