import net from 'node:net';
import { sever } from './sever';

type Mode = 'forward' | 'cut' | 'blackhole';

interface Pair {
  client: net.Socket;
  upstream: net.Socket | undefined;
  /** Bytes held back during a blackhole, per direction, delivered on restore. */
  toUpstream: Buffer[];
  toClient: Buffer[];
}

/**
 * A loopback TCP proxy in front of one upstream port, to break the network between the bridge and
 * Redis without touching Redis itself:
 * - `cut()`: every connection is reset and the port refuses new ones (a severed link);
 * - `blackhole()`: connections stay open but nothing passes in either direction, and new ones are
 *   accepted and left waiting (a partition without resets; bytes are held as TCP would keep
 *   retransmitting them);
 * - `restore()`: back to forwarding on the same port; whatever was held during a blackhole is delivered.
 */
export class TcpProxy {
  private mode: Mode = 'forward';
  private readonly pairs = new Set<Pair>();
  private server: net.Server;
  private listenPort = 0;

  private constructor(readonly upstreamPort: number) {
    this.server = this.newServer();
  }

  static async start(upstreamPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(upstreamPort);
    await proxy.listen();
    return proxy;
  }

  get port(): number {
    return this.listenPort;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async cut(): Promise<void> {
    this.mode = 'cut';
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const pair of this.pairs) this.drop(pair);
    await closed;
  }

  blackhole(): void {
    this.mode = 'blackhole';
  }

  async restore(): Promise<void> {
    if (this.mode === 'cut') {
      this.server = this.newServer();
      await this.listen();
    }
    this.mode = 'forward';
    for (const pair of this.pairs) {
      if (!pair.upstream) this.connectUpstream(pair);
      this.flush(pair);
    }
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) this.drop(pair);
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private newServer(): net.Server {
    return net.createServer((client) => this.accept(client));
  }

  private async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listenPort, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.listenPort = (this.server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    client.on('error', () => undefined);
    const pair: Pair = { client, upstream: undefined, toUpstream: [], toClient: [] };
    this.pairs.add(pair);
    client.on('close', () => this.drop(pair));
    client.on('data', (chunk: Buffer) => {
      pair.toUpstream.push(chunk);
      this.flush(pair);
    });
    if (this.mode === 'forward') this.connectUpstream(pair);
  }

  private connectUpstream(pair: Pair): void {
    const upstream = net.connect({ host: '127.0.0.1', port: this.upstreamPort });
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('close', () => this.drop(pair));
    upstream.on('data', (chunk: Buffer) => {
      pair.toClient.push(chunk);
      this.flush(pair);
    });
  }

  private flush(pair: Pair): void {
    if (this.mode !== 'forward' || !pair.upstream) return;
    for (const chunk of pair.toUpstream.splice(0)) pair.upstream.write(chunk);
    for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk);
  }

  private drop(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    sever(pair.client);
    if (pair.upstream) sever(pair.upstream);
  }
}
