/**
 * Instructions per new-call voice webhook, counted by valgrind's callgrind: the web process runs under
 * callgrind with counting off, takes a warm-up of signed webhooks (so the JIT has compiled the hot
 * paths), then counts the instructions it executes for a fixed number of webhooks.
 *
 * CPU time per request (`npm run bench`) swings by ±30 % on a shared machine; an instruction count does
 * not depend on what else the machine runs, so it can show a change worth a few per cent. It counts user
 * space only: a change that saves system calls (Redis auto-pipelining writes several commands in one
 * `write`) shows less here than in CPU time, so the process's read and write system calls per webhook
 * (from /proc/PID/io) are counted beside it.
 *
 *   npm run bench:instructions -- [--candidate DIR ...] [--with VAR=VALUE ...] [--requests N] [--warmup N] [--connections C]
 *
 * `--with RECORDING=dual` also measures this checkout's bridge with that setting added (one more bridge
 * per --with), so a setting's cost per webhook shows beside the bridge as configured by default; several
 * settings go in one --with separated by spaces (`--with 'EVENTS_WEBHOOK_URL=… EVENTS_WEBHOOK_SECRET=…'`).
 *
 * Defaults: 1,500 measured webhooks after 2,500 of warm-up, 8 in flight. Measures this checkout's bridge,
 * each candidate checkout (with its own src/), and the naive bridge from Retell's guide, one after another
 * against the same Redis and fake Retell. Needs valgrind (Debian: apt-get install valgrind).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { getExpectedTwilioSignature } from 'twilio';
import { ACCOUNT_SID, AUTH_TOKEN, voiceParams } from '../tests/support/twilio-signing';
import { AGENT_ID, PUBLIC_URL, RETELL_KEY, webEntry } from './lib/harness';
import { freePort, nextMessage, ROOT, spawnPinned, spawnTs, waitForHttp, type Spawned } from './lib/proc';
import { startRedis } from './lib/redis';


interface Target {
  name: string;
  /** The TypeScript entry point to run. */
  entry: string;
  env: Record<string, string>;
}

const { values } = parseArgs({
  options: {
    candidate: { type: 'string', multiple: true, default: [] },
    with: { type: 'string', multiple: true, default: [] },
    requests: { type: 'string', default: '1500' },
    warmup: { type: 'string', default: '2500' },
    connections: { type: 'string', default: '8' },
    'no-naive': { type: 'boolean', default: false },
  },
});
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const connections = Number(values.connections);

const tag = randomBytes(4).toString('hex');
let counter = 0;
const callSid = () => `CA${tag}${(++counter).toString(16).padStart(24, '0')}`;

/** Sends `n` distinct signed new-call webhooks, `connections` at a time; fails on any answer without a SIP dial. */
async function send(port: number, n: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const signingUrl = `${PUBLIC_URL}/twilio/voice`;
  let left = n;
  let bad = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const params = voiceParams({ CallSid: callSid(), AccountSid: ACCOUNT_SID });
      const body = new URLSearchParams(params).toString();
      const req = http.request(
        {
          port,
          host: '127.0.0.1',
          method: 'POST',
          path: '/twilio/voice',
          agent,
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
            'x-twilio-signature': getExpectedTwilioSignature(AUTH_TOKEN, signingUrl, params),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c));
          res.on('end', () => {
            if (res.statusCode !== 200 || !text.includes('<Sip>')) bad += 1;
            resolve();
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const lane = async () => {
    while (left > 0) {
      left -= 1;
      await one();
    }
  };
  await Promise.all(Array.from({ length: connections }, lane));
  agent.destroy();
  if (bad) throw new Error(`${bad} of ${n} webhooks were not answered with a SIP dial`);
}

/** Total instructions in a callgrind output file (its `summary:` or `totals:` line). */
function totalInstructions(file: string): number {
  const text = readFileSync(file, 'utf8');
  const m = /^(?:summary|totals):\s*(\d+)/m.exec(text);
  if (!m) throw new Error(`no instruction total in ${file}`);
  return Number(m[1]);
}

interface Counts {
  instructions: number;
  /** read-like and write-like system calls (socket reads and writes among them), per webhook. */
  reads: number;
  writes: number;
}

/** The process's read and write system calls so far (`syscr`, `syscw` in /proc/PID/io). */
function syscalls(pid: number): { reads: number; writes: number } {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { reads: field('syscr'), writes: field('syscw') };
}

async function measure(target: Target, dir: string): Promise<Counts> {
  const port = await freePort();
  let io = { reads: NaN, writes: NaN };
  const out = path.join(dir, `${target.name.replace(/\W+/g, '_')}.%p`);
  const proc: Spawned = spawnPinned(
    target.name,
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      // V8 writes and rewrites machine code at run time; valgrind must look for it everywhere.
      '--smc-check=all-non-file',
      `--callgrind-out-file=${out}`,
      process.execPath,
      // Compilation and GC on the main thread, at the same points in every run: background threads'
      // timing would otherwise move work between runs of the same code.
      '--single-threaded',
      '-r',
      'tsx/cjs',
      target.entry,
    ],
    { env: { ...target.env, PORT: String(port) } },
  );
  try {
    await waitForHttp(`http://127.0.0.1:${port}/twilio/voice`, proc, 180_000);
    await send(port, warmup);
    execFileSync('callgrind_control', ['--instr=on', String(proc.pid)], { stdio: 'ignore' });
    const before = syscalls(proc.pid);
    await send(port, requests);
    const after = syscalls(proc.pid);
    execFileSync('callgrind_control', ['--dump', String(proc.pid)], { stdio: 'ignore' });
    io = { reads: (after.reads - before.reads) / requests, writes: (after.writes - before.writes) / requests };
  } finally {
    await proc.stop(60_000);
  }
  // `--dump` writes <file>.<pid>.1: the counted webhooks only, without the shutdown that follows.
  const dump = path.join(dir, `${path.basename(out).replace('%p', String(proc.pid))}.1`);
  if (!existsSync(dump)) throw new Error(`callgrind wrote no dump for ${target.name} (${dump})`);
  return { instructions: totalInstructions(dump) / requests, ...io };
}

async function main(): Promise<void> {
  const redis = await startRedis(undefined);
  const retell = spawnTs('fake-retell', 'bench/programs/fake-retell-server.ts', {
    ipc: true,
    env: { RETELL_API_KEY: RETELL_KEY, RETELL_CONCURRENCY_LIMIT: '1000000' },
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-callgrind-'));
  try {
    const { url: retellUrl } = await nextMessage(retell, (m): m is { type: 'ready'; url: string } => (m as { type?: string })?.type === 'ready');
    const bridgeEnv = (prefix: string) => ({
      NODE_ENV: 'production',
      PUBLIC_URL,
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      RETELL_API_KEY: RETELL_KEY,
      RETELL_BASE_URL: retellUrl,
      RETELL_AGENT_ID: AGENT_ID,
      LOG_LEVEL: 'warn',
    });
    const targets: Target[] = [{ name: 'bridge', entry: webEntry(ROOT), env: bridgeEnv(`bi${tag}0`) }];
    values.candidate.forEach((c, i) => {
      const root = path.resolve(c);
      if (!existsSync(path.join(root, 'src'))) throw new Error(`--candidate ${c}: not a checkout (no src/ there)`);
      targets.push({ name: path.basename(root), entry: webEntry(root), env: bridgeEnv(`bi${tag}${i + 1}`) });
    });
    values.with.forEach((settings, i) => {
      const added: Record<string, string> = {};
      for (const setting of settings.split(/\s+/).filter(Boolean)) {
        const eq = setting.indexOf('=');
        if (eq < 1) throw new Error(`--with ${setting}: give VAR=VALUE, e.g. --with RECORDING=dual`);
        added[setting.slice(0, eq)] = setting.slice(eq + 1);
      }
      targets.push({ name: `bridge ${settings}`, entry: webEntry(ROOT), env: { ...bridgeEnv(`bw${tag}${i}`), ...added } });
    });
    if (!values['no-naive']) {
      targets.push({
        name: 'naive',
        entry: path.join(ROOT, 'bench/programs/naive-bridge.ts'),
        env: { RETELL_API_KEY: RETELL_KEY, RETELL_BASE_URL: retellUrl, RETELL_AGENT_ID: AGENT_ID },
      });
    }

    process.stdout.write(`instructions per new-call webhook: ${warmup} warm-up, ${requests} counted, ${connections} in flight, Node ${process.version}\n`);
    const results: ({ name: string } & Counts)[] = [];
    for (const t of targets) {
      const counts = await measure(t, dir);
      results.push({ name: t.name, ...counts });
      process.stdout.write(`  ${t.name}: ${Math.round(counts.instructions).toLocaleString('en-US')} instructions, ${counts.reads.toFixed(2)} reads, ${counts.writes.toFixed(2)} writes per webhook\n`);
    }
    const base = results[0]!.instructions;
    const naive = results.find((r) => r.name === 'naive')?.instructions;
    process.stdout.write('\n| process | instructions / webhook | ÷ bridge | ÷ naive | read / write syscalls per webhook |\n|---|---|---|---|---|\n');
    for (const r of results) {
      const vsNaive = naive ? `${(r.instructions / naive).toFixed(2)}×` : '';
      process.stdout.write(
        `| ${r.name} | ${Math.round(r.instructions).toLocaleString('en-US')} | ${(r.instructions / base).toFixed(3)}× | ${vsNaive} | ${r.reads.toFixed(2)} / ${r.writes.toFixed(2)} |\n`,
      );
    }
  } finally {
    await retell.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
