/**
 * Commands as a user types them: `npm start`, `npm run simulate …`, run by npm itself in a directory laid
 * out like a fresh clone, so what npm does with the arguments and the exit code is part of what is tested.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '../..');

/**
 * Lays out `dir` as a clone after `npm install`: package.json, the scripts/ it names and node_modules
 * (linked). Nothing is built: there is no dist/.
 */
export function cloneLayout(dir: string): void {
  copyFileSync(path.join(REPO, 'package.json'), path.join(dir, 'package.json'));
  symlinkSync(path.join(REPO, 'scripts'), path.join(dir, 'scripts'), 'dir');
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
}

/**
 * Runs `npm <args>` in `cwd` with `env`, PATH and HOME (`cwd`, so npm's logs stay there), and no update
 * check. Resolves with the exit code and the output.
 */
export function runNpm(args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', args, {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, npm_config_update_notifier: 'false', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
