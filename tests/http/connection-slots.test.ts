import { ConnectionSlots, SILENT_GRACE_MS } from '../../src/http/connection-slots';

/** Admissions happen at t=0 unless a case says otherwise; `LATER` is past the silent grace. */
const LATER = SILENT_GRACE_MS;

/** A connection that records whether it was closed. */
class Conn {
  destroyed = false;
  constructor(readonly name: string) {}
  destroy(): void {
    this.destroyed = true;
  }
}

/** One request and its response, in the states http.ServerResponse reports. */
class Exchange {
  writableFinished = false;
  readonly req = { complete: true };
  /** A request whose headers arrived and whose body is still arriving. */
  static arriving(): Exchange {
    const e = new Exchange();
    e.req.complete = false;
    return e;
  }
  /** A request that arrived whole and was answered. */
  static answered(): Exchange {
    const e = new Exchange();
    e.writableFinished = true;
    return e;
  }
  /** A request that arrived whole and is being handled. */
  static handled(): Exchange {
    return new Exchange();
  }
}

function full(max: number): { slots: ConnectionSlots<Conn, Exchange>; conns: Conn[] } {
  const slots = new ConnectionSlots<Conn, Exchange>({ max });
  const conns = Array.from({ length: max }, (_, i) => new Conn(`c${i}`));
  for (const c of conns) expect(slots.admit(c, 0)).toBe(true);
  return { slots, conns };
}

const destroyed = (conns: Conn[]) => conns.filter((c) => c.destroyed).map((c) => c.name);

describe('ConnectionSlots', () => {
  it('when below the cap, then every connection is admitted and none is closed', () => {
    const { slots, conns } = full(3);
    expect(slots.counts()).toEqual({ silent: 3, served: 0 });
    expect(destroyed(conns)).toEqual([]);
  });

  it('when at the cap, then the oldest connection silent for the grace gives way, before any idle one', () => {
    const { slots, conns } = full(4);
    slots.requestStarted(conns[0]!, Exchange.answered()); // c0 idle; c1, c2, c3 silent since 0
    expect(slots.admit(new Conn('n1'), LATER)).toBe(true);
    expect(destroyed(conns)).toEqual(['c1']);
    expect(slots.admit(new Conn('n2'), LATER)).toBe(true);
    expect(destroyed(conns)).toEqual(['c1', 'c2']);
    expect(slots.size).toBe(4);
  });

  it('when the silent connections are younger than the grace, then an idle one gives way instead, so a burst of new connections does not push out its own members', () => {
    const { slots, conns } = full(3);
    slots.requestStarted(conns[0]!, Exchange.answered());
    slots.requestStarted(conns[1]!, Exchange.answered());
    slots.requestStarted(conns[2]!, Exchange.answered());
    const burst = [new Conn('b0'), new Conn('b1'), new Conn('b2')];
    for (const b of burst) expect(slots.admit(b, LATER)).toBe(true);
    expect(destroyed(conns)).toEqual(['c0', 'c1', 'c2']);
    expect(destroyed(burst)).toEqual([]);
    // Nothing left that may give way: the next is refused, the burst keeps its slots.
    expect(slots.admit(new Conn('b3'), LATER)).toBe(false);
    expect(destroyed(burst)).toEqual([]);
    // Once past the grace, the oldest of them gives way.
    expect(slots.admit(new Conn('b4'), LATER + SILENT_GRACE_MS)).toBe(true);
    expect(destroyed(burst)).toEqual(['b0']);
  });

  it('when no connection is silent, then the one whose latest request is oldest gives way, if it was answered', () => {
    const { slots, conns } = full(3);
    const [c0, c1, c2] = conns as [Conn, Conn, Conn];
    // Latest requests in the order c2, c0, c1: c0's second request makes it younger than c2.
    slots.requestStarted(c0, Exchange.answered());
    slots.requestStarted(c2, Exchange.answered());
    slots.requestStarted(c0, Exchange.answered());
    slots.requestStarted(c1, Exchange.answered());
    const n1 = new Conn('n1');
    expect(slots.admit(n1, LATER)).toBe(true);
    expect(destroyed(conns)).toEqual(['c2']);
    // A newcomer silent past the grace gives way before the remaining idle ones.
    expect(slots.admit(new Conn('n2'), LATER + SILENT_GRACE_MS)).toBe(true);
    expect(n1.destroyed).toBe(true);
    expect(destroyed(conns)).toEqual(['c2']);
  });

  it('when the oldest requests are being handled, then the oldest idle or still arriving one behind them gives way', () => {
    const { slots, conns } = full(4);
    const [c0, c1, c2, c3] = conns as [Conn, Conn, Conn, Conn];
    slots.requestStarted(c0, Exchange.handled());
    slots.requestStarted(c1, Exchange.arriving());
    slots.requestStarted(c2, Exchange.answered());
    slots.requestStarted(c3, Exchange.handled());
    const n1 = new Conn('n1');
    expect(slots.admit(n1, LATER)).toBe(true);
    expect(destroyed(conns)).toEqual(['c1']);
    slots.requestStarted(n1, Exchange.handled());
    expect(slots.admit(new Conn('n2'), LATER)).toBe(true);
    expect(destroyed(conns)).toEqual(['c1', 'c2']);
    expect(n1.destroyed).toBe(false);
  });

  it('when the answer to a request is sent, then its connection may give way, without the tracker being told', () => {
    const { slots, conns } = full(2);
    const [c0, c1] = conns as [Conn, Conn];
    const first = Exchange.handled();
    slots.requestStarted(c0, first);
    slots.requestStarted(c1, Exchange.handled());
    expect(slots.admit(new Conn('n1'), LATER)).toBe(false);
    first.writableFinished = true;
    expect(slots.admit(new Conn('n2'), LATER)).toBe(true);
    expect(destroyed(conns)).toEqual(['c0']);
  });

  it('when every request is being handled and none is silent, then the new connection is refused and nothing is closed', () => {
    const { slots, conns } = full(2);
    for (const c of conns) slots.requestStarted(c, Exchange.handled());
    expect(slots.admit(new Conn('n'), LATER)).toBe(false);
    expect(destroyed(conns)).toEqual([]);
    expect(slots.size).toBe(2);
  });

  it('when a pipelined request is already on a connection, then the earlier answer leaves it busy', () => {
    const { slots, conns } = full(1);
    const [c0] = conns as [Conn];
    slots.requestStarted(c0, Exchange.answered());
    slots.requestStarted(c0, Exchange.handled());
    expect(slots.counts()).toEqual({ silent: 0, served: 1 });
    expect(slots.admit(new Conn('n'), LATER)).toBe(false);
  });

  it('when a connection closes, then its slot is free again, whatever it was doing', () => {
    const { slots, conns } = full(3);
    const [c0, c1] = conns as [Conn, Conn, Conn];
    slots.requestStarted(c1, Exchange.handled());
    slots.requestStarted(conns[2]!, Exchange.handled());
    slots.closed(c0);
    slots.closed(c1);
    expect(slots.counts()).toEqual({ silent: 0, served: 1 });
    expect(slots.admit(new Conn('n1'), LATER)).toBe(true);
    expect(slots.admit(new Conn('n2'), LATER)).toBe(true);
    expect(destroyed(conns)).toEqual([]);
  });

  it('when a connection that gave way later reports a request or a close, then the counts are unaffected', () => {
    const { slots, conns } = full(1);
    const [c0] = conns as [Conn];
    expect(slots.admit(new Conn('n'), LATER)).toBe(true);
    expect(c0.destroyed).toBe(true);
    slots.requestStarted(c0, Exchange.handled());
    slots.closed(c0);
    expect(slots.counts()).toEqual({ silent: 1, served: 0 });
  });
});
