/**
 * `npm run configure-number -- +14155550100`: points a Twilio number's voice URL, fallback URL and
 * status callback at this bridge (PUBLIC_URL) through the REST API, and prints each setting before and
 * after.
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import type { Twilio } from 'twilio';
import type { IncomingPhoneNumberInstance } from 'twilio/lib/rest/api/v2010/account/incomingPhoneNumber';
import { parseSettings, publicUrlOf, twilioOf, type Config } from '../config';
import { E164 } from '../formats';
import { createTwilioClient } from '../twilio/client';
import { explainTwilioError } from '../twilio/errors';
import {
  displayUrl,
  EXIT_FAILED,
  EXIT_OK,
  type Output,
  publicUrlProblem,
  runAsProcess,
  singlePositional,
  toolRunner,
  UsageError,
  parseToolArgs,
} from './cli';

export const CONFIGURE_NUMBER_USAGE = `Usage: npm run configure-number -- <E.164 number> [--dry-run] [--allow-insecure]

Points a Twilio number at this bridge, using PUBLIC_URL and the Twilio credentials from the same
settings the bridge reads (environment variables, or a .env file in the working directory):

  A call comes in        POST {PUBLIC_URL}/twilio/voice
  Primary handler fails  POST {PUBLIC_URL}/twilio/voice   (repeats are answered with the same TwiML)
  Call status changes    POST {PUBLIC_URL}/twilio/status

Each setting is printed before and after. Settings that already match are left alone.

Options:
  --dry-run          show what would change, change nothing
  --allow-insecure   accept a PUBLIC_URL that is plain http or a local address (for tunnels and tests;
                     Twilio cannot reach a local address)
  -h, --help         this text

Exit codes: 0 done, 1 Twilio refused or the number was not found, 2 bad arguments.`;

export interface ConfigureNumberOptions {
  phoneNumber: string;
  dryRun: boolean;
  allowInsecure: boolean;
}

/** The command line's options, for parseArgs. */
const CONFIGURE_NUMBER_OPTIONS = {
  'dry-run': { type: 'boolean', default: false },
  'allow-insecure': { type: 'boolean', default: false },
} as const satisfies ParseArgsOptionsConfig;

/** Parses the command line; `help` when usage was asked for. Throws UsageError for anything else wrong. */
export function parseConfigureNumberArgs(argv: readonly string[]): ConfigureNumberOptions | 'help' {
  const parsed = parseToolArgs(argv, CONFIGURE_NUMBER_OPTIONS, { positionals: true });
  if (parsed.values.help) return 'help';
  const phoneNumber = singlePositional(parsed.positionals, 'number', 'which number? Give it in E.164 form, e.g. npm run configure-number -- +14155550100');
  if (!E164.test(phoneNumber)) {
    const digits = phoneNumber.replace(/[^\d]/g, '');
    const guess = digits.length === 10 ? `+1${digits}` : digits.length >= 7 && digits.length <= 15 ? `+${digits}` : undefined;
    const hint = guess && guess !== phoneNumber ? ` (did you mean ${guess}?)` : ', e.g. +14155550100';
    throw new UsageError(`"${phoneNumber}" is not an E.164 number: write + and the country code, with no spaces${hint}`);
  }
  return { phoneNumber, dryRun: parsed.values['dry-run'], allowInsecure: parsed.values['allow-insecure'] };
}

/** One webhook setting of a number: a URL and its method. */
interface Hook {
  url: string;
  method: string;
}

interface Row {
  label: string;
  before: string;
  after: string;
  changed: boolean;
}

const describeHook = (hook: Hook) => (hook.url ? `${displayUrl(hook.url)} (${hook.method || 'POST'})` : '(none)');

/** The settings a number needs for this bridge. */
export function bridgeWebhooks(publicUrl: string): { voice: Hook; fallback: Hook; status: Hook } {
  return {
    voice: { url: `${publicUrl}/twilio/voice`, method: 'POST' },
    fallback: { url: `${publicUrl}/twilio/voice`, method: 'POST' },
    status: { url: `${publicUrl}/twilio/status`, method: 'POST' },
  };
}

function currentWebhooks(n: IncomingPhoneNumberInstance): { voice: Hook; fallback: Hook; status: Hook } {
  return {
    voice: { url: n.voiceUrl ?? '', method: (n.voiceMethod ?? 'POST').toUpperCase() },
    fallback: { url: n.voiceFallbackUrl ?? '', method: (n.voiceFallbackMethod ?? 'POST').toUpperCase() },
    status: { url: n.statusCallback ?? '', method: (n.statusCallbackMethod ?? 'POST').toUpperCase() },
  };
}

const sameHook = (a: Hook, b: Hook) => a.url === b.url && (a.method || 'POST') === b.method;

/** What configure-number uses: the public URL and the Twilio account, nothing of Retell's. */
export type ConfigureNumberConfig = Pick<Config, 'publicUrl' | 'publicUrlSource' | 'twilio'>;

export function configureNumberSettings(env: Record<string, string | undefined>): ConfigureNumberConfig {
  const e = parseSettings(env, ['NODE_ENV', 'PORT', 'PUBLIC_URL', 'RENDER_EXTERNAL_URL', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_API_BASE_URL']);
  return { ...publicUrlOf(e), twilio: twilioOf(e) };
}

/**
 * Looks the number up in the account and points its webhooks at `config.publicUrl`. Returns the exit
 * code; everything it has to say goes to `out`.
 */
export async function configureNumber(
  config: ConfigureNumberConfig,
  options: ConfigureNumberOptions,
  out: Output,
  client: Twilio = createTwilioClient(config.twilio),
): Promise<number> {
  if (config.publicUrlSource === 'default') {
    out.error(`PUBLIC_URL is not set, and the number must point at the bridge's public https origin (e.g. https://my-bridge.herokuapp.com).`);
    out.error('Set PUBLIC_URL (in the environment or .env) to the address where the bridge is deployed, then run this again.');
    return EXIT_FAILED;
  }
  const problem = publicUrlProblem(config.publicUrl);
  if (problem) {
    if (!options.allowInsecure) {
      out.error(`PUBLIC_URL is ${displayUrl(config.publicUrl)}, and ${problem}.`);
      out.error('Set PUBLIC_URL to the bridge\'s public https origin (e.g. https://my-bridge.herokuapp.com), or pass --allow-insecure for a tunnel or a test.');
      return EXIT_FAILED;
    }
    out.error(`warning: PUBLIC_URL ${displayUrl(config.publicUrl)}: ${problem}; continuing because of --allow-insecure.`);
  }

  let number: IncomingPhoneNumberInstance | undefined;
  try {
    const found = await client.incomingPhoneNumbers.list({ phoneNumber: options.phoneNumber, limit: 20 });
    number = found.find((n) => n.phoneNumber === options.phoneNumber);
  } catch (err) {
    out.error(`Could not look up ${options.phoneNumber}: ${explainTwilioError(err, config.twilio.apiBaseUrl)}`);
    return EXIT_FAILED;
  }
  if (!number) {
    out.error(`${options.phoneNumber} is not a phone number of the Twilio account in TWILIO_ACCOUNT_SID.`);
    out.error('Check the number (Twilio Console → Phone Numbers → Active numbers) and that the account SID is the one that owns it (a subaccount has its own SID).');
    return EXIT_FAILED;
  }
  if (number.trunkSid) {
    out.error(`${options.phoneNumber} (${number.sid}) belongs to the Elastic SIP Trunk ${number.trunkSid}, so Twilio sends its calls to the trunk and ignores the voice URL.`);
    out.error('Remove the number from the trunk (Twilio Console → Elastic SIP Trunking → your trunk → Numbers), then run this again.');
    return EXIT_FAILED;
  }

  const wanted = bridgeWebhooks(config.publicUrl);
  const before = currentWebhooks(number);
  const rows: Row[] = (['voice', 'fallback', 'status'] as const).map((key) => ({
    label: { voice: 'voice URL', fallback: 'fallback URL', status: 'status callback' }[key],
    before: describeHook(before[key]),
    after: describeHook(wanted[key]),
    changed: !sameHook(before[key], wanted[key]),
  }));
  // A TwiML App on the number takes precedence over its voice URLs; it is detached so they apply.
  if (number.voiceApplicationSid) {
    rows.push({ label: 'TwiML app', before: number.voiceApplicationSid, after: '(none)', changed: true });
  }

  out.info(`Twilio number ${number.phoneNumber} (${number.sid})${number.friendlyName && number.friendlyName !== number.phoneNumber ? ` "${number.friendlyName}"` : ''}`);
  if (number.voiceReceiveMode === 'fax') {
    out.error('warning: this number receives faxes, not voice calls; switch "Accept incoming" to Voice Calls in the Twilio Console.');
  }
  const changes = rows.filter((r) => r.changed);
  if (changes.length === 0) {
    for (const row of rows) out.info(`  ${row.label.padEnd(16)} ${row.before}  (unchanged)`);
    out.info('Already pointing at this bridge; nothing changed.');
    return EXIT_OK;
  }
  if (options.dryRun) {
    printRows(out, rows);
    out.info(`Dry run: would change ${changes.map((r) => r.label).join(', ')}; nothing was changed.`);
    return EXIT_OK;
  }

  let updated: IncomingPhoneNumberInstance;
  try {
    updated = await client.incomingPhoneNumbers(number.sid).update({
      voiceUrl: wanted.voice.url,
      voiceMethod: wanted.voice.method,
      voiceFallbackUrl: wanted.fallback.url,
      voiceFallbackMethod: wanted.fallback.method,
      statusCallback: wanted.status.url,
      statusCallbackMethod: wanted.status.method,
      ...(number.voiceApplicationSid ? { voiceApplicationSid: '' } : {}),
    });
  } catch (err) {
    printRows(out, rows);
    out.error(`Nothing was changed: ${explainTwilioError(err, config.twilio.apiBaseUrl)}`);
    return EXIT_FAILED;
  }

  // "After" is what Twilio now reports, so a setting Twilio did not take shows up here.
  const after = currentWebhooks(updated);
  const confirmed: Row[] = rows.map((row, i) => {
    const key = (['voice', 'fallback', 'status'] as const)[i];
    return key ? { ...row, after: describeHook(after[key]) } : { ...row, after: updated.voiceApplicationSid || '(none)' };
  });
  printRows(out, confirmed);
  const mismatched = (['voice', 'fallback', 'status'] as const).filter((key) => !sameHook(after[key], wanted[key]));
  if (mismatched.length || updated.voiceApplicationSid) {
    out.error(`Twilio did not keep every setting (${[...mismatched, ...(updated.voiceApplicationSid ? ['TwiML app'] : [])].join(', ')}); check the number in the Twilio Console.`);
    return EXIT_FAILED;
  }
  out.info(`Updated ${changes.map((r) => r.label).join(', ')}. Calls to ${number.phoneNumber} now reach ${displayUrl(config.publicUrl)}.`);
  return EXIT_OK;
}

function printRows(out: Output, rows: readonly Row[]): void {
  for (const row of rows) {
    if (!row.changed) {
      out.info(`  ${row.label.padEnd(16)} ${row.before}  (unchanged)`);
      continue;
    }
    out.info(`  ${row.label.padEnd(16)} ${row.before}`);
    out.info(`  ${''.padEnd(16)} → ${row.after}`);
  }
}

/** The whole tool: arguments, configuration, then the change. Returns the exit code. */
export const runConfigureNumber = toolRunner({
  name: 'configure-number',
  usage: CONFIGURE_NUMBER_USAGE,
  options: CONFIGURE_NUMBER_OPTIONS,
  parse: parseConfigureNumberArgs,
  settings: configureNumberSettings,
  secrets: (config) => [config.twilio.authToken],
  run: configureNumber,
});

if (require.main === module) runAsProcess((argv, out) => runConfigureNumber(argv, out));
