// Preloaded by `npm start` and `npm run worker` (node --require=./scripts/require-build.cjs dist/bin/…js):
// before `npm run build` has written dist/, says so in one line instead of node's "Cannot find module"
// stack. A preload rather than a wrapper process, so node stays the process that receives SIGTERM.
'use strict';
const { existsSync } = require('node:fs');
const path = require('node:path');

const main = process.argv[1];
if (main && !existsSync(main)) {
  const command = { start: 'npm start', worker: 'npm run worker' }[process.env.npm_lifecycle_event] ?? 'node';
  const shown = path.relative(process.cwd(), main) || main;
  console.error(`${command}: ${shown} is missing; run "npm run build" first (it compiles src/ into dist/). To run from the sources instead, use npm run dev.`);
  process.exit(1);
}
