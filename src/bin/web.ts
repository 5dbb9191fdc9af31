// The web process (`npm start`): Twilio's and Retell's webhooks.
import { createLogger } from '../observability/logger';
import { startWeb } from '../web/start';
import { configOrExit, onShutdownSignal } from './run';

const config = configOrExit();
const logger = createLogger(config.logLevel);

startWeb({ config, logger }).then(
  (web) =>
    onShutdownSignal(async (signal) => {
      logger.info({ signal }, 'shutting down web: finishing in-flight requests');
      await web.close();
      logger.info('web stopped');
    }),
  (err: Error) => {
    logger.fatal({ err }, 'web failed to start');
    process.exit(1);
  },
);
