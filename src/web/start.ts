import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import type Retell from 'retell-sdk';
import type { Config } from '../config';
import { Container, type ContainerOptions } from '../container';
import { ConnectionSlots } from '../http/connection-slots';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { createApp } from './app';

/**
 * How long a client may take, and how many may be connected. Twilio and Retell send each request whole
 * and at once, so anything slower is a broken or hostile client, and it holds a socket and memory.
 */
export interface HttpLimits {
  /** A connection that sends no request within this is closed. @defaultValue 10000 */
  firstRequestTimeoutMs: number;
  /** Time to receive a request's headers; 408 and close after it. @defaultValue 10000 */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (not to answer it); 408 and close after it. @defaultValue 20000 */
  requestTimeoutMs: number;
  /**
   * How long an idle keep-alive connection is kept after a response. Longer than the idle timeout of the
   * routers in front of the bridge (Heroku 55 s, Render 60 s), so the router closes first and never sends
   * a request on a socket the bridge is closing. @defaultValue 65000
   */
  keepAliveTimeoutMs: number;
  /**
   * Open connections at most, which bounds the memory they hold. At the cap a new connection takes the
   * slot of the oldest one that has sent no request for a second or more, else of the one whose latest
   * request is oldest, if that request is answered (idle keep-alive) or still arriving (a slow sender);
   * only when none of these is open is it closed on arrival (see ConnectionSlots). @defaultValue 2048
   */
  maxConnections: number;
}

export const HTTP_LIMITS: Readonly<HttpLimits> = {
  firstRequestTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 20_000,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 2048,
};

export interface StartWebOptions {
  config: Config;
  logger: Logger;
  /** Where to listen. @defaultValue `config.port` on every interface; tests pass 0 and 127.0.0.1. */
  port?: number;
  host?: string;
  /** Replacements for what would be built from `config` (tests: a metrics registry of their own). */
  overrides?: { metrics?: Metrics; retell?: Retell } & Pick<ContainerOptions, 'clock' | 'doNotCall'>;
  /** @defaultValue HTTP_LIMITS */
  limits?: Partial<HttpLimits>;
}

export interface RunningWeb {
  server: http.Server;
  /** Where the server listens, e.g. `http://127.0.0.1:43127`. */
  url: string;
  /** What the app was built from. */
  container: Container;
  /** Stops accepting, lets in-flight requests finish, then closes Redis. */
  close(): Promise<void>;
}

/** Builds the web process's services from config (the container) and starts listening. */
export async function startWeb(opts: StartWebOptions): Promise<RunningWeb> {
  const { config, logger } = opts;
  const container = new Container({ config, logger, metrics: opts.overrides?.metrics, overrides: { retell: opts.overrides?.retell }, clock: opts.overrides?.clock, doNotCall: opts.overrides?.doNotCall });
  const app = createApp(container);
  const server = createHttpServer(app, { ...HTTP_LIMITS, ...opts.limits });
  await new Promise<void>((resolve) => server.listen(opts.port ?? config.port, opts.host, resolve));
  const { port } = server.address() as AddressInfo;
  // Only the hook's origin: its path or query may carry a token.
  const hookUrl = config.lookupHook.url;
  logger.info({ port, publicUrl: config.publicUrl, lookupHook: hookUrl ? new URL(hookUrl).origin : undefined }, 'web listening');
  return {
    server,
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    container,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // close() only drops connections idle at that moment; a keep-alive connection whose request is
      // still running goes idle later and would hold the server open until the platform's SIGKILL.
      const reaper = setInterval(() => server.closeIdleConnections(), 100);
      await closed;
      clearInterval(reaper);
      await container.close();
    },
  };
}

/** An HTTP server for `app` that holds each client to `limits`. */
export function createHttpServer(app: http.RequestListener, limits: HttpLimits): http.Server {
  // Node checks the header and request timeouts on this interval; its default of 30 s would let a slow
  // client overstay them by that much.
  const server = http.createServer({ connectionsCheckingInterval: 1000 });
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Not server.maxConnections: Node would refuse the newest connection at the cap, however many of the
  // others serve no one.
  const slots = new ConnectionSlots<Socket, http.ServerResponse>({ max: limits.maxConnections });
  // One listener of each kind for every socket, so a connection allocates no closures of its own.
  function onClose(this: Socket): void {
    slots.closed(this);
  }
  function onFirstRequestTimeout(this: Socket): void {
    this.destroy();
  }
  server.on('connection', (socket: Socket) => {
    if (!slots.admit(socket)) return void socket.destroy();
    socket.on('close', onClose);
    // Node's own timers start with a request; a connection that never sends one would stay open.
    socket.setTimeout(limits.firstRequestTimeoutMs, onFirstRequestTimeout);
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.socket.setTimeout(0);
    slots.requestStarted(req.socket, res);
  });
  server.on('request', app);
  return server;
}
