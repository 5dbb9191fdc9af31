import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * What a running sandbox tells the tools (`npm run simulate`, `npm run inspect`) started in the same
 * directory: its settings, whose secrets are made up for the session, and where its local APIs are.
 *
 * Here rather than in src/sandbox/ because the tools are built into dist/ and run in deployments, where
 * the sandbox is not: `npm run build` leaves src/sandbox/ out, so nothing built may import from it. The
 * sandbox (`npm run dev`, from the sources) writes this file; the tools only read it.
 */
export interface SandboxSession {
  pid: number;
  startedAt: string;
  /** The complete settings the sandbox's web and worker run with. */
  env: Record<string, string>;
  bridgeUrl: string;
  twilioUrl: string;
  retellUrl: string;
}

/** In the working directory, like `.env`, so the tools run from the same checkout find it. */
export const SESSION_FILE = '.sandbox.json';

export function writeSession(session: SandboxSession, dir = process.cwd()): void {
  writeFileSync(path.join(dir, SESSION_FILE), `${JSON.stringify(session, null, 2)}\n`, { mode: 0o600 });
}

/** Removes the session file if it is still `pid`'s (a second sandbox may have replaced it). */
export function removeSession(pid: number, dir = process.cwd()): void {
  if (readSession(dir)?.pid === pid) rmSync(path.join(dir, SESSION_FILE), { force: true });
}

function readSession(dir: string): SandboxSession | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, SESSION_FILE), 'utf8')) as SandboxSession;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The session of a sandbox that is running now, if any (a file left by a killed one is ignored). */
export function liveSession(dir = process.cwd()): SandboxSession | undefined {
  const session = readSession(dir);
  return session && typeof session.pid === 'number' && alive(session.pid) ? session : undefined;
}
