/** The processes: runtime mode, the web process's port and public origin, logging, and the worker's. */
import { z } from 'zod';
import { rule, setting, metaOf, type Rule, type Settings, type ValuesOf } from './parse';
import { isReservedExampleHost, origin, port, wholeNumber } from './values';

export const title = 'Web and worker processes';

export const settings = {
  NODE_ENV: setting(z.enum(['development', 'production', 'test']).default('development'), {
    description: 'Runtime mode: development, production or test; production requires an https PUBLIC_URL',
    example: 'production',
    deploy: { how: 'group', value: 'production', herokuRequired: true },
  }),
  PORT: setting(port.default(3000), {
    description: 'HTTP port the web process listens on (Heroku and Render set it)',
    deploy: { how: 'platform' },
  }),
  PUBLIC_URL: setting(origin.optional(), {
    description: 'Public origin Twilio calls; signatures are checked against it (default on Render: RENDER_EXTERNAL_URL)',
    example: 'https://my-bridge.herokuapp.com',
    deploy: {
      how: 'ask',
      heroku:
        "The app's public origin, with no trailing slash, e.g. https://my-bridge-1a2b3c4d5e6f.herokuapp.com. It is shown as 'Web URL' by 'heroku info' and under Settings > Domains; correct it with 'heroku config:set PUBLIC_URL=...' if it differs. Twilio signatures are checked against it.",
      renderNote: "https://<this service's name>.onrender.com, as shown at the top of its page; no trailing slash",
    },
    docs: {
      default: 'required when `NODE_ENV=production`; on Render `RENDER_EXTERNAL_URL`',
      meaning:
        'the public origin Twilio calls, without a path, e.g. `https://my-bridge.herokuapp.com`; signatures are checked against it; https in production; a reserved example domain (`example.com`, `.test`, …) is refused as a placeholder except with `NODE_ENV=test`',
    },
    dotenv: {
      comment:
        'The public origin Twilio calls, without a path. Signatures are checked against it and callback URLs are built from it. On Render it defaults to RENDER_EXTERNAL_URL. The example domain below is refused: put yours.',
      value: 'https://bridge.example.com',
    },
  }),
  RENDER_EXTERNAL_URL: setting(origin.optional(), {
    description: "The web service's URL, set by Render: the default for PUBLIC_URL",
    example: 'https://my-bridge.onrender.com',
    deploy: { how: 'platform' },
    docs: { default: 'set by Render' },
    dotenv: false,
  }),
  LOG_LEVEL: setting(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), {
    description: 'pino log level: fatal, error, warn, info, debug, trace or silent',
  }),
  WORKER_CONCURRENCY: setting(wholeNumber({ min: 1, max: 200, default: 10 }), {
    description: 'Jobs (transfers, hang-ups) one worker process runs at once',
    dotenv: { paragraph: true },
  }),
  WORKER_METRICS_PORT: setting(port.optional(), {
    description: 'If set, the worker process serves /metrics and /healthz on this port',
    example: '9100',
    deploy: {
      how: 'optional',
      heroku: 'If set, the worker process serves /metrics and /healthz on this port. Heroku routes no traffic to worker dynos, so leave it empty there.',
    },
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules = [
  rule(settings, ['NODE_ENV', 'PUBLIC_URL', 'RENDER_EXTERNAL_URL'], (e) => {
    if (e.NODE_ENV !== 'production') return [];
    const url = e.PUBLIC_URL ?? e.RENDER_EXTERNAL_URL;
    if (!url) return [{ variable: 'PUBLIC_URL', problem: 'is required when NODE_ENV=production', example: 'https://my-bridge.herokuapp.com' }];
    if (url.startsWith('http:')) {
      return [{
        variable: e.PUBLIC_URL ? 'PUBLIC_URL' : 'RENDER_EXTERNAL_URL',
        problem: 'must be https when NODE_ENV=production: over http, call details and signatures cross the internet unencrypted (for a local try, use NODE_ENV=development)',
        example: url.replace(/^http:/, 'https:'),
      }];
    }
    return [];
  }),
  // Twilio calls PUBLIC_URL and every signature is checked against it: an example domain (as in
  // .env.example) would fail every webhook. The test suite's bridges (NODE_ENV=test) never meet Twilio.
  rule(settings, ['NODE_ENV', 'PUBLIC_URL', 'RENDER_EXTERNAL_URL'], (e) => {
    if (e.NODE_ENV === 'test') return [];
    const variable = e.PUBLIC_URL ? 'PUBLIC_URL' : 'RENDER_EXTERNAL_URL';
    const url = e.PUBLIC_URL ?? e.RENDER_EXTERNAL_URL;
    if (!url || !isReservedExampleHost(new URL(url).hostname)) return [];
    return [{
      variable,
      problem: `is still a placeholder (as in .env.example): ${new URL(url).hostname} is a reserved example domain, which Twilio cannot reach; put the public address of this bridge here`,
      example: metaOf(settings.PUBLIC_URL).example,
    }];
  }),
];

/**
 * A rule for a URL setting of another concern that receives callers' data: in production only over TLS.
 * `receives` says what it receives, in the message.
 */
export function httpsInProduction<S extends Settings>(concern: S, key: keyof S & string, receives: string): Rule {
  const reads: Settings = { NODE_ENV: settings.NODE_ENV, [key]: concern[key]! };
  return rule(reads, ['NODE_ENV', key as string], (values) => {
    const e = values as Readonly<Record<string, string | undefined>>;
    const url = e[key];
    if (e.NODE_ENV !== 'production' || !url || new URL(url).protocol === 'https:') return [];
    return [{ variable: key, problem: `must be an https URL when NODE_ENV=production (it receives ${receives})`, example: url.replace(/^http:/, 'https:') }];
  });
}

/** Where `publicUrl` came from: set, Render's default, or the local default nobody chose. */
export type PublicUrlSource = 'PUBLIC_URL' | 'RENDER_EXTERNAL_URL' | 'default';

export function publicUrlOf(e: Pick<Values, 'PUBLIC_URL' | 'RENDER_EXTERNAL_URL' | 'PORT'>): { publicUrl: string; publicUrlSource: PublicUrlSource } {
  if (e.PUBLIC_URL) return { publicUrl: e.PUBLIC_URL, publicUrlSource: 'PUBLIC_URL' };
  if (e.RENDER_EXTERNAL_URL) return { publicUrl: e.RENDER_EXTERNAL_URL, publicUrlSource: 'RENDER_EXTERNAL_URL' };
  return { publicUrl: `http://localhost:${e.PORT}`, publicUrlSource: 'default' };
}

export function toConfig(e: Values) {
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    ...publicUrlOf(e),
    logLevel: e.LOG_LEVEL,
    worker: { concurrency: e.WORKER_CONCURRENCY, metricsPort: e.WORKER_METRICS_PORT },
  };
}
