// `npm run dev`: web and worker in one process from the TypeScript sources, reading settings from .env
// if present. Without any Twilio or Retell settings it runs the sandbox instead: the same web and worker
// against local stand-ins for both APIs. Production runs web and worker as separate processes (Procfile).
import 'dotenv/config';
import { ConfigError, noAccountSettings } from '../config';
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

async function runSandbox(): Promise<() => Promise<void>> {
  const sandbox = await startSandbox({ env: process.env });
  return () => sandbox.close();
}

(noAccountSettings(process.env) ? runSandbox() : runReal()).then(
  (stop) => onShutdownSignal(stop),
  (err: Error) => {
    if (err instanceof ConfigError || err instanceof SandboxStartError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`npm run dev failed to start: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
