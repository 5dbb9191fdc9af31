/**
 * The only reader of the environment. Every setting is validated once, at start-up, into a typed
 * object. Each setting is validated on its own, so a bad start reports every problem at once, each
 * naming the variable, what is wrong and an example of a good value (the `example` in its metadata).
 *
 * The settings are kept by concern, one file each (its schema slice, the rules among its settings and
 * its part of Config). The schema is the single source of them: `npm run settings` writes .env.example,
 * docs/configuration.md and the env lists of app.json and render.yaml from it.
 */
import { z } from 'zod';
import { cleaned, ConfigError, parseEach, type Concern } from './parse';
import * as events from './events';
import * as inbound from './inbound';
import * as ops from './ops';
import * as outbound from './outbound';
import * as recording from './recording';
import * as redis from './redis';
import * as retell from './retell';
import * as server from './server';
import * as sms from './sms';
import * as tracing from './tracing';
import * as transfers from './transfers';
import * as twilio from './twilio';
import { isPlaceholder } from './values';

export { ConfigError, type ConfigProblem } from './parse';
export { ANSWER_BUDGET_MS } from './inbound';
export { REDIS_SETTINGS, redisOf } from './redis';
export { publicUrlOf, type PublicUrlSource } from './server';
export { twilioOf } from './twilio';
export { type RecordingChannels } from './recording';
export { type TracingConfig } from './tracing';
export { parseSmsTemplate, SMS_TEMPLATE_NAME, SMS_VARIABLE_NAME, type SmsTemplate } from './sms';

/**
 * The concerns, in the order their settings are listed, checked and documented. A new concern is one
 * file exporting `title`, `settings`, `rules` and `toConfig`, imported above and named here.
 */
export const CONCERNS = [server, redis, twilio, retell, inbound, transfers, outbound, recording, sms, events, ops, tracing] as const satisfies readonly Concern[];

type Concerns = typeof CONCERNS;
type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
type Flat<T> = { [K in keyof T]: T[K] };

/** Every concern's settings in one object, refusing a name two concerns declare. */
function allSettings(): Flat<Intersection<Concerns[number]['settings']>> {
  const merged: Record<string, z.ZodType> = {};
  for (const concern of CONCERNS) {
    for (const [key, schema] of Object.entries(concern.settings)) {
      if (key in merged) throw new Error(`${key} is declared by two concerns of src/config/`);
      merged[key] = schema;
    }
  }
  return merged as Flat<Intersection<Concerns[number]['settings']>>;
}

export const envSchema = z.object(allSettings());

type Settings = typeof envSchema.shape;
export type EnvKey = keyof Settings;

export type Env = z.input<typeof envSchema>;

export type EnvValues = z.output<typeof envSchema>;

const RULES = CONCERNS.flatMap((concern) => concern.rules);

/** Each concern builds its part of Config from the values (the type says every one accepts them). */
const PARTS: ReadonlyArray<(values: EnvValues) => object> = CONCERNS.map((concern) => concern.toConfig);

/** The settings, grouped by what uses them. */
export type Config = Flat<Intersection<ReturnType<Concerns[number]['toConfig']>>>;

/** The settings that tie the bridge to real Twilio and Retell accounts. With none of them, `npm run dev` runs the sandbox. */
export const ACCOUNT_SETTINGS = ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'RETELL_API_KEY', 'RETELL_AGENT_ID'] as const satisfies readonly EnvKey[];

/** True when none of the account settings is set in `env`. */
export function noAccountSettings(env: Record<string, string | undefined>): boolean {
  const set = cleaned(env);
  return ACCOUNT_SETTINGS.every((key) => set[key] === undefined);
}

/**
 * The account settings set in `env`, when every one of them is still a placeholder: the value of the
 * same setting in `example` (.env.example's), or one that looks like a placeholder. Empty when none is
 * set, or when any of them holds a real-looking value (the user is filling them in).
 */
export function placeholderAccountSettings(env: Record<string, string | undefined>, example: Readonly<Record<string, string>> = {}): EnvKey[] {
  const set = cleaned(env);
  const given = ACCOUNT_SETTINGS.filter((key) => set[key] !== undefined);
  const placeholders = given.filter((key) => set[key] === example[key] || isPlaceholder(set[key]!));
  return placeholders.length === given.length ? placeholders : [];
}

/**
 * Validates the settings named in `keys` (and the rules among them) and returns their values, or
 * throws one ConfigError listing every problem. Callers that need only part of the configuration
 * (the setup tools) ask only for that part, so they do not demand settings they never use.
 */
export function parseSettings<K extends EnvKey>(env: Record<string, string | undefined>, keys: readonly K[]): Pick<EnvValues, K> {
  const { values, problems } = parseEach(envSchema.shape, RULES, env, keys);
  if (problems.length) throw new ConfigError(problems, { nothingSet: noAccountSettings(env) });
  return values as Pick<EnvValues, K>;
}

const ALL_SETTINGS = Object.keys(envSchema.shape) as EnvKey[];

/**
 * The process's environment, the one place it is read: entry points and tools take their settings from
 * here (with `.env` loaded into it first where they read one) and validate them with the functions above.
 */
export function processEnv(): Record<string, string | undefined> {
  return process.env;
}

/** Validates `env` (the process's environment by default) and returns the typed configuration, or throws ConfigError. */
export function loadConfig(env: Record<string, string | undefined> = processEnv()): Config {
  const values = parseSettings(env, ALL_SETTINGS);
  return Object.assign({}, ...PARTS.map((part) => part(values))) as Config;
}
