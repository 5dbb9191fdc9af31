import net from 'node:net';

export interface RawAnswer {
  /** The HTTP status, or 0 when the server closed the connection without answering. */
  status: number;
  raw: string;
  error?: string;
}

/**
 * Writes `request` bytes as they are on a fresh connection, for requests fetch() refuses to make
 * (wrong Content-Length, broken chunking, invalid header bytes). With `halfClose`, the client then
 * ends its side (the body stops short). Resolves with the first status line the server answers.
 */
export function rawRequest(port: number, request: Buffer | string, opts: { halfClose?: boolean; timeoutMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1] ?? 0);
      resolve({ status, raw, ...(error && status === 0 ? { error } : {}) });
    };
    const timer = setTimeout(() => done('timeout'), opts.timeoutMs ?? 5000);
    socket.on('connect', () => {
      socket.write(request);
      if (opts.halfClose) socket.end();
    });
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // One answer is all a sweep case needs.
      if (/\r\n\r\n/.test(Buffer.concat(chunks).toString('latin1'))) setTimeout(() => done(), 20);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.on('close', () => done('closed'));
  });
}
