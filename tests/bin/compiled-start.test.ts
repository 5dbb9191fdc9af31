/**
 * `npm start` and `npm run worker` in a fresh clone: before `npm run build` they say to build first, in
 * one line, instead of node's "Cannot find module" stack; `npm run build` exits 0, and after it the same
 * commands get as far as reading their settings.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cloneLayout, REPO, runNpm } from '../support/npm';

describe('npm start and npm run worker in a fresh clone', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-clone-'));
    cloneLayout(dir);
    for (const file of ['tsconfig.json', 'tsconfig.build.json']) copyFileSync(path.join(REPO, file), path.join(dir, file));
    cpSync(path.join(REPO, 'src'), path.join(dir, 'src'), { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const commands: Array<[string, string[], string]> = [
    ['npm start', ['start'], 'dist/bin/web.js'],
    ['npm run worker', ['run', 'worker'], 'dist/bin/worker.js'],
  ];

  it.each(commands)('when %s runs before npm run build, then it says to run npm run build first and exits 1', async (command, args, file) => {
    const res = await runNpm(args, dir);
    expect(res.stderr).toContain(`${command}: ${file} is missing; run "npm run build" first`);
    expect(res.stderr).not.toContain('Cannot find module');
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(res.code).toBe(1);
  }, 30_000);

  it('when npm run build runs, then it exits 0 and npm start and npm run worker get as far as their settings', async () => {
    const build = await runNpm(['run', 'build'], dir, {}, 120_000);
    expect(build.stderr).not.toMatch(/error TS/);
    expect(build.code).toBe(0);
    for (const [, , file] of commands) expect(existsSync(path.join(dir, file))).toBe(true);

    for (const [, args] of commands) {
      const res = await runNpm(args, dir);
      expect(res.stderr).not.toContain('npm run build');
      expect(res.stderr).toContain('Invalid configuration');
      expect(res.code).toBe(1);
    }
  }, 150_000);
});
