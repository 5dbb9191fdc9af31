/**
 * npm run settings: writes .env.example, docs/configuration.md and the env lists of app.json and
 * render.yaml from the settings' schema in src/config/.
 *
 *   npm run settings                 write the files that differ
 *   npm run settings -- --check      write nothing; exit 1 naming each file that differs (0 when none does)
 *   ... --root <dir>                 the files under <dir> instead of this repository's
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderSettingsFiles } from './settings-files';

const USAGE = 'usage: npm run settings [-- --check] [--root <dir>]';

function main(args: readonly string[]): number {
  let check = false;
  let root = path.resolve(__dirname, '..');
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--check') check = true;
    else if (args[i] === '--root' && args[i + 1]) root = path.resolve(args[++i]!);
    else {
      console.error(`${args[i]}: unknown option\n${USAGE}`);
      return 2;
    }
  }
  const read = (file: string) => (existsSync(path.join(root, file)) ? readFileSync(path.join(root, file), 'utf8') : undefined);
  let files;
  try {
    files = renderSettingsFiles(read);
  } catch (err) {
    console.error(`npm run settings: ${(err as Error).message}`);
    return 2;
  }
  const differing = files.filter(({ file, content }) => read(file) !== content);
  if (check) {
    for (const { file } of differing) console.error(`${file} ${read(file) === undefined ? 'is missing' : 'differs from the settings in src/config/'}`);
    if (differing.length) {
      console.error(`Run npm run settings to write ${differing.length === 1 ? 'it' : 'them'} (and change settings in src/config/, not in these files).`);
      return 1;
    }
    console.log(`${files.map((f) => f.file).join(', ')}: as the settings in src/config/ say.`);
    return 0;
  }
  for (const { file, content } of differing) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
    console.log(`wrote ${file}`);
  }
  if (!differing.length) console.log('Nothing to write: every file is as the settings say.');
  return 0;
}

process.exitCode = main(process.argv.slice(2));
