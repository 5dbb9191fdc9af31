// `npm run dev`: web and worker in one process from the TypeScript sources, reading settings from .env
// if present. Without any Twilio or Retell settings it runs the sandbox instead: the same web and worker
// against local stand-ins for both APIs. Production runs web and worker as separate processes (Procfile).
import 'dotenv/config';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseDotenv } from 'dotenv';
import { ConfigError, noAccountSettings, placeholderAccountSettings, parseSettings, processEnv } from '../config';
import pretty from 'pino-pretty';
import { createLogger, type Logger } from '../observability/logger';
import { generatedAdminPassword, operatorLines, SandboxStartError, startSandbox } from '../sandbox/start';
import { startTracing, stopTracing } from '../observability/tracing';
import { startWeb } from '../web/start';
import { startWorker } from '../worker/start';
import { configOrExit, onShutdownSignal } from './run';

/** A dotenv file's settings, or none when it is missing or unreadable. */
function dotenvFile(file: string): Record<string, string> {
  try {
    return parseDotenv(readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}

/**
 * When every Twilio and Retell setting is still a placeholder, what to do about it: such settings are
 * not a configuration yet, but they are enough to turn the sandbox off, which a user who copied
 * .env.example to look around would not expect.
 */
function placeholderHint(env: Record<string, string | undefined>): string | undefined {
  const example = dotenvFile(path.resolve(__dirname, '../../.env.example'));
  const keys = placeholderAccountSettings(env, example);
  if (!keys.length) return undefined;
  const names = keys.join(', ');
  const dotenv = existsSync('.env') ? dotenvFile('.env') : {};
  if (keys.every((key) => dotenv[key] === env[key])) {
    return [
      `Found .env copied from .env.example: its Twilio and Retell settings (${names}) are still the placeholders, so npm run dev did not start the sandbox.`,
      'To try the sandbox, which needs no accounts: remove .env (or empty those settings in it), then run npm run dev again.',
      'For real calls: put your own values in .env instead.',
    ].join('\n');
  }
  return [
    `The environment sets ${names} to placeholders, so npm run dev did not start the sandbox.`,
    'To try the sandbox, which needs no accounts: unset them, then run npm run dev again. For real calls: set your own values.',
  ].join('\n');
}

/**
 * Logs a person reads at a terminal: one line per record, time, level, process and message first, the
 * identifiers after. Deployed processes write JSON lines (a platform's log search reads those).
 */
function devLogger(level: string): Logger {
  return createLogger(
    level,
    pretty({
      colorize: process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,service,process',
      messageFormat: '{if process}{process}: {end}{msg}',
      singleLine: true,
    }),
  );
}

async function runReal(): Promise<() => Promise<void>> {
  const loaded = configOrExit({ readsDotenv: true, hint: placeholderHint(processEnv()) });
  // On a developer's machine the console is on by default, behind a password made for the session.
  const generated = !loaded.ops.adminPassword;
  const config = generated ? { ...loaded, ops: { ...loaded.ops, adminPassword: generatedAdminPassword() } } : loaded;
  const logger = devLogger(config.logLevel);
  if (startTracing(config.tracing, 'dev')) logger.info({ endpoint: new URL(config.tracing!.url).origin }, 'tracing on');
  const worker = startWorker({ config, logger: logger.child({ process: 'worker' }) });
  const web = await startWeb({ config, logger: logger.child({ process: 'web' }) });
  process.stderr.write(`${['Operator pages:', ...operatorLines(web.url, config, generated)].join('\n')}\n`);
  return async () => {
    await web.close();
    await worker.close(10_000);
    await stopTracing(2000);
  };
}

async function runSandbox(lookupFile: string | undefined): Promise<() => Promise<void>> {
  const env = processEnv();
  const { LOG_LEVEL } = parseSettings(env, ['LOG_LEVEL']);
  const sandbox = await startSandbox({ env, lookupFile, logger: devLogger(LOG_LEVEL) });
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
