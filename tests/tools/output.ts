import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Output } from '../../src/tools/cli';

/** An Output that keeps what a tool printed, for assertions. */
export class MemoryOutput implements Output {
  readonly lines: Array<{ stream: 'info' | 'error'; text: string }> = [];
  info(text: string): void {
    this.lines.push({ stream: 'info', text });
  }
  error(text: string): void {
    this.lines.push({ stream: 'error', text });
  }
  get stdout(): string {
    return this.lines.filter((l) => l.stream === 'info').map((l) => l.text).join('\n');
  }
  get stderr(): string {
    return this.lines.filter((l) => l.stream === 'error').map((l) => l.text).join('\n');
  }
  get all(): string {
    return this.lines.map((l) => l.text).join('\n');
  }
}

export const REPO = path.resolve(__dirname, '../..');

/**
 * Runs `node scripts/run-tool.mjs <tool> ...args` as `npm run <tool>` does, with exactly `env` (plus
 * PATH), in `cwd`: where the tool looks for .env and a running sandbox. By default an empty directory of
 * its own, never the checkout, where a user's .env or running `npm run dev` would become the tool's.
 */
export async function runToolProcess(
  tool: string,
  args: string[],
  env: Record<string, string | undefined>,
  cwd?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (cwd === undefined) {
    const own = mkdtempSync(path.join(os.tmpdir(), `bridge-${tool}-`));
    try {
      return await runToolProcess(tool, args, env, own);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'scripts/run-tool.mjs'), tool, ...args], {
      cwd,
      env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
