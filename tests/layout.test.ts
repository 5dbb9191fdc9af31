/**
 * The layout of src/. Layers: a module may import from its own layer or a lower one, never from a
 * higher one, so each flow reads top to bottom and no cycle can form between, say, calls/ and jobs/.
 * Features: each folder of src/features/ is one flow (route → service → job → Twilio); anything outside
 * it uses it only through its public file, `index.ts`, so a feature's internals can change freely.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const SRC = path.resolve(__dirname, '../src');

/** Top first. A directory (or top-level file) not listed here fails the test until it is placed. */
const LAYERS: string[][] = [
  ['bin', 'tools', 'sandbox'],
  ['web', 'worker'],
  ['container.ts'],
  ['features'],
  ['calls'],
  ['jobs'],
  ['twilio', 'retell', 'redis', 'observability', 'http'],
  ['formats.ts', 'config'],
];

const rel = (file: string) => path.relative(SRC, file).split(path.sep).join('/');

function layerOf(file: string): number {
  const top = rel(file).split('/')[0]!;
  const index = LAYERS.findIndex((names) => names.includes(top));
  if (index < 0) throw new Error(`${top} is in no layer of tests/layout.test.ts: add it where it belongs`);
  return index;
}

/** The feature a file belongs to (`inbound` for src/features/inbound/routes.ts), if any. */
const featureOf = (file: string): string | undefined => /^features\/([^/]+)\//.exec(rel(file))?.[1];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

/** Each import of ours in `file`, as the file it resolves to (a directory import is its index.ts). */
function imports(file: string): Array<{ spec: string; target: string }> {
  const found: Array<{ spec: string; target: string }> = [];
  for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
    const resolved = path.resolve(path.dirname(file), spec!);
    const target = existsSync(`${resolved}.ts`) ? `${resolved}.ts` : path.join(resolved, 'index.ts');
    found.push({ spec: spec!, target });
  }
  return found;
}

describe('the layout of src/', () => {
  it('when a module imports another of ours, then the imported one is in the same layer or a lower one', () => {
    const upward: string[] = [];
    for (const file of sources(SRC)) {
      for (const { spec, target } of imports(file)) if (layerOf(target) < layerOf(file)) upward.push(`${rel(file)} imports ${spec}`);
    }
    expect(upward).toEqual([]);
  });

  it('when a module uses a feature it is not part of, then it goes through the feature\'s index.ts', () => {
    const internals: string[] = [];
    for (const file of sources(SRC)) {
      for (const { spec, target } of imports(file)) {
        const feature = featureOf(target);
        if (feature && feature !== featureOf(file) && rel(target) !== `features/${feature}/index.ts`) internals.push(`${rel(file)} imports ${spec}`);
      }
    }
    expect(internals).toEqual([]);
  });

  it('when a feature folder exists, then it has a public index.ts saying what it is', () => {
    const features = readdirSync(path.join(SRC, 'features'));
    expect(features.length).toBeGreaterThanOrEqual(5);
    for (const feature of features) expect(readFileSync(path.join(SRC, 'features', feature, 'index.ts'), 'utf8')).toMatch(/^\/\*\*/);
  });

  it('when a module imports the sandbox, then it is the sandbox or npm run dev\'s program: npm run build leaves both out, so nothing built may need them', () => {
    const devOnly = (file: string) => {
      const relative = path.relative(SRC, file).split(path.sep).join('/');
      return relative.startsWith('sandbox/') || relative === 'bin/dev.ts';
    };
    const importers: string[] = [];
    for (const file of sources(SRC).filter((f) => !devOnly(f))) {
      const text = readFileSync(file, 'utf8');
      for (const [, spec] of text.matchAll(/(?:from |import\(|require\()'(\.{1,2}\/[^']+)'/g)) {
        const resolved = path.resolve(path.dirname(file), spec!);
        if (devOnly(resolved.endsWith('.ts') ? resolved : `${resolved}.ts`)) importers.push(`${path.relative(SRC, file)} imports ${spec}`);
      }
    }
    expect(importers).toEqual([]);
  });

  it('when a module reads the process environment, then it is in src/config/: settings are read and validated in one place', () => {
    const readers = sources(SRC)
      .filter((file) => /\bprocess\.env\b/.test(readFileSync(file, 'utf8')))
      .map((file) => rel(file));
    expect(readers.filter((file) => !file.startsWith('config/'))).toEqual([]);
    expect(readers).toContain('config/index.ts');
  });
});
