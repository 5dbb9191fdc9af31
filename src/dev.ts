// `npm run dev`: web and worker in one process from the TypeScript sources, reading settings from .env
// if present. Production runs them as separate processes (Procfile).
import 'dotenv/config';
import { configOrExit, onShutdownSignal } from './main';
import { createLogger } from './observability/logger';
import { startWeb } from './web';
import { startWorker } from './worker-process';

const config = configOrExit();
const logger = createLogger(config.logLevel);
const worker = startWorker(config, logger.child({ process: 'worker' }));

startWeb(config, logger.child({ process: 'web' })).then(
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
