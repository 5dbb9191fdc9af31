/**
 * The user's backend for the events benchmark, in a process of its own: HTTPS (the test suite's
 * certificate for 127.0.0.1, which the worker is told to trust, as production requires https), answers
 * every delivery 204 at once and checks each signature with the `standardwebhooks` package.
 *
 * Env: EVENTS_WEBHOOK_SECRET (required).
 * IPC: sends `{ type: 'ready', url }` once listening; answers `{ type: 'stats' }` with
 * `{ type: 'stats', received, ids, unverified, firstAt, lastAt }` (times in ms since the epoch) and
 * `{ type: 'reset' }` by starting the counts again.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';

const secret = process.env.EVENTS_WEBHOOK_SECRET;
if (!secret) {
  process.stderr.write('event-receiver: EVENTS_WEBHOOK_SECRET is required\n');
  process.exit(2);
}
const verifier = new Webhook(secret);

let received = 0;
let unverified = 0;
let ids = new Set<string>();
let firstAt = 0;
let lastAt = 0;

const fixtures = path.resolve(__dirname, '../../tests/support/fixtures');
const tls = { key: readFileSync(path.join(fixtures, 'self-signed.key')), cert: readFileSync(path.join(fixtures, 'self-signed.crt')) };
const server = https.createServer(tls, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      verifier.verify(Buffer.concat(chunks), req.headers as Record<string, string>);
    } catch {
      unverified += 1;
    }
    received += 1;
    ids.add(String(req.headers['webhook-id']));
    lastAt = Date.now();
    if (!firstAt) firstAt = lastAt;
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;

process.on('message', (m: { type?: string }) => {
  if (m?.type === 'stats') process.send?.({ type: 'stats', received, ids: ids.size, unverified, firstAt, lastAt });
  if (m?.type === 'reset') {
    received = 0;
    unverified = 0;
    ids = new Set();
    firstAt = 0;
    lastAt = 0;
    process.send?.({ type: 'reset-done' });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => server.close(() => process.exit(0)));

server.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/events` }));
