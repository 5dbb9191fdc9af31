/**
 * `npm start` and `npm run worker` in a fresh clone: before `npm run build` they say to build first, in
 * one line, instead of node's "Cannot find module" stack; `npm run build` exits 0, and after it the same
 * commands get as far as reading their settings. What the build writes is what Heroku, Render and the
 * Docker image run: it holds none of the sandbox (the local fakes and `npm run dev`), and the tools run
 * from it alone.
 */
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cloneLayout, REPO, runNpm } from '../support/npm';

/**
 * The sandbox's code, by its path under src/ (or, compiled, under dist/): named here rather than read
 * from tsconfig.build.json, so a build config that let it back in fails these tests.
 */
function isSandbox(relative: string): boolean {
  return relative === 'sandbox' || relative.startsWith('sandbox/') || /^bin\/dev(\.|$)/.test(relative);
}

/** Files under `dir`, relative to it, with / separators. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
}

/** What the sandbox's modules export: the fakes, the sandbox starter and their helpers. */
function sandboxExports(): string[] {
  const src = path.join(REPO, 'src');
  const names = filesUnder(src)
    .filter((file) => isSandbox(file) && file.endsWith('.ts'))
    .flatMap((file) => [...readFileSync(path.join(src, file), 'utf8').matchAll(/^export (?:abstract )?(?:async )?(?:class|function|const|let) (\w+)/gm)].map((m) => m[1]!));
  return [...new Set(names)];
}

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

  describe('after npm run build', () => {
    let build: Awaited<ReturnType<typeof runNpm>>;
    let dist: string;
    beforeAll(async () => {
      build = await runNpm(['run', 'build'], dir, {}, 120_000);
      dist = path.join(dir, 'dist');
    }, 150_000);

    it('then the build exited 0 and npm start and npm run worker get as far as their settings', async () => {
      expect(build.stderr).not.toMatch(/error TS/);
      expect(build.code).toBe(0);
      for (const [, , file] of commands) expect(existsSync(path.join(dir, file))).toBe(true);

      for (const [, args] of commands) {
        const res = await runNpm(args, dir);
        expect(res.stderr).not.toContain('npm run build');
        expect(res.stderr).toContain('Invalid configuration');
        expect(res.code).toBe(1);
      }
    }, 60_000);

    it('then dist/ holds no sandbox code and nothing in it imports any', () => {
      const files = filesUnder(dist);
      // The build ran, and the sandbox's sources were there for it to (wrongly) compile.
      expect(files).toEqual(expect.arrayContaining(['bin/web.js', 'bin/worker.js', 'tools/simulate.js', 'tools/sandbox-session.js']));
      expect(existsSync(path.join(dir, 'src/sandbox/fake-twilio.ts'))).toBe(true);

      expect(files.filter(isSandbox)).toEqual([]);

      // Nor any of its code under another name: no built module defines what the sandbox exports.
      const names = sandboxExports();
      expect(names).toEqual(expect.arrayContaining(['FakeTwilioApi', 'FakeRetell', 'FakeCallee', 'SampleLookupHook', 'startSandbox']));
      const scripts = files.filter((file) => file.endsWith('.js'));
      const defines = scripts.flatMap((file) => {
        const text = readFileSync(path.join(dist, file), 'utf8');
        return names.filter((name) => new RegExp(`\\b(?:class|function) ${name}\\b|\\bexports\\.${name} =`).test(text)).map((name) => `${file} defines ${name}`);
      });
      expect(defines).toEqual([]);

      // Every module a built one loads is another built one (or a package), never the sandbox.
      const imports = scripts.flatMap((file) => {
        const text = readFileSync(path.join(dist, file), 'utf8');
        return [...text.matchAll(/\b(?:require|import)\(\s*["']([^"']+)["']\s*\)/g)]
          .map((m) => m[1]!)
          .filter((spec) => spec.startsWith('.'))
          .map((spec) => {
            const target = path.resolve(path.dirname(path.join(dist, file)), spec);
            // Node's CommonJS resolution: the file with .js, else a directory's index.js (as './features/inbound').
            const resolved = path.extname(target) ? target : existsSync(`${target}.js`) ? `${target}.js` : path.join(target, 'index.js');
            return { file, spec, target: path.relative(dist, resolved).split(path.sep).join('/'), exists: existsSync(resolved) };
          });
      });
      expect(imports.length).toBeGreaterThan(100);
      expect(imports.filter((i) => isSandbox(i.target) || !i.exists || i.target.startsWith('..'))).toEqual([]);
    });

    it('then the tools run from dist/ alone, as in the Docker image (package.json, node_modules, scripts/, dist/)', async () => {
      const image = mkdtempSync(path.join(os.tmpdir(), 'bridge-image-'));
      try {
        // Copies, not links: the tool runner finds the sources next to itself, and the image has none.
        copyFileSync(path.join(REPO, 'package.json'), path.join(image, 'package.json'));
        cpSync(path.join(REPO, 'scripts'), path.join(image, 'scripts'), { recursive: true });
        symlinkSync(path.join(REPO, 'node_modules'), path.join(image, 'node_modules'), 'dir');
        cpSync(dist, path.join(image, 'dist'), { recursive: true });
        for (const tool of ['configure-number', 'simulate', 'inspect', 'call', 'campaign']) {
          const res = await runNpm(['run', tool, '--', '--help'], image);
          expect({ tool, code: res.code, stderr: res.stderr }).toEqual({ tool, code: 0, stderr: '' });
          expect(res.stdout).toContain(`Usage: npm run ${tool} --`);
        }
      } finally {
        rmSync(image, { recursive: true, force: true });
      }
    }, 60_000);
  });
});
