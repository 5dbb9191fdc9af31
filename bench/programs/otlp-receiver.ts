/**
 * A local OpenTelemetry collector stand-in for the traces benchmark, in a process of its own: takes the
 * bridge's OTLP/HTTP JSON exports on /v1/traces, answers 200 as a collector does, and counts the spans.
 *
 * IPC: sends `{ type: 'ready', url }` once listening (the base URL, for OTEL_EXPORTER_OTLP_ENDPOINT);
 * answers `{ type: 'stats' }` with `{ type: 'stats', exports, spans }`. Without IPC (run by hand, e.g.
 * beside `npm run bench:instructions -- --with OTEL_EXPORTER_OTLP_ENDPOINT=...`) it listens on PORT and
 * prints its URL, and the counts when stopped.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

let exports = 0;
let spans = 0;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.url !== '/v1/traces') return void res.writeHead(404).end();
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] };
      for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans += ss.spans?.length ?? 0;
      exports += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } catch {
      res.writeHead(400).end();
    }
  });
});
server.keepAliveTimeout = 60_000;

process.on('message', (m: { type?: string }) => {
  if (m?.type === 'stats') process.send?.({ type: 'stats', exports, spans });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => {
  if (!process.send) process.stdout.write(`${exports} exports, ${spans} spans\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  if (process.send) process.send({ type: 'ready', url });
  else process.stdout.write(`${url}\n`);
});
