#!/usr/bin/env node
// Runs a command (the test suite) with a Redis available at REDIS_URL (default redis://127.0.0.1:6379).
// If nothing answers there and redis-server is installed, starts one on that port for the duration of the
// command and stops it afterwards; otherwise explains how to get Redis and exits non-zero.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';

const url = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
const host = url.hostname || '127.0.0.1';
const port = Number(url.port || 6379);
const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: with-redis.mjs <command> [args...]');
  process.exit(2);
}

function ping() {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 1000 });
    let reply = '';
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      socket.destroy();
      // -NOAUTH still proves a Redis is listening.
      resolve(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(false));
  });
}

let server;
if (!(await ping())) {
  const local = ['127.0.0.1', 'localhost', '::1'].includes(host);
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!local || !found) {
    console.error(
      `Redis is not answering at ${host}:${port}${found ? '' : ', and redis-server is not installed'}.\n` +
        'Start one (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), ' +
        'or point REDIS_URL at a running Redis, then run the command again.',
    );
    process.exit(1);
  }
  console.error(`with-redis: nothing answers on ${host}:${port}; starting ${found} there for this run`);
  server = spawn(found, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const started = Date.now();
  while (!(await ping())) {
    if (Date.now() - started > 10_000 || server.exitCode !== null) {
      console.error('with-redis: redis-server did not start');
      server.kill('SIGKILL');
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const child = spawn(command, args, { stdio: 'inherit' });
const stop = () => server?.kill('SIGTERM');
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  stop();
  process.exit(code ?? (signal ? 1 : 0));
});
