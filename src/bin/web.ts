// The web process (`npm start`): Twilio's and Retell's webhooks.
import { createLogger } from '../observability/logger';
import { startTracing, stopTracing } from '../observability/tracing';
import { startWeb } from '../web/start';
import { configOrExit, onShutdownSignal } from './run';

const config = configOrExit();
const logger = createLogger(config.logLevel);
// Before the container: its queues carry the trace context only when tracing is on as they are built.
if (startTracing(config.tracing, 'web')) logger.info({ endpoint: new URL(config.tracing!.url).origin }, 'tracing on');

startWeb({ config, logger }).then(
  (web) =>
    onShutdownSignal(async (signal) => {
      logger.info({ signal }, 'shutting down web: finishing in-flight requests');
      await web.close();
      // The spans of the last requests go out before the process does.
      await stopTracing(2000);
      logger.info('web stopped');
    }),
  (err: Error) => {
    logger.fatal({ err }, 'web failed to start');
    process.exit(1);
  },
);
