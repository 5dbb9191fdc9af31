/**
 * Arrival times of HTTP requests at a local port as the kernel saw them, from a packet capture on the
 * loopback interface (Wireshark's `dumpcap` and `tshark`, Debian's `tshark` package). A server's own
 * stamps are taken by its event loop, so a stall there bunches them; the kernel's are not.
 *
 * Optional: without the tools, or without the right to capture, `startCapture` returns undefined and the
 * benchmark reports the server's stamps alone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Capture {
  /** Wall-clock ms (sub-ms) of each captured request whose first segment contains `marker`, within [fromMs, toMs). */
  times(marker: string, fromMs: number, toMs: number): number[];
  stop(): Promise<void>;
}

/**
 * Captures on `lo` the TCP segments sent to `port` whose payload starts with `POST` (a BPF filter, so the
 * kernel drops everything else before it is copied). Each request is one segment here: the bridge's
 * Twilio client writes a create's headers and body together.
 */
export async function startCapture(port: number): Promise<Capture | undefined> {
  if (spawnSync('dumpcap', ['--version'], { stdio: 'ignore' }).status !== 0) return undefined;
  if (spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status !== 0) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-capture-'));
  const file = path.join(dir, 'requests.pcapng');
  const filter = `tcp dst port ${port} and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x504f5354`;
  const child: ChildProcess = spawn('dumpcap', ['-q', '-i', 'lo', '-f', filter, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const started = await new Promise<boolean>((resolve) => {
    const deadline = Date.now() + 5000;
    const poll = setInterval(() => {
      if (child.exitCode !== null || Date.now() > deadline) {
        clearInterval(poll);
        resolve(false);
      } else if (existsSync(file) && statSync(file).size > 0) {
        clearInterval(poll);
        resolve(true);
      }
    }, 50);
  });
  if (!started) {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`[bench] no packet capture (dumpcap: ${stderr.trim().split('\n').at(-1) ?? 'did not start'})\n`);
    return undefined;
  }
  return {
    times(marker, fromMs, toMs) {
      const out = spawnSync('tshark', ['-r', file, '-Y', `frame contains "${marker}"`, '-T', 'fields', '-e', 'frame.time_epoch'], {
        encoding: 'utf8',
        maxBuffer: 256 * 1024 * 1024,
      });
      return out.stdout
        .split('\n')
        .filter(Boolean)
        .map((s) => Number(s) * 1000)
        .filter((t) => t >= fromMs && t < toMs)
        .sort((a, b) => a - b);
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
