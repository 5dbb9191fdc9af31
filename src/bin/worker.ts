// The worker process (`npm run worker`): performs queued transfers and hang-ups through Twilio's REST API.
import { createLogger } from '../observability/logger';
import { startTracing, stopTracing } from '../observability/tracing';
import { startWorker } from '../worker/start';
import { configOrExit, onShutdownSignal } from './run';

const config = configOrExit();
const logger = createLogger(config.logLevel);
// Before the container: its workers pick up each job's trace context only when tracing is on as they are built.
if (startTracing(config.tracing, 'worker')) logger.info({ endpoint: new URL(config.tracing!.url).origin }, 'tracing on');
const running = startWorker({ config, logger });

// Heroku sends SIGKILL 30 s after SIGTERM: drain for 20 s, leaving time to close connections.
onShutdownSignal(async (signal) => {
  logger.info({ signal }, 'shutting down worker: finishing running jobs');
  const outcome = await running.close(20_000);
  // The spans of the last jobs go out before the process does.
  await stopTracing(3000);
  logger.info({ outcome }, 'worker stopped');
}, 28_000);
