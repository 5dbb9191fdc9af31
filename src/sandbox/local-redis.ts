import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { displayUrl } from '../observability/redact';

/** A Redis for the sandbox: the one at the URL, or a redis-server started for the session. */
export interface LocalRedis {
  url: string;
  /** True when the sandbox started redis-server itself (and stops it on close). */
  started: boolean;
  stop(): Promise<void>;
}

/** Redis could not be found or started; the message says what to do. */
export class NoRedisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoRedisError';
  }
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** True when something speaking Redis answers at host:port (an auth error still proves a Redis is there). */
export function redisAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    let reply = '';
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      socket.destroy();
      resolve(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(false));
  });
}

function findRedisServer(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() || undefined : undefined;
}

/**
 * Uses the Redis at `url` if it answers; otherwise, when `url` is on this machine and redis-server is
 * installed, starts one on that port for the session (no persistence); otherwise throws NoRedisError
 * saying how to get one. The same order `npm test` follows.
 */
export async function ensureRedis(url: string): Promise<LocalRedis> {
  const parsed = new URL(url);
  const host = parsed.hostname || '127.0.0.1';
  const port = Number(parsed.port || 6379);
  const none: LocalRedis = { url, started: false, stop: async () => undefined };
  if (await redisAnswers(host, port)) return none;

  const binary = findRedisServer();
  if (!LOCAL_HOSTS.has(host) || !binary) {
    throw new NoRedisError(
      `Redis is not answering at ${displayUrl(url)}${binary ? '' : ', and redis-server is not installed'}. ` +
        'Install and start one (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis && brew services start redis; ' +
        'Docker: docker run -d -p 6379:6379 redis:7), or set REDIS_URL to a running Redis, then run npm run dev again.',
    );
  }
  const server: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const started = Date.now();
  while (!(await redisAnswers(host, port))) {
    if (Date.now() - started > 10_000 || server.exitCode !== null) {
      server.kill('SIGKILL');
      throw new NoRedisError(`redis-server (${binary}) did not start on port ${port}; is the port taken by something else?`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    started: true,
    stop: () =>
      new Promise<void>((resolve) => {
        if (server.exitCode !== null || server.signalCode !== null) return resolve();
        server.once('exit', () => resolve());
        server.kill('SIGTERM');
      }),
  };
}
