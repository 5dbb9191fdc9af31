// `npm run dev`: web and worker in one process from the TypeScript sources, reading settings from .env
// if present. Without any Twilio or Retell settings it runs the sandbox instead: the same web and worker
// against local stand-ins for both APIs. Production runs web and worker as separate processes (Procfile).
import 'dotenv/config';
import { parseArgs } from 'node:util';
import { ConfigError, noAccountSettings, processEnv } from '../config';
import { createLogger } from '../observability/logger';
import { SandboxStartError, startSandbox } from '../sandbox/start';
import { startWeb } from '../web/start';
import { startWorker } from '../worker/start';
import { configOrExit, onShutdownSignal } from './run';

async function runReal(): Promise<() => Promise<void>> {
  const config = configOrExit({ readsDotenv: true });
  const logger = createLogger(config.logLevel);
  const worker = startWorker({ config, logger: logger.child({ process: 'worker' }) });
  const web = await startWeb({ config, logger: logger.child({ process: 'web' }) });
  return async () => {
    await web.close();
    await worker.close(10_000);
  };
}

async function runSandbox(lookupFile: string | undefined): Promise<() => Promise<void>> {
  const sandbox = await startSandbox({ env: processEnv(), lookupFile });
  return () => sandbox.close();
}

function lookupOption(): string | undefined {
  try {
    return parseArgs({ args: process.argv.slice(2), options: { lookup: { type: 'string' } }, strict: true }).values.lookup;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\nUsage: npm run dev [-- --lookup <file.json>]  (--lookup: a local lookup hook, sandbox only)\n`);
    process.exit(2);
  }
}

const lookupFile = lookupOption();
const sandbox = noAccountSettings(processEnv());
if (lookupFile && !sandbox) {
  process.stderr.write('--lookup runs a local lookup hook in the sandbox only; with real settings, point INBOUND_WEBHOOK_URL at your hook.\n');
  process.exit(2);
}

(sandbox ? runSandbox(lookupFile) : runReal()).then(
  (stop) => onShutdownSignal(stop),
  (err: Error) => {
    if (err instanceof ConfigError || err instanceof SandboxStartError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`npm run dev failed to start: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
