/** Where Redis is and how to reach it: one URL, a Redis Cluster, or Sentinel. */
import { z } from 'zod';
import { rule, setting, setupSetting, withExample, type ConfigProblem, type SettingMeta, type ValuesOf } from './parse';
import { trueFalse } from './values';

export const title = 'Redis';

/** `host:port` (IPv6 in brackets), as Redis Cluster and Sentinel addresses are written. */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** A comma-separated list of `host:port` addresses, parsed into `{host, port}`; `example` is shown in its messages. */
function hostPortList(example: string) {
  const entry = z.string().transform((s, ctx) => {
    const match = HOST_PORT.exec(s);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `entries must be host:port, e.g. ${example}` });
      return z.NEVER;
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
  const list = z
    .string()
    .transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))
    .pipe(z.array(entry).min(1, `must list at least one host:port, e.g. ${example}`))
    .optional();
  return withExample(list, example);
}

/**
 * A Redis topology used instead of REDIS_URL (Cluster nodes or sentinels): a comma-separated `host:port`
 * list (`example` in its messages and as its example), set by hand; `docs` and `dotenv` are its texts in
 * docs/configuration.md and .env.example.
 */
function topology(example: string, texts: { description: string; docs: string; dotenv: string }) {
  return setupSetting(hostPortList(example), {
    description: texts.description,
    docs: { meaning: texts.docs },
    dotenv: { comment: texts.dotenv },
  });
}

/** A setting that shares the docs row and .env.example comment of the one before it. */
const listedWithPrevious = { docs: 'with previous', dotenv: { comment: false } } as const satisfies Partial<SettingMeta>;

export const settings = {
  REDIS_URL: setting(z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).default('redis://127.0.0.1:6379'), {
    description: 'Redis for dedupe, call records and the job queue',
    // Heroku's Redis add-on sets it; on Render it is the Key Value instance's.
    deploy: { how: 'platform', renderKeyValue: true },
    dotenv: { comment: "Redis for dedupe, call records and the job queue. rediss:// works with Heroku's self-signed certificates." },
  }),
  REDIS_TLS_REJECT_UNAUTHORIZED: setting(trueFalse.default(true), {
    description:
      'Verify the Redis server certificate on rediss:// URLs and with REDIS_TLS; false for Heroku Redis (self-signed). Affects only the Redis connection',
    example: 'false',
    deploy: {
      how: 'group',
      herokuValue: 'false',
      herokuRequired: true,
      heroku:
        'Verify the Redis server certificate on rediss:// URLs. Heroku Redis uses self-signed certificates, so this is false here; it affects only the Redis connection.',
      renderNote: "Render Key Value's internal URL is redis://, so this has no effect unless REDIS_URL is changed to a rediss:// URL.",
    },
    dotenv: {
      comment:
        "Verify the Redis server's certificate on rediss:// URLs (and with REDIS_TLS).\nHeroku Redis uses self-signed certificates: set false there. This only affects the Redis connection; every other TLS connection stays verified.",
    },
  }),
  REDIS_PREFIX: setting(z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'must be 1-32 letters, digits, dots, dashes or underscores').default('bridge'), {
    description: 'Prefix of every Redis key the bridge writes, so several deployments can share one Redis',
  }),
  REDIS_CLUSTER_NODES: topology('10.0.0.5:6379,10.0.0.6:6379', {
    description: 'Comma-separated host:port of Redis Cluster nodes (any reachable subset): use Redis Cluster instead of REDIS_URL',
    docs: 'comma-separated `host:port` of Redis Cluster nodes: use the Cluster instead of `REDIS_URL` ([more](deploy.md#redis-cluster-or-sentinel))',
    dotenv:
      'Redis Cluster instead of REDIS_URL (remove REDIS_URL then): comma-separated host:port of any of its nodes, e.g. 10.0.0.5:6379,10.0.0.6:6379. The keys are hash-tagged, so every script stays in one slot.',
  }),
  REDIS_SENTINELS: topology('10.0.0.5:26379,10.0.0.6:26379', {
    description: 'Comma-separated host:port of Redis Sentinels: use the master they name (REDIS_SENTINEL_NAME) instead of REDIS_URL',
    docs: 'comma-separated `host:port` of sentinels, and the master name they monitor: use Sentinel instead of `REDIS_URL`',
    dotenv:
      'Sentinel instead of REDIS_URL (remove REDIS_URL then): comma-separated host:port of the sentinels, and the master name they monitor ("sentinel monitor <name> ..."), e.g. 10.0.0.5:26379,10.0.0.6:26379 and mymaster.',
  }),
  REDIS_SENTINEL_NAME: setupSetting(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be the master group name from the sentinels' configuration, such as mymaster").optional(), {
    description: 'Master group name the sentinels monitor (sentinel monitor <name> ...); required with REDIS_SENTINELS',
    example: 'mymaster',
    ...listedWithPrevious,
  }),
  REDIS_USERNAME: setupSetting(z.string().optional(), {
    description: 'ACL user for the Cluster nodes, or for the Sentinel-managed master and replicas (default: the default user)',
    example: 'bridge',
    docs: { meaning: "with a Cluster or Sentinel: the Redis servers' ACL user and password" },
    dotenv: {
      comment:
        "With REDIS_CLUSTER_NODES or REDIS_SENTINELS only (a REDIS_URL carries its own): the ACL user and password of the Redis servers, the sentinels' own password if they have one, and true for TLS to all of them (REDIS_TLS_REJECT_UNAUTHORIZED applies).",
    },
  }),
  REDIS_PASSWORD: setupSetting(z.string().optional(), {
    description: 'Password for the Cluster nodes, or for the Sentinel-managed master and replicas; with REDIS_URL it goes in the URL',
    example: '<the Redis password>',
    secret: true,
    ...listedWithPrevious,
  }),
  REDIS_SENTINEL_PASSWORD: setupSetting(z.string().optional(), {
    description: 'Password of the sentinels themselves (requirepass in sentinel.conf), if they have one',
    example: "<the sentinels' password>",
    secret: true,
    docs: { meaning: "with Sentinel: the sentinels' own password" },
    dotenv: { comment: false },
  }),
  REDIS_TLS: setupSetting(trueFalse.optional(), {
    description: 'true: TLS to the Cluster nodes, or to the sentinels and the master they name (default false); with REDIS_URL use rediss://',
    example: 'true',
    docs: { default: '`false`', meaning: 'with a Cluster or Sentinel: TLS to every server and sentinel' },
    dotenv: { comment: false },
  }),
};

type Values = ValuesOf<typeof settings>;

/** The settings that say where Redis is and how to reach it; every process and tool that uses Redis reads all of them. */
export const REDIS_SETTINGS = Object.keys(settings) as ReadonlyArray<keyof typeof settings>;

export const rules = [
  // One Redis topology at a time, and the credential settings only where they apply (a URL carries its own).
  rule(
    settings,
    ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'],
    (e, set) => {
      const cluster = e.REDIS_CLUSTER_NODES !== undefined;
      const sentinel = e.REDIS_SENTINELS !== undefined;
      const problem = (variable: string, text: string, example?: string): ConfigProblem[] => [{ variable, problem: text, example }];
      if (cluster && sentinel) return problem('REDIS_CLUSTER_NODES', 'and REDIS_SENTINELS are both set: keep the one your Redis is');
      if ((cluster || sentinel) && set.REDIS_URL !== undefined) {
        return problem('REDIS_URL', `and ${cluster ? 'REDIS_CLUSTER_NODES' : 'REDIS_SENTINELS'} are both set: remove REDIS_URL (the bridge uses one Redis topology)`);
      }
      if (sentinel && !e.REDIS_SENTINEL_NAME) return problem('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS (the name in "sentinel monitor <name> ...")', 'mymaster');
      if (!sentinel && e.REDIS_SENTINEL_NAME) return problem('REDIS_SENTINEL_NAME', 'is set without REDIS_SENTINELS: add the sentinels\' host:port list');
      if (!sentinel && e.REDIS_SENTINEL_PASSWORD !== undefined) return problem('REDIS_SENTINEL_PASSWORD', 'applies only with REDIS_SENTINELS');
      if (!cluster && !sentinel) {
        const stray = (['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'] as const).find((k) => e[k] !== undefined);
        if (stray) return problem(stray, 'applies only with REDIS_CLUSTER_NODES or REDIS_SENTINELS; with REDIS_URL put it in the URL (rediss://user:password@host:port)');
      }
      return [];
    },
  ),
];

export function redisOf(e: Pick<Values, (typeof REDIS_SETTINGS)[number]>) {
  return {
    url: e.REDIS_URL,
    cluster: e.REDIS_CLUSTER_NODES,
    sentinel: e.REDIS_SENTINELS ? { nodes: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME ?? '', password: e.REDIS_SENTINEL_PASSWORD } : undefined,
    username: e.REDIS_USERNAME,
    password: e.REDIS_PASSWORD,
    tls: e.REDIS_TLS ?? false,
    prefix: e.REDIS_PREFIX,
    tlsRejectUnauthorized: e.REDIS_TLS_REJECT_UNAUTHORIZED,
  };
}

export function toConfig(e: Values) {
  return { redis: redisOf(e) };
}
