/**
 * The files written from the settings' schema (npm run settings): .env.example, docs/configuration.md
 * and the env lists of app.json and render.yaml. They must be what the schema says, so a setting changed
 * in src/config/ without running npm run settings, or one of these files edited by hand, fails here.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parseSettings, type EnvKey } from '../../src/config';
import { driftedFiles, entries, envExampleValue, renderSettingsFiles, SETTINGS_FILES } from '../../scripts/settings-files';

const ROOT = path.resolve(__dirname, '../..');
const readIn = (root: string) => (file: string) => {
  try {
    return readFileSync(path.join(root, file), 'utf8');
  } catch {
    return undefined;
  }
};
const read = readIn(ROOT);

describe('the files written from the settings', () => {
  it('when nothing was changed by hand, then every file is what npm run settings writes', () => {
    expect(driftedFiles(read)).toEqual([]);
  });

  it.each([
    ['.env.example', (text: string) => text.replace('TWILIO_CPS=1', 'TWILIO_CPS=5')],
    ['.env.example', (text: string) => `${text}EXTRA_SETTING=1\n`],
    ['docs/configuration.md', (text: string) => text.replace(/^\| `LOG_LEVEL` .*\n/m, '')],
    ['app.json', (text: string) => text.replace('"value": "10"', '"value": "20"')],
    ['render.yaml', (text: string) => text.replace(/      - key: ADMIN_PASSWORD\n        generateValue: true\n/, '')],
    ['render.yaml', (text: string) => text.replace("value: '4000'", "value: '5000'")],
  ])('when %s is changed by hand, then the check names it, and only it', (file, change) => {
    const original = read(file)!;
    const drifted = change(original);
    expect(drifted).not.toBe(original);
    expect(driftedFiles((f) => (f === file ? drifted : read(f)))).toEqual([file]);
  });

  it('when a written file is missing, then the check names it', () => {
    expect(driftedFiles((f) => (f === 'docs/configuration.md' ? undefined : read(f)))).toEqual(['docs/configuration.md']);
  });

  it('when app.json or render.yaml is changed outside its env lists, then that is kept as it is', () => {
    const app = read('app.json')!.replace('"success_url": "/readyz"', '"success_url": "/healthz"');
    const blueprint = read('render.yaml')!.replace('plan: starter # persistent', 'plan: standard # persistent');
    const written = renderSettingsFiles((f) => (f === 'app.json' ? app : f === 'render.yaml' ? blueprint : read(f)));
    expect(written.find((w) => w.file === 'app.json')!.content).toBe(app);
    expect(written.find((w) => w.file === 'render.yaml')!.content).toBe(blueprint);
  });

  it('when the files are written from what they now hold, then nothing changes (writing twice is writing once)', () => {
    const once = new Map(renderSettingsFiles(read).map(({ file, content }) => [file as string, content]));
    expect(driftedFiles((f) => once.get(f))).toEqual([]);
  });

  it('when .env.example is read as dotenv reads it, then each setting has the value meant for it', () => {
    const parsed = parseDotenv(read('.env.example')!);
    for (const entry of entries().filter((e) => e.meta.dotenv !== false)) expect({ key: entry.key, value: parsed[entry.key] ?? '' }).toEqual({ key: entry.key, value: envExampleValue(entry) });
  });

  it('when a setting is asked for on the platforms, then .env.example holds a placeholder for it that the bridge refuses', () => {
    const asked = entries().filter((e) => e.meta.deploy.how === 'ask');
    expect(asked.length).toBeGreaterThan(0);
    for (const entry of asked) {
      let refused = '';
      try {
        parseSettings({ NODE_ENV: 'development', [entry.key]: envExampleValue(entry) }, ['NODE_ENV', 'PORT', 'PUBLIC_URL', 'RENDER_EXTERNAL_URL', entry.key as EnvKey]);
      } catch (err) {
        refused = (err as Error).message;
      }
      expect({ key: entry.key, refused }).toEqual({ key: entry.key, refused: expect.stringMatching(new RegExp(`^  - ${entry.key} `, 'm')) });
    }
  });

  it('when render.yaml leaves a setting out, then its header says to add it by hand', () => {
    const header = read('render.yaml')!.split('\n').filter((l) => l.startsWith('#')).join('\n');
    for (const entry of entries().filter((e) => e.meta.deploy.how === 'optional' || e.meta.deploy.how === 'manual')) {
      expect({ key: entry.key, named: header.includes(entry.key) }).toEqual({ key: entry.key, named: true });
    }
  });

  it('when the README speaks of the configuration, then it links to docs/configuration.md', () => {
    const readme = read('README.md')!;
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 5));
    expect(section).toContain('(docs/configuration.md)');
    expect(section).not.toMatch(/^\|/m);
  });
});

describe('npm run settings', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-settings-'));
    for (const file of SETTINGS_FILES) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      copyFileSync(path.join(ROOT, file), path.join(dir, file));
    }
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['-r', require.resolve('tsx/cjs'), path.join(ROOT, 'scripts/settings.ts'), ...args], { encoding: 'utf8', timeout: 30_000 });

  it('when run with --check on this checkout, then it exits 0', () => {
    const result = spawnSync('npm', ['run', '--silent', 'settings', '--', '--check'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('when files drifted, then --check exits 1 naming each of them and writes nothing; without --check it writes them back', () => {
    const env = path.join(dir, '.env.example');
    writeFileSync(env, readFileSync(env, 'utf8').replace('LOG_LEVEL=info', 'LOG_LEVEL=debug'));
    rmSync(path.join(dir, 'docs/configuration.md'));

    const check = run('--check', '--root', dir);
    expect(check.status).toBe(1);
    expect(check.stderr).toContain('.env.example differs');
    expect(check.stderr).toContain('docs/configuration.md is missing');
    expect(check.stderr).not.toMatch(/app\.json|render\.yaml/);
    expect(readFileSync(env, 'utf8')).toContain('LOG_LEVEL=debug');

    const write = run('--root', dir);
    expect(write.status).toBe(0);
    expect(write.stdout).toContain('wrote .env.example');
    for (const file of SETTINGS_FILES) expect({ file, same: read(file) === readIn(dir)(file) }).toEqual({ file, same: true });
    expect(run('--check', '--root', dir).status).toBe(0);
  });

  it('when given an option it does not know, then it exits 2 with its usage', () => {
    const result = run('--chek');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('usage: npm run settings');
  });
});
