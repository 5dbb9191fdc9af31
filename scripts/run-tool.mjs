#!/usr/bin/env node
// Runs a tool: node scripts/run-tool.mjs <configure-number|simulate|inspect|call|campaign> [arguments...]
//
// In a checkout with dev dependencies installed it runs the TypeScript source through tsx, so the tool
// always matches the code; in a deployment, where dev dependencies may have been pruned (Heroku) or
// never installed (the Docker image), it runs the compiled dist/tools/<name>.js from `npm run build`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TOOLS = ['configure-number', 'simulate', 'inspect', 'call', 'campaign'];
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);

if (!TOOLS.includes(name)) {
  console.error(`usage: node scripts/run-tool.mjs <${TOOLS.join('|')}> [arguments...]`);
  process.exit(2);
}

const source = path.join(root, 'src', 'tools', `${name}.ts`);
const compiled = path.join(root, 'dist', 'tools', `${name}.js`);

let tsx;
try {
  tsx = createRequire(path.join(root, 'package.json')).resolve('tsx/cjs');
} catch {
  tsx = undefined;
}

let nodeArgs;
if (tsx && existsSync(source)) nodeArgs = ['-r', tsx, source, ...args];
else if (existsSync(compiled)) nodeArgs = [compiled, ...args];
else {
  console.error(`${name}: ${path.relative(process.cwd(), compiled) || compiled} is missing; run "npm run build" first.`);
  process.exit(1);
}

const child = spawn(process.execPath, nodeArgs, { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('error', (err) => {
  console.error(`${name}: could not start: ${err.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
