import { ConfigError, loadConfig, type Config } from '../config';

/**
 * Loads configuration for an entry point, or stops the process with the one-line reason. Entry points
 * call this first, so a bad setting never gets as far as opening a port or a connection.
 */
export function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/**
 * Runs `shutdown` once on SIGTERM/SIGINT, and exits when it finishes or when `deadlineMs` passes,
 * whichever comes first (Heroku sends SIGKILL 30 s after SIGTERM).
 */
export function onShutdownSignal(shutdown: (signal: string) => Promise<void>, deadlineMs = 25_000): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), deadlineMs).unref();
    shutdown(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
