/** The operator's pages: /metrics, the console and Bull Board. */
import { setting, type Rule, type ValuesOf } from './parse';
import { credential, trueFalse } from './values';

export const title = 'Operations: metrics and admin pages';

export const settings = {
  METRICS_TOKEN: setting(credential(16, 'a bearer token (use 16 or more random characters)').optional(), {
    description: 'When set (16+ characters), /metrics (web and worker) requires Authorization: Bearer <token>, e.g. from openssl rand -hex 24',
    example: '<openssl rand -hex 24>',
    secret: true,
    deploy: {
      how: 'generate',
      heroku:
        "Bearer token that /metrics requires (Authorization: Bearer <token>); generated. Read it with 'heroku config:get METRICS_TOKEN' for your Prometheus scrape settings.",
    },
  }),
  ADMIN_PASSWORD: setting(credential(12, 'a password for the admin pages (use 12 or more characters)').optional(), {
    description:
      'When set (12+ characters), the console (/admin) and Bull Board (/admin/queues) are served behind HTTP basic auth (any user name); not mounted otherwise',
    example: '<openssl rand -base64 18>',
    secret: true,
    deploy: {
      how: 'generate',
      // Only the web process serves the admin pages.
      webOnly: true,
      heroku:
        "Password for the console at /admin and Bull Board at /admin/queues (HTTP basic auth, any user name); generated. Read it with 'heroku config:get ADMIN_PASSWORD'; unset it to turn the pages off.",
    },
  }),
  ADMIN_MASK_NUMBERS: setting(trueFalse.default(false), {
    description: 'true: the console (/admin) shows phone numbers masked, keeping their last 4 digits',
    example: 'true',
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules: readonly Rule[] = [];

export function toConfig(e: Values) {
  return { ops: { metricsToken: e.METRICS_TOKEN, adminPassword: e.ADMIN_PASSWORD, maskNumbers: e.ADMIN_MASK_NUMBERS } };
}
