/**
 * What the setup tools share: where they print, how they fail, and the checks on numbers and URLs.
 *
 * Each tool is a function of (arguments, output, configuration loader) returning an exit code, so tests
 * call it directly; the file's own entry point only wires it to the process.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { config as loadDotenv } from 'dotenv';
import { ConfigError, noAccountSettings, processEnv } from '../config';
import { displayUrl } from '../observability/redact';
import { liveSession } from './sandbox-session';

export { displayUrl };

/** Where a tool prints: `info` for results, `error` for problems. Each call is one line or a block. */
export interface Output {
  info(text: string): void;
  error(text: string): void;
}

/** Exit codes: 0 done, 1 failed (the request or the deployment), 2 bad arguments. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** A problem with the command line; the message says what to write instead. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The standard streams. */
export function processOutput(): Output {
  return {
    info: (text) => void process.stdout.write(`${text}\n`),
    error: (text) => void process.stderr.write(`${text}\n`),
  };
}

/** An output that lets nothing through that contains one of `secrets`, whatever printed it. */
export function redactingOutput(out: Output, secrets: readonly string[]): Output {
  const hidden = secrets.filter((s) => s.length >= 8);
  const clean = (text: string) => hidden.reduce((t, s) => t.split(s).join('[redacted]'), text);
  return { info: (text) => out.info(clean(text)), error: (text) => out.error(clean(text)) };
}

/** The Redis passwords (in REDIS_URL, REDIS_PASSWORD, the Sentinels'), to keep them out of what a tool prints. */
export function redisSecrets(redis: { url: string; password?: string; sentinel?: { password?: string } }): Array<string | undefined> {
  return [urlPassword(redis.url), redis.password, redis.sentinel?.password];
}

/** The password in a URL (e.g. REDIS_URL), decoded, to keep it out of what a tool prints. */
export function urlPassword(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

/**
 * Why Twilio could not (or should not) call `url`, or undefined when it is a public https URL. Twilio
 * calls from the internet, so loopback, private and link-local addresses are unreachable, and plain
 * http would send call details and signatures in clear text.
 */
export function publicUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'it is not a URL';
  }
  const host = parsed.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const local =
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host.endsWith('.local') ||
    host.endsWith('.internal') ||
    host === '::1' ||
    host === '0.0.0.0' ||
    /^127\./.test(host) ||
    /^10\./.test(host) ||
    /^192\.168\./.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(host) ||
    /^169\.254\./.test(host) ||
    /^f[cd][0-9a-f]{2}:/.test(host) ||
    /^fe80:/.test(host);
  if (local) return `${parsed.hostname} is this machine or a private network, which Twilio cannot reach`;
  if (parsed.protocol !== 'https:') return 'it is not https, so call details and signatures would cross the internet unencrypted';
  return undefined;
}

/**
 * Loads a tool's settings, or explains what is wrong with them. Returns undefined after printing.
 */
export function loadToolConfig<C>(load: () => C, out: Output): C | undefined {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      out.error(err.message);
      out.error('The tools read the same settings as the bridge: environment variables, or a .env file in this directory.');
      if (err.nothingSet) out.error('To try the bridge without any accounts, start the sandbox with npm run dev, then run this again.');
      return undefined;
    }
    throw err;
  }
}

/**
 * The settings for a real run: `.env` (if any), then the environment, which wins. With no account
 * settings at all and a sandbox (`npm run dev`) running from this directory, the sandbox's settings.
 */
export function toolEnv(): Record<string, string | undefined> {
  loadDotenv({ quiet: true });
  const env = processEnv();
  if (noAccountSettings(env)) {
    const sandbox = liveSession();
    if (sandbox) return sandbox.env;
  }
  return env;
}

/** npm's own settings that an option of ours abbreviates: npm reads `--to` as its `--token-description`. */
const NPM_EXPANDS: Readonly<Record<string, string>> = { to: 'token_description' };

/**
 * The tool's options that npm kept for itself. Without `--` after the script name, `npm run simulate
 * --from +1…` makes npm read `--from` as one of its settings (it sets npm_config_from for the script)
 * and hand the tool only the values. None unless the tool was started as `npm run <name>`; an option
 * that did reach the tool does not count.
 */
export function optionsTakenByNpm(name: string, options: readonly string[], argv: readonly string[], env: Record<string, string | undefined> = processEnv()): string[] {
  if (env.npm_lifecycle_event !== name) return [];
  return options.filter((option) => {
    const settings = [option, NPM_EXPANDS[option]].filter(Boolean).map((o) => `npm_config_${o!.replace(/-/g, '_')}`);
    const reached = argv.some((a) => a === `--${option}` || a.startsWith(`--${option}=`));
    return !reached && settings.some((setting) => env[setting] !== undefined);
  });
}

const HELP = { help: { type: 'boolean', short: 'h', default: false } } as const;

/**
 * A tool's command line, parsed strictly with node's parseArgs (unknown options are errors) and `-h`/`--help`
 * added; a parse error is a UsageError naming the option.
 */
export function parseToolArgs<O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O, opts: { positionals?: boolean } = {}) {
  try {
    return parseArgs({ args: [...argv], allowPositionals: opts.positionals ?? false, strict: true, options: { ...options, ...HELP } });
  } catch (err) {
    usageFromParseError(err);
  }
}

/** The one argument a tool takes (`what`: a number, a call), or a UsageError saying `missing` when there is none. */
export function singlePositional(positionals: readonly string[], what: string, missing: string): string {
  const [value, ...extra] = positionals;
  if (!value) throw new UsageError(missing);
  if (extra.length) throw new UsageError(`one ${what} at a time (got ${positionals.join(', ')})`);
  return value;
}

/** Turns node's parseArgs errors into UsageErrors with the tool's name. */
export function usageFromParseError(err: unknown): never {
  if (err instanceof UsageError) throw err;
  const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
  throw new UsageError(message);
}

/** Runs a tool as the process: prints through stdout/stderr and exits with its code once output is flushed. */
export function runAsProcess(tool: (argv: readonly string[], out: Output) => Promise<number>): void {
  const out = processOutput();
  tool(process.argv.slice(2), out).then(
    (code) => exitAfterFlush(code),
    (err: Error) => {
      out.error(`unexpected error: ${err.message}`);
      exitAfterFlush(EXIT_FAILED);
    },
  );
}

function exitAfterFlush(code: number): void {
  // Keep-alive sockets (Twilio's client, fetch) would hold the process open; the work is done.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

export interface ToolSpec<Options, C> {
  name: string;
  usage: string;
  /** The long options the tool takes (as parseToolArgs takes them). */
  options: ParseArgsOptionsConfig;
  /** Parses the arguments, or returns 'help'; throws UsageError for bad ones. */
  parse(argv: readonly string[]): Options | 'help';
  /** The part of the configuration the tool uses, from an environment; throws ConfigError. */
  settings(env: Record<string, string | undefined>): C;
  /** Values that must never be printed. */
  secrets(config: C): Array<string | undefined>;
  run(config: C, options: Options, out: Output): Promise<number>;
}

/**
 * A tool from arguments to exit code: options npm kept for itself (2), usage errors (2), help,
 * configuration, then the run with secrets redacted.
 */
export async function runTool<Options, C>(
  spec: ToolSpec<Options, C>,
  argv: readonly string[],
  rawOut: Output,
  load: () => C = () => spec.settings(toolEnv()),
): Promise<number> {
  const taken = optionsTakenByNpm(spec.name, Object.keys(spec.options), argv);
  if (taken.length) {
    const example = spec.usage.split('\n')[0]!.replace(/^Usage: /, '');
    rawOut.error(
      `${spec.name}: npm took ${taken.map((o) => `--${o}`).join(', ')} as its own ${taken.length === 1 ? 'setting' : 'settings'} ` +
        `and passed the tool ${argv.length ? `only ${argv.join(' ')}` : 'no arguments'}. Put -- before the tool's arguments, e.g. ${example}`,
    );
    return EXIT_USAGE;
  }
  let options: Options | 'help';
  try {
    options = spec.parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    rawOut.error(`${spec.name}: ${err.message}`);
    rawOut.error(`Run npm run ${spec.name} -- --help for usage.`);
    return EXIT_USAGE;
  }
  if (options === 'help') {
    rawOut.info(spec.usage);
    return EXIT_OK;
  }
  const config = loadToolConfig(load, rawOut);
  if (config === undefined) return EXIT_FAILED;
  const secrets = spec.secrets(config).filter((s): s is string => Boolean(s));
  return spec.run(config, options, redactingOutput(rawOut, secrets));
}

/** A tool's entry point from its spec: arguments and an output in, the exit code out; `load` stands in for the environment. */
export function toolRunner<Options, C>(spec: ToolSpec<Options, C>): (argv: readonly string[], rawOut: Output, load?: () => C) => Promise<number> {
  return (argv, rawOut, load) => runTool(spec, argv, rawOut, load);
}
