/**
 * The web process's open connections, under a cap that bounds the memory they hold. A cap that refuses
 * whatever arrives last lets connections that serve no one (opened and left silent, left idle after a
 * response, or trickling a request) lock out the next call. Here, at the cap, a new connection takes the
 * slot of one of those instead:
 *
 * 1. the oldest connection that has sent no request, if it has been silent for `silentGraceMs`: holding
 *    one costs a client nothing, and a real client writes as it connects. A younger one may have its
 *    request on the way, not yet read: in a burst of new connections each would otherwise push out the
 *    one before it;
 * 2. else, of the connections that have sent a request, the one whose latest request is oldest, if that
 *    request is answered (the connection is idle; its client can open another) or still arriving
 *    (Twilio and Retell send each request whole, so one still incomplete is a slow sender).
 *
 * Otherwise (every request is being handled, and every silent connection is younger than the grace)
 * the new connection is refused. Nothing happens per response: whether a connection is idle is read
 * from its latest response when a slot is needed, so a request costs one set and one map update.
 * Finding the victim passes over only requests being handled, as many as the app is working on.
 */

/** A connection: all the tracker does with one is close it. */
export interface Closable {
  destroy(): void;
}

/** The latest exchange on a connection, as `http.ServerResponse` describes it. */
export interface Exchange {
  /** The response was sent. */
  readonly writableFinished: boolean;
  /** `complete`: the whole request arrived. */
  readonly req: { readonly complete: boolean };
}

export interface ConnectionSlotsOptions {
  /** Open connections at most. */
  max: number;
  /**
   * How long a connection must have sent nothing before it gives way ahead of idle and slow ones.
   * Far longer than a loaded event loop takes to read a request that arrived with its connection, far
   * shorter than the 10 s a silent connection is kept. @defaultValue SILENT_GRACE_MS (1000)
   */
  silentGraceMs?: number;
}

export const SILENT_GRACE_MS = 1000;

export interface SlotCounts {
  /** Connected, no request yet. */
  silent: number;
  /** At least one request; idle, arriving or being handled. */
  served: number;
}

export class ConnectionSlots<C extends Closable, E extends Exchange = Exchange> {
  readonly max: number;
  private readonly silentGraceMs: number;
  /** When each connected (ms), in order of arrival. */
  private readonly silent = new Map<C, number>();
  /** Each connection's latest exchange, in order of their requests, oldest first. */
  private readonly served = new Map<C, E>();

  constructor(opts: ConnectionSlotsOptions) {
    this.max = opts.max;
    this.silentGraceMs = opts.silentGraceMs ?? SILENT_GRACE_MS;
  }

  /**
   * Takes a new connection, first closing one that gives way if all `max` slots are taken. False when
   * none may: the caller closes `conn`.
   */
  admit(conn: C, now = Date.now()): boolean {
    if (this.size >= this.max) {
      const victim = this.giveWay(now);
      if (victim === undefined) return false;
      victim.destroy();
    }
    this.silent.set(conn, now);
    return true;
  }

  /** A request began on `conn` (its headers arrived); `exchange` is its response. */
  requestStarted(conn: C, exchange: E): void {
    // Deleted and set again, so the map stays in order of latest request.
    if (this.silent.delete(conn) || this.served.delete(conn)) this.served.set(conn, exchange);
  }

  /** `conn` closed, whoever closed it. */
  closed(conn: C): void {
    if (!this.silent.delete(conn)) this.served.delete(conn);
  }

  get size(): number {
    return this.silent.size + this.served.size;
  }

  counts(): SlotCounts {
    return { silent: this.silent.size, served: this.served.size };
  }

  /** Removes and returns the connection that gives way to a new one, if any may. */
  private giveWay(now: number): C | undefined {
    const oldest = this.silent.entries().next();
    if (!oldest.done && now - oldest.value[1] >= this.silentGraceMs) {
      this.silent.delete(oldest.value[0]);
      return oldest.value[0];
    }
    for (const [conn, exchange] of this.served) {
      if (exchange.writableFinished || !exchange.req.complete) {
        this.served.delete(conn);
        return conn;
      }
    }
    return undefined;
  }
}
