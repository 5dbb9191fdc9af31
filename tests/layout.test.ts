/**
 * The layers of src/: a module may import from its own layer or a lower one, never from a higher one,
 * so each flow reads top to bottom and no cycle can form between, say, calls/ and jobs/.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const SRC = path.resolve(__dirname, '../src');

/** Top first. A directory (or top-level file) not listed here fails the test until it is placed. */
const LAYERS: string[][] = [
  ['bin', 'tools', 'sandbox'],
  ['web', 'worker'],
  ['services'],
  ['jobs'],
  ['calls'],
  ['jobs/effect.ts'],
  ['twilio', 'retell', 'redis', 'observability', 'http'],
  ['formats.ts', 'config.ts'],
];

function layerOf(file: string): number {
  const relative = path.relative(SRC, file).split(path.sep).join('/');
  const top = relative.split('/')[0]!;
  const own = LAYERS.findIndex((names) => names.includes(relative));
  const index = own >= 0 ? own : LAYERS.findIndex((names) => names.includes(top));
  if (index < 0) throw new Error(`${top} is in no layer of tests/layout.test.ts: add it where it belongs`);
  return index;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

describe('the layout of src/', () => {
  it('when a module imports another of ours, then the imported one is in the same layer or a lower one', () => {
    const upward: string[] = [];
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8');
      for (const [, spec] of text.matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        const resolved = path.resolve(path.dirname(file), spec!);
        const target = resolved.endsWith('.ts') ? resolved : `${resolved}.ts`;
        if (layerOf(target) < layerOf(file)) upward.push(`${path.relative(SRC, file)} imports ${spec}`);
      }
    }
    expect(upward).toEqual([]);
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

  it('when a module reads the process environment, then it is src/config.ts: settings are read and validated in one place', () => {
    const readers = sources(SRC)
      .filter((file) => /\bprocess\.env\b/.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(SRC, file));
    expect(readers).toEqual(['config.ts']);
  });
});
