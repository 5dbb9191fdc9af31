import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** What the receiver makes of one delivery. */
export interface ReceivedEvent {
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
  /** Whether the signature checked out with the receiver's secret. */
  verified: boolean;
}

/**
 * The sandbox's stand-in for the user's backend: EVENTS_WEBHOOK_URL points here, with a secret made for
 * the session. Each delivery is checked the way a user's receiver checks it (the `standardwebhooks`
 * package), told to `onEvent`, and answered 204, or 401 when the signature does not verify.
 */
export class SandboxEventReceiver {
  readonly secret = `whsec_${randomBytes(32).toString('base64')}`;
  private server: http.Server | undefined;
  private port = 0;

  constructor(private readonly onEvent: (event: ReceivedEvent) => void) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/events`;
  }

  async start(): Promise<this> {
    const verifier = new Webhook(this.secret);
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 1024 * 1024) chunks.push(c);
      });
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let verified = true;
        try {
          verifier.verify(body, req.headers as Record<string, string>);
        } catch {
          verified = false;
        }
        try {
          const parsed = JSON.parse(body) as { type: string; timestamp: string; data: Record<string, unknown> };
          this.onEvent({ id: String(req.headers['webhook-id'] ?? ''), type: parsed.type, timestamp: parsed.timestamp, data: parsed.data ?? {}, verified });
        } catch {
          // Not an event: nothing to show.
        }
        res.writeHead(verified ? 204 : 401).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
