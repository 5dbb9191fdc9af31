// `npm run dev`: web and worker in one process from the TypeScript sources, reading settings from .env
// if present. Production runs them as separate processes (Procfile).
import 'dotenv/config';
import { createLogger } from '../observability/logger';
import { startWeb } from '../web/start';
import { startWorker } from '../worker/start';
import { configOrExit, onShutdownSignal } from './run';

const config = configOrExit();
const logger = createLogger(config.logLevel);
const worker = startWorker({ config, logger: logger.child({ process: 'worker' }) });

startWeb({ config, logger: logger.child({ process: 'web' }) }).then(
  (web) =>
    onShutdownSignal(async () => {
      await web.close();
      await worker.close(10_000);
    }),
  (err: Error) => {
    logger.fatal({ err }, 'web failed to start');
    process.exit(1);
  },
);
