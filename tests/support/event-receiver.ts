import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { waitFor } from './wait';

/**
 * How the receiver answers a request: a status (with an empty body), or misbehaviour: `big` a 200 with a
 * 10 MB body, `redirect` a 307 to another path of its own, `endless` a 200 whose body never ends, `hang`
 * no answer at all.
 */
export type ReceiverAnswer = number | 'big' | 'redirect' | 'endless' | 'hang';

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Parsed body (`{type, timestamp, data}` for Standard Webhooks deliveries). */
  json: { type: string; timestamp: string; data: Record<string, unknown> } & Record<string, unknown>;
  /** `webhook-id`, when there is one. */
  id: string | undefined;
  /** Whether the `standardwebhooks` verifier accepts it with the receiver's secret. */
  verified: boolean;
  answer: ReceiverAnswer;
}

/** A new Standard Webhooks secret, as the docs tell users to make one. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * The user's backend in tests: a local HTTP (or HTTPS, with a self-signed certificate nobody trusts)
 * server that records every request, checks each Standard Webhooks signature with the `standardwebhooks`
 * package, and answers as scripted (`answers` first, in order; then `answer`).
 */
export class EventReceiver {
  readonly received: ReceivedRequest[] = [];
  /** Answers for the next requests, taken in order. */
  answers: ReceiverAnswer[] = [];
  /** The answer once `answers` is empty. */
  answer: ReceiverAnswer = 204;
  /** How long each answer takes. */
  delayMs = 0;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    readonly secret: string,
  ) {}

  static async start(opts: { tls?: boolean; secret?: string; path?: string; port?: number } = {}): Promise<EventReceiver> {
    const secret = opts.secret ?? newWebhookSecret();
    let receiver!: EventReceiver;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => receiver.handle(req, res);
    const fixtures = path.resolve(__dirname, 'fixtures');
    const server = opts.tls
      ? https.createServer({ key: readFileSync(path.join(fixtures, 'self-signed.key')), cert: readFileSync(path.join(fixtures, 'self-signed.crt')) }, handler)
      : http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new EventReceiver(server, `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}${opts.path ?? '/hooks/events'}`, secret);
    server.on('connection', (s) => {
      receiver.sockets.add(s);
      s.on('close', () => receiver.sockets.delete(s));
    });
    return receiver;
  }

  /** Requests carrying event `id`, in order. */
  withId(id: string): ReceivedRequest[] {
    return this.received.filter((r) => r.id === id);
  }

  /** Deliveries of events of `type` that were answered 2xx. */
  ofType(type: string): ReceivedRequest[] {
    return this.received.filter((r) => r.json?.type === type);
  }

  /** Waits for a request of an event of `type` matching `match`, and returns it. */
  waitFor(type: string, match: (r: ReceivedRequest) => boolean = () => true, timeoutMs = 10_000): Promise<ReceivedRequest> {
    return waitFor(`a ${type} event at the receiver`, () => this.ofType(type).find(match), timeoutMs);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      try {
        new Webhook(this.secret).verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      let json: ReceivedRequest['json'];
      try {
        json = JSON.parse(body) as ReceivedRequest['json'];
      } catch {
        json = undefined as never;
      }
      const answer = this.answers.shift() ?? this.answer;
      const id = req.headers['webhook-id'] as string | undefined;
      this.received.push({ path: req.url ?? '', headers: req.headers, body, json, id, verified, answer });
      if (this.delayMs <= 0) return this.respond(res, answer);
      const t = setTimeout(() => this.respond(res, answer), this.delayMs);
      this.timers.add(t);
    });
  }

  private respond(res: http.ServerResponse, answer: ReceiverAnswer): void {
    if (typeof answer === 'number') {
      res.writeHead(answer).end();
    } else if (answer === 'big') {
      const chunk = Buffer.alloc(1024 * 1024, 'x');
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 10; i++) res.write(chunk);
      res.end();
    } else if (answer === 'redirect') {
      res.writeHead(307, { location: '/elsewhere' }).end();
    } else if (answer === 'endless') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const tick = () => {
        if (res.destroyed) return;
        res.write('still going\n');
        const t = setTimeout(tick, 200);
        this.timers.add(t);
      };
      tick();
    }
    // 'hang': never answered; stop() destroys the socket.
  }
}
