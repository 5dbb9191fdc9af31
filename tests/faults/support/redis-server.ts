import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { exited, track } from './children';
import { freePort, sleep } from './ports';

/** Sends PING over a fresh connection; true when the server answers PONG within `timeoutMs`. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => done(chunk.toString().startsWith('+PONG')));
    socket.on('error', () => done(false));
  });
}

export interface RedisServerOptions {
  /** A configuration file, read first (a sentinel needs one it can rewrite). */
  configFile?: string;
  /** More arguments after the defaults, e.g. `--cluster-enabled yes` or `--replicaof 127.0.0.1 6379`. */
  args?: string[];
}

/**
 * A private redis-server on a free loopback port, without persistence, that a fault case may stop,
 * kill, freeze (SIGSTOP) and thaw (SIGCONT), and start again on the same port. It never touches any
 * other Redis on the machine: every signal goes to the pid this object spawned.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  private frozen = false;

  private constructor(
    readonly port: number,
    private readonly opts: RedisServerOptions,
  ) {}

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), opts);
    await server.start();
    return server;
  }

  /** `127.0.0.1:port`, as REDIS_CLUSTER_NODES and REDIS_SENTINELS list servers. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts redis-server on this object's port (again, after stop or kill) and waits until it answers. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`redis-server on ${this.port} is already running`);
    const child = spawn(
      'redis-server',
      [
        ...(this.opts.configFile ? [this.opts.configFile] : []),
        ...['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
        ...(this.opts.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    track(child);
    let output = '';
    child.stdout?.on('data', (d: Buffer) => void (output = (output + d.toString()).slice(-4000)));
    child.stderr?.on('data', (d: Buffer) => void (output = (output + d.toString()).slice(-4000)));
    this.child = child;
    this.frozen = false;
    const until = Date.now() + 10_000;
    while (!(await ping(this.port))) {
      if (!this.running || Date.now() > until) {
        child.kill('SIGKILL');
        throw new Error(`redis-server did not start on ${this.port}:\n${output}`);
      }
      await sleep(25);
    }
  }

  /** Orderly stop (SIGTERM), as an operator or the platform restarting Redis would. */
  async stop(): Promise<void> {
    await this.signalAndWait('SIGTERM');
  }

  /** Sudden death (SIGKILL). */
  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL');
  }

  /** Freezes the process: connections stay open, nothing is answered (a stalled or overloaded Redis). */
  freeze(): void {
    if (!this.running || this.frozen) return;
    this.child?.kill('SIGSTOP');
    this.frozen = true;
  }

  thaw(): void {
    if (!this.running || !this.frozen) return;
    this.child?.kill('SIGCONT');
    this.frozen = false;
  }

  /** Ends the server whatever its state; safe to call more than once (afterAll). */
  async dispose(): Promise<void> {
    await this.kill();
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    // A stopped process only acts on SIGTERM once it runs again.
    if (this.frozen && signal !== 'SIGKILL') child.kill('SIGCONT');
    this.frozen = false;
    child.kill(signal);
    if ((await exited(child, 5000)) === null) {
      child.kill('SIGKILL');
      await exited(child, 5000);
    }
  }
}
