/**
 * Fault case 10: a flood of large unauthenticated bodies at the Retell endpoints. Each request is
 * refused without its body being held (unsigned: before a byte is read; a forged but fresh-looking
 * signature: within the route's limit and the process-wide budget for unverified bytes), so the web
 * process's memory stays flat and live calls go on being answered.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { getExpectedTwilioSignature } from 'twilio';
import { PUBLIC_URL, RETELL_KEY } from '../support/bridge';
import { AUTH_TOKEN, voiceParams } from '../support/twilio-signing';
import { FaultyRetell } from './support/faulty-retell';
import { RedisServer } from './support/redis-server';
import { WebProcess } from './support/web-process';
import { isCallTwiml } from './support/webhooks';

const FLOOD = 24;
const BODY_BYTES = 8 * 1024 * 1024;
/** What a flood may add to the process, all buffers and sockets included: the budget is 32 MiB. */
const GROWTH_BOUND_BYTES = 80 * 1024 * 1024;

let redis: RedisServer;
let retell: FaultyRetell;
let web: WebProcess;

beforeAll(async () => {
  redis = await RedisServer.start();
  retell = await new FaultyRetell(RETELL_KEY).start();
  web = await WebProcess.start({ REDIS_URL: redis.url, REDIS_PREFIX: 'faults-memory', RETELL_BASE_URL: retell.url });
});
afterAll(async () => {
  await web?.dispose();
  await retell?.stop();
  await redis?.dispose();
});

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Sends a request and a body of `BODY_BYTES` as fast as the server takes it; resolves when the server answers or closes. */
function flood(path: string, headers: string[]): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(web.port, '127.0.0.1');
    let answer = '';
    socket.on('connect', () => {
      socket.write([`POST ${path} HTTP/1.1`, 'Host: x', 'Content-Type: application/json', `Content-Length: ${BODY_BYTES}`, ...headers].join('\r\n') + '\r\n\r\n');
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let sent = 0;
      const pump = () => {
        while (sent < BODY_BYTES && socket.writable) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
      };
      pump();
    });
    socket.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('\r\n')) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
    setTimeout(() => socket.destroy(), 15_000).unref();
  });
}

describe(`when ${FLOOD} unsigned and ${FLOOD} forged 8 MiB bodies arrive at once`, () => {
  it('then the web process holds none of them, its memory stays flat, and a real call is still answered', async () => {
    const pid = web.pid!;
    const before = rssBytes(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 20);
    const forged = `X-Retell-Signature: v=${Date.now()},d=${'a'.repeat(64)}`;
    try {
      const answers = await Promise.all([
        ...Array.from({ length: FLOOD }, () => flood('/retell/webhook', [])),
        ...Array.from({ length: FLOOD }, () => flood('/retell/functions/end_call', [forged])),
      ]);
      // Refused or cut off, never accepted and never a server error.
      for (const first of answers) expect(first === '' || /^HTTP\/1\.1 (401|413|503) /.test(first)).toBe(true);
    } finally {
      clearInterval(sampler);
    }
    if (process.env.SWEEP_DEBUG) process.stderr.write(`RSS before ${before >> 20} MiB, peak ${peak >> 20} MiB\n`);
    expect(peak - before).toBeLessThan(GROWTH_BOUND_BYTES);

    const params = voiceParams();
    const body = new URLSearchParams(params).toString();
    const res = await fetch(`${web.url}/twilio/voice`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': getExpectedTwilioSignature(AUTH_TOKEN, `${PUBLIC_URL}/twilio/voice`, params) },
      body,
    });
    const twiml = await res.text();
    expect(isCallTwiml({ status: res.status, body: twiml, contentType: 'text/xml', callSid: params.CallSid!, startedAt: 0, elapsedMs: 0 })).toBe(true);
    expect(web.alive).toBe(true);
  });
});
