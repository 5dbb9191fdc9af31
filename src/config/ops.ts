/** The operator's pages: /metrics and Bull Board. */
import { setting, type Rule, type ValuesOf } from './parse';
import { credential } from './values';

export const title = 'Operations: metrics and admin pages';

export const settings = {
  METRICS_TOKEN: setting(credential(16, 'a bearer token (use 16 or more random characters)').optional(), {
    description: 'When set, /metrics requires Authorization: Bearer <token>',
    example: '<openssl rand -hex 24>',
    secret: true,
    deploy: {
      how: 'generate',
      heroku:
        "Bearer token that /metrics requires (Authorization: Bearer <token>); generated. Read it with 'heroku config:get METRICS_TOKEN' for your Prometheus scrape settings.",
    },
    docs: { meaning: 'when set, `/metrics` (web and worker) requires `Authorization: Bearer <token>`' },
    dotenv: { comment: 'When set (16+ characters), /metrics requires Authorization: Bearer <token>, e.g. from openssl rand -hex 24.' },
  }),
  ADMIN_PASSWORD: setting(credential(12, 'a password for the admin pages (use 12 or more characters)').optional(), {
    description: 'When set, Bull Board is served at /admin/queues behind HTTP basic auth with this password',
    example: '<openssl rand -base64 18>',
    secret: true,
    deploy: {
      how: 'generate',
      // Only the web process serves the admin pages.
      webOnly: true,
      heroku:
        "Password for Bull Board at /admin/queues (HTTP basic auth, any user name); generated. Read it with 'heroku config:get ADMIN_PASSWORD'; unset it to turn the page off.",
    },
    docs: { meaning: 'when set, Bull Board at `/admin/queues` behind HTTP basic auth; not mounted otherwise' },
    dotenv: { comment: 'When set (12+ characters), Bull Board is served at /admin/queues behind HTTP basic auth (any user name).' },
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules: readonly Rule[] = [];

export function toConfig(e: Values) {
  return { ops: { metricsToken: e.METRICS_TOKEN, adminPassword: e.ADMIN_PASSWORD } };
}
