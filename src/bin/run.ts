import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from '../config';

/**
 * Loads configuration for an entry point, or stops the process listing every problem. Entry points
 * call this first, so a bad setting never gets as far as opening a port or a connection.
 *
 * The compiled processes (`npm start`, `npm run worker`) read the environment only, as platforms
 * provide it; `readsDotenv` says the caller loaded `.env` first (`npm run dev`). When a process that
 * does not read `.env` fails and a `.env` is there (or nothing is set at all), the message says so.
 * `hint` follows the problems, for what the caller knows about why they are there.
 */
export function configOrExit(opts: { readsDotenv?: boolean; hint?: string } = {}): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      if (opts.hint) process.stderr.write(`${opts.hint}\n`);
      if (!opts.readsDotenv && (existsSync('.env') || err.nothingSet)) {
        process.stderr.write(
          'Note: this process reads settings from the environment only, not from .env (platforms set the environment). ' +
            'Locally, use npm run dev, which reads .env, or load it yourself: node --env-file=.env dist/bin/web.js (or dist/bin/worker.js)\n',
        );
      }
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
