import { spawn, type ChildProcess } from 'node:child_process';
import vm from 'node:vm';

/**
 * Every child process a fault case starts (redis-server, web processes) is killed when the test
 * process ends, whatever happened:
 * - on a normal exit, by an 'exit' handler on the real process object (jest gives test code a copy
 *   whose events never fire; `vm.runInThisContext` evaluates in the main context and returns the real one);
 * - on any death, SIGKILL of the test runner included, by a small reaper process that holds a pipe to us
 *   and kills every child it was told about when that pipe closes.
 * SIGKILL also ends a process stopped with SIGSTOP.
 */
const live = new Set<ChildProcess>();
let reaper: ChildProcess | undefined;

const REAPER_SOURCE = `
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => undefined);
const pids = new Set();
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    if (line.startsWith('+')) pids.add(Number(line.slice(1)));
    if (line.startsWith('-')) pids.delete(Number(line.slice(1)));
  }
});
process.stdin.on('end', () => {
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  process.exit(0);
});
`;

function tellReaper(line: string): void {
  if (!reaper) {
    reaper = spawn(process.execPath, ['-e', REAPER_SOURCE], { stdio: ['pipe', 'ignore', 'ignore'] });
    // Neither the reaper nor its pipe may keep the test process alive.
    reaper.unref();
    (reaper.stdin as unknown as { unref?: () => void }).unref?.();
    reaper.stdin?.on('error', () => undefined);
    const realProcess = vm.runInThisContext('process') as NodeJS.Process;
    realProcess.once('exit', () => {
      for (const child of live) {
        try {
          child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  reaper.stdin?.write(`${line}\n`);
}

export function track(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const pid = child.pid;
  live.add(child);
  tellReaper(`+${pid}`);
  child.once('exit', () => {
    live.delete(child);
    tellReaper(`-${pid}`);
  });
}

/** Resolves with how `child` exited, or null if it is still running after `timeoutMs`. */
export function exited(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(null);
    }, timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve({ code, signal });
    };
    child.once('exit', onExit);
  });
}
