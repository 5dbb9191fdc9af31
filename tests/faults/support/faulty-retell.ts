import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeRetell } from '../../../src/sandbox/fake-retell';
import { sever } from './sever';

/** What the Retell API does with one Register Phone Call request. */
export type RetellFault =
  /** Registers the call (through the wire-format fake), optionally after a delay. */
  | { kind: 'ok'; delayMs?: number }
  /** Answers an HTTP error in Retell's JSON error shape. */
  | { kind: 'status'; status: number; delayMs?: number }
  /** Accepts the request and never answers. */
  | { kind: 'hang' }
  /** Resets the connection without answering. */
  | { kind: 'reset'; delayMs?: number }
  /** Answers 201 with a body that is not JSON. */
  | { kind: 'garbage' }
  /** Answers 201, then closes the connection halfway through the JSON body. */
  | { kind: 'truncated' };

/** One request as it reached the Retell API, whatever happened to it. */
export interface Attempt {
  callSid: string | undefined;
  fault: RetellFault['kind'];
  receivedAt: number;
  /** When the bridge's side of the connection went away (answer sent, or the bridge gave up). */
  closedAt: number | undefined;
  /** True when the bridge closed the request before any answer was sent. */
  abandoned: boolean;
}

/**
 * The Retell API with faults: a front that records every registration attempt (including the ones that
 * fail or hang, which the wire-format fake does not see) and decides per attempt whether to fail, hang,
 * or pass the request on to the fake in tests/fakes/retell.ts, which registers it.
 *
 * A request that is slower than the bridge's budget is still passed on after its delay, as Retell would
 * still create the call after the bridge stopped waiting; `fake.registrations` then holds a call id the
 * bridge never answered with.
 */
export class FaultyRetell {
  readonly fake: FakeRetell;
  readonly attempts: Attempt[] = [];
  /** The fault for the next attempt; a function decides per attempt (n counts from 0). */
  behaviour: RetellFault | ((n: number, callSid: string | undefined) => RetellFault) = { kind: 'ok' };
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  private readonly held = new Set<ServerResponse>();

  constructor(apiKey: string) {
    this.fake = new FakeRetell(apiKey);
  }

  async start(): Promise<this> {
    await this.fake.start();
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Registrations the fake completed, by CallSid (from the metadata the bridge sends). */
  registrationsFor(callSid: string): string[] {
    return this.fake.registrations
      .filter((r) => (r.body.metadata as Record<string, unknown> | undefined)?.twilio_call_sid === callSid)
      .map((r) => r.callId);
  }

  attemptsFor(callSid: string): Attempt[] {
    return this.attempts.filter((a) => a.callSid === callSid);
  }

  /** Requests still open on the Retell side (a hang the bridge has not abandoned). */
  get open(): number {
    return this.held.size;
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.fake.stop();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    let callSid: string | undefined;
    try {
      const metadata = (JSON.parse(raw.toString('utf8')) as { metadata?: { twilio_call_sid?: unknown } }).metadata;
      callSid = typeof metadata?.twilio_call_sid === 'string' ? metadata.twilio_call_sid : undefined;
    } catch {
      callSid = undefined;
    }
    const n = this.attempts.length;
    const fault = typeof this.behaviour === 'function' ? this.behaviour(n, callSid) : this.behaviour;
    const attempt: Attempt = { callSid, fault: fault.kind, receivedAt: Date.now(), closedAt: undefined, abandoned: false };
    this.attempts.push(attempt);
    this.held.add(res);
    res.on('close', () => {
      this.held.delete(res);
      attempt.closedAt = Date.now();
      attempt.abandoned = !res.writableFinished;
    });

    if ('delayMs' in fault && fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    switch (fault.kind) {
      case 'hang':
        return;
      case 'reset':
        sever(req.socket);
        return;
      case 'garbage':
        res.writeHead(201, { 'content-type': 'application/json' }).end('<html>502 Bad Gateway</html>');
        return;
      case 'truncated':
        res.writeHead(201, { 'content-type': 'application/json', 'content-length': '400' });
        res.write('{"call_id":"call_');
        setTimeout(() => sever(req.socket), 20);
        return;
      case 'status':
        if (!res.destroyed) {
          res.writeHead(fault.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error_message: `fault ${fault.status}` }));
        }
        return;
      case 'ok':
        await this.passOn(req, raw, res);
    }
  }

  /** Sends the request on to the wire-format fake and relays its answer, if the bridge is still there. */
  private async passOn(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const answer = await fetch(this.fake.url + (req.url ?? '/'), {
      method: req.method,
      headers: {
        authorization: req.headers.authorization ?? '',
        'content-type': req.headers['content-type'] ?? '',
      },
      body,
    });
    const text = await answer.text();
    if (res.destroyed) return;
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(text);
  }
}
