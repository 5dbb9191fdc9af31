/**
 * The deploy files, checked as far as is possible without Heroku, Render or a Docker engine: each parses,
 * has the fields its platform requires, declares every setting the bridge reads, and its values pass the
 * bridge's own configuration check.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { envSchema, loadConfig } from '../../src/config';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** Variable names in .env.example, in order. */
function envExampleKeys(): string[] {
  return read('.env.example')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((k): k is string => Boolean(k));
}

/** Placeholders for the secrets a platform asks the user for. */
const SECRETS = {
  PUBLIC_URL: 'https://my-bridge.example.com',
  TWILIO_ACCOUNT_SID: 'AC' + '0'.repeat(32),
  TWILIO_AUTH_TOKEN: '0123456789abcdef0123456789abcdef',
  RETELL_API_KEY: 'key_0123456789abcdef',
  RETELL_AGENT_ID: 'agent_0123456789',
};

/** Set by the platform itself, never declared. */
const PLATFORM_SET = ['PORT'];

/** A Redis Cluster or Sentinel in place of the platform's Redis add-on, whose URL is REDIS_URL. */
const REDIS_TOPOLOGY = ['REDIS_CLUSTER_NODES', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD', 'REDIS_TLS'];

describe('.env.example', () => {
  it('lists every variable the configuration reads', () => {
    expect(envExampleKeys().sort()).toEqual(expect.arrayContaining(Object.keys(envSchema.shape).sort()));
  });
});

describe('Procfile', () => {
  const lines = read('Procfile').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  const processes = Object.fromEntries(lines.map((l) => l.split(/:\s*/, 2) as [string, string]));
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;

  it('declares exactly a web and a worker process', () => {
    expect(Object.keys(processes).sort()).toEqual(['web', 'worker']);
  });

  it.each([
    ['web', 'bin/web'],
    ['worker', 'bin/worker'],
  ])('runs the compiled %s entry point, whose source exists', (proc, entry) => {
    const command = processes[proc]!;
    const viaNpm = /^npm (?:start|run (\S+))$/.exec(command);
    const resolved = viaNpm ? scripts[viaNpm[1] ?? 'start'] : command;
    expect(resolved).toBe(`node dist/${entry}.js`);
    expect(existsSync(path.join(ROOT, `src/${entry}.ts`))).toBe(true);
  });
});

describe('package.json', () => {
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; engines: { node: string } };

  it.each(['configure-number', 'simulate', 'call'])('runs the %s tool through scripts/run-tool.mjs, and the tool exists', (tool) => {
    expect(pkg.scripts[tool]).toBe(`node scripts/run-tool.mjs ${tool}`);
    expect(existsSync(path.join(ROOT, `src/tools/${tool}.ts`))).toBe(true);
    expect(read('scripts/run-tool.mjs')).toContain(`'${tool}'`);
  });

  it('builds src/ (tools included) into dist/, where the start scripts and run-tool.mjs look', () => {
    const build = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { rootDir: string; outDir: string }; include: string[] };
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(build.include).toEqual(['src']);
    expect(read('scripts/run-tool.mjs')).toContain("path.join(root, 'dist', 'tools', `${name}.js`)");
  });

  it('names the Node versions the platforms install', () => {
    expect(pkg.engines.node).toMatch(/^>=20/);
  });
});

describe('app.json (Heroku)', () => {
  type EnvEntry = { description?: string; value?: unknown; required?: unknown; generator?: unknown };
  const app = JSON.parse(read('app.json')) as {
    env: Record<string, EnvEntry>;
    formation: Record<string, { quantity: number; size?: string }>;
    addons: Array<string | { plan: string; as?: string; options?: object }>;
    buildpacks: Array<{ url: string }>;
    [key: string]: unknown;
  };

  it('uses only fields of the app.json schema, with the right shapes', () => {
    const fields = ['name', 'description', 'keywords', 'website', 'repository', 'logo', 'success_url', 'scripts', 'env', 'formation', 'addons', 'buildpacks', 'environments', 'stack', 'image'];
    for (const key of Object.keys(app)) expect(fields).toContain(key);
    for (const [key, entry] of Object.entries(app.env)) {
      expect(key).toMatch(/^[A-Z][A-Z0-9_]*$/);
      for (const field of Object.keys(entry)) expect(['description', 'value', 'required', 'generator']).toContain(field);
      if (entry.value !== undefined) expect(typeof entry.value).toBe('string');
      if (entry.required !== undefined) expect(typeof entry.required).toBe('boolean');
    }
    const sizes = ['eco', 'basic', 'standard-1x', 'standard-2x', 'performance-m', 'performance-l', 'private-s', 'private-m', 'private-l', 'shield-s', 'shield-m', 'shield-l'];
    for (const [name, dyno] of Object.entries(app.formation)) {
      expect(name).toMatch(/^[a-zA-Z0-9_-]+$/);
      expect(Number.isInteger(dyno.quantity) && dyno.quantity >= 0).toBe(true);
      if (dyno.size) expect(sizes).toContain(dyno.size);
    }
    for (const buildpack of app.buildpacks) expect(Object.keys(buildpack)).toEqual(['url']);
  });

  it('runs one web and one worker dyno, matching the Procfile, on dynos that do not sleep', () => {
    expect(Object.keys(app.formation).sort()).toEqual(['web', 'worker']);
    for (const dyno of Object.values(app.formation)) {
      expect(dyno.quantity).toBe(1);
      expect(dyno.size).not.toBe('eco');
    }
  });

  it('builds with the Node.js buildpack and provisions Heroku Redis, which sets REDIS_URL', () => {
    expect(app.buildpacks).toEqual([{ url: 'heroku/nodejs' }]);
    const plans = app.addons.map((a) => (typeof a === 'string' ? a : a.plan));
    expect(plans.some((p) => /^heroku-redis(:|$)/.test(p))).toBe(true);
  });

  it('declares every variable in .env.example with a description, except PORT, the add-on\'s REDIS_URL, and Cluster and Sentinel settings (Heroku Redis is neither)', () => {
    const expected = envExampleKeys().filter((k) => !PLATFORM_SET.includes(k) && k !== 'REDIS_URL' && !REDIS_TOPOLOGY.includes(k));
    expect(Object.keys(app.env).sort()).toEqual(expected.sort());
    for (const entry of Object.values(app.env)) expect(entry.description?.length).toBeGreaterThan(10);
  });

  it('asks for the secrets and PUBLIC_URL without shipping a value, and turns off certificate checks for Heroku Redis only', () => {
    for (const key of Object.keys(SECRETS)) {
      expect(app.env[key]).toMatchObject({ required: true });
      expect(app.env[key]!.value).toBeUndefined();
    }
    expect(app.env.NODE_ENV!.value).toBe('production');
    expect(app.env.REDIS_TLS_REJECT_UNAUTHORIZED!.value).toBe('false');
  });

  it('gives values the bridge accepts, with a rediss:// URL whose certificate is not verified', () => {
    const env: Record<string, string> = { ...SECRETS, REDIS_URL: 'rediss://:password@ec2-1-2-3-4.compute-1.amazonaws.com:12345' };
    for (const [key, entry] of Object.entries(app.env)) if (typeof entry.value === 'string') env[key] = entry.value;
    const config = loadConfig(env);
    expect(config.nodeEnv).toBe('production');
    expect(config.redis).toMatchObject({ url: env.REDIS_URL, tlsRejectUnauthorized: false });
  });
});

describe('render.yaml (Render Blueprint)', () => {
  type EnvVar = {
    key?: string;
    value?: unknown;
    sync?: boolean;
    generateValue?: boolean;
    fromGroup?: string;
    fromService?: { type: string; name: string; property?: string; envVarKey?: string };
  };
  type Service = { type: string; name: string; envVars?: EnvVar[]; [key: string]: unknown };
  const raw = read('render.yaml');
  const blueprint = parseYaml(raw) as { services: Service[]; envVarGroups: Array<{ name: string; envVars: EnvVar[] }> };
  const byType = (type: string) => blueprint.services.filter((s) => s.type === type);
  const web = byType('web')[0]!;
  const worker = byType('worker')[0]!;
  const keyvalue = byType('keyvalue')[0]!;

  it('has one web service, one background worker and one Key Value instance, and nothing else', () => {
    expect(Object.keys(blueprint).sort()).toEqual(['envVarGroups', 'services']);
    expect(blueprint.services.map((s) => s.type).sort()).toEqual(['keyvalue', 'web', 'worker']);
    expect(new Set(blueprint.services.map((s) => s.name)).size).toBe(3);
  });

  it('uses only documented service fields', () => {
    const common = ['type', 'name', 'plan', 'region', 'envVars'];
    const allowed: Record<string, string[]> = {
      web: [...common, 'runtime', 'buildCommand', 'startCommand', 'healthCheckPath', 'maxShutdownDelaySeconds'],
      worker: [...common, 'runtime', 'buildCommand', 'startCommand', 'maxShutdownDelaySeconds'],
      keyvalue: ['type', 'name', 'plan', 'region', 'ipAllowList', 'maxmemoryPolicy'],
    };
    for (const service of blueprint.services) for (const field of Object.keys(service)) expect(allowed[service.type]).toContain(field);
  });

  it('builds with the dev dependencies (NODE_ENV=production would skip them) and starts the Procfile\'s commands', () => {
    for (const service of [web, worker]) {
      expect(service.runtime).toBe('node');
      expect(service.buildCommand).toBe('npm ci --include=dev && npm run build');
      expect(service.plan).not.toBe('free');
    }
    expect(web.startCommand).toBe('npm start');
    expect(worker.startCommand).toBe('npm run worker');
    expect(web.healthCheckPath).toBe('/healthz');
  });

  it('keeps Key Value internal and never evicts queued jobs', () => {
    expect(keyvalue.ipAllowList).toEqual([]);
    expect(keyvalue.maxmemoryPolicy).toBe('noeviction');
  });

  it('gives every variable exactly one source, and every reference resolves', () => {
    const groups = new Map(blueprint.envVarGroups.map((g) => [g.name, g]));
    for (const service of [web, worker]) {
      for (const v of service.envVars ?? []) {
        const sources = ['value', 'sync', 'generateValue', 'fromGroup', 'fromService'].filter((s) => (v as Record<string, unknown>)[s] !== undefined);
        expect(sources).toHaveLength(1);
        if (v.sync !== undefined) expect(v.sync).toBe(false);
        if (v.fromGroup) expect(groups.has(v.fromGroup)).toBe(true);
        if (v.fromService) {
          const target = blueprint.services.find((s) => s.name === v.fromService!.name);
          expect(target?.type).toBe(v.fromService.type);
          expect(Boolean(v.fromService.property) !== Boolean(v.fromService.envVarKey)).toBe(true);
          if (v.fromService.property) expect(v.fromService).toMatchObject({ type: 'keyvalue', property: 'connectionString' });
          if (v.fromService.envVarKey) expect(target!.envVars!.some((t) => t.key === v.fromService!.envVarKey)).toBe(true);
        }
      }
    }
    // Render ignores sync: false in an environment group, and groups cannot reference services.
    for (const group of blueprint.envVarGroups) {
      for (const v of group.envVars) {
        expect(Object.keys(v).sort()).toEqual(['key', 'value']);
        expect(typeof v.value).toBe('string');
      }
    }
  });

  /** The variables a service gets: its own and its groups'. */
  function declared(service: Service): Map<string, EnvVar> {
    const vars = new Map<string, EnvVar>();
    for (const v of service.envVars ?? []) {
      if (v.fromGroup) for (const g of blueprint.envVarGroups.find((x) => x.name === v.fromGroup)!.envVars) vars.set(g.key!, g);
      else vars.set(v.key!, v);
    }
    return vars;
  }

  const OPTIONAL_UNDECLARED = [
    'FALLBACK_NUMBER',
    'TRANSFER_ALLOWLIST',
    'WORKER_METRICS_PORT',
    'INBOUND_WEBHOOK_URL',
    'API_TOKEN',
    'OUTBOUND_FROM_NUMBER',
    'OUTBOUND_ALLOWLIST',
    'OUTBOUND_WEBHOOK_URL',
    ...REDIS_TOPOLOGY,
  ];

  it.each(['web', 'worker'])('declares every variable in .env.example for the %s service (optional ones without a default are named in a comment)', (type) => {
    const vars = declared(byType(type)[0]!);
    const expected = envExampleKeys().filter((k) => !PLATFORM_SET.includes(k) && !OPTIONAL_UNDECLARED.includes(k));
    expect([...vars.keys()].sort()).toEqual(expected.sort());
    for (const key of OPTIONAL_UNDECLARED) expect(raw).toMatch(new RegExp(`^#.*${key}`, 'm'));
  });

  it('asks for secrets once, on the web service, and shares them with the worker', () => {
    const webVars = declared(web);
    const workerVars = declared(worker);
    for (const key of Object.keys(SECRETS)) {
      expect(webVars.get(key)).toEqual({ key, sync: false });
      expect(workerVars.get(key)!.fromService).toEqual({ type: 'web', name: web.name, envVarKey: key });
    }
    expect(raw).not.toMatch(/AUTH_TOKEN\s*\n\s*value:/);
  });

  it('gives values the bridge accepts, with Key Value\'s internal redis:// URL', () => {
    const env: Record<string, string> = { ...SECRETS, REDIS_URL: 'redis://red-abcdefghij0123456789:6379' };
    for (const [key, v] of declared(web)) if (typeof v.value === 'string') env[key] = v.value;
    const config = loadConfig(env);
    expect(config.nodeEnv).toBe('production');
    expect(config.redis.url).toBe(env.REDIS_URL);
  });
});

describe('Dockerfile', () => {
  type Instruction = { op: string; args: string };
  /** Instructions by stage, with continuation lines joined and comments dropped. */
  function stages(): Array<{ from: string; name?: string; steps: Instruction[] }> {
    const joined = read('Dockerfile').replace(/\\\n/g, ' ');
    const result: Array<{ from: string; name?: string; steps: Instruction[] }> = [];
    for (const line of joined.split('\n')) {
      const trimmed = line.trim();
      if (!trimmed || trimmed.startsWith('#')) continue;
      const [, op, args] = /^(\S+)\s+(.*)$/.exec(trimmed)!;
      const instruction = { op: op!.toUpperCase(), args: args!.trim() };
      if (instruction.op === 'FROM') {
        const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args)!;
        result.push({ from: from!, name, steps: [] });
      } else {
        result.at(-1)!.steps.push(instruction);
      }
    }
    return result;
  }
  const all = stages();
  const build = all[0]!;
  const final = all.at(-1)!;
  const runs = (stage: { steps: Instruction[] }) => stage.steps.filter((s) => s.op === 'RUN').map((s) => s.args);

  it('is multi-stage: a build stage compiles, the final stage starts from node:20-slim', () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(runs(build)).toEqual(expect.arrayContaining(['npm ci', 'npm run build']));
    expect(final.from).toBe('node:20-slim');
  });

  it('installs only production dependencies in the final image, with NODE_ENV=production', () => {
    expect(runs(final).some((r) => /^npm ci --omit=dev\b/.test(r))).toBe(true);
    expect(runs(final).some((r) => /npm (ci|install)(?!.*--omit=dev)/.test(r))).toBe(false);
    expect(final.steps).toContainEqual({ op: 'ENV', args: 'NODE_ENV=production' });
  });

  it('runs as the unprivileged node user, set after the last RUN', () => {
    const users = final.steps.map((s, i) => [s, i] as const).filter(([s]) => s.op === 'USER');
    expect(users.at(-1)?.[0].args).toBe('node');
    const lastRun = final.steps.map((s) => s.op).lastIndexOf('RUN');
    expect(users.at(-1)![1]).toBeGreaterThan(lastRun);
  });

  it('exposes 3000 and starts the web process with node itself (exec form), the worker being the same image', () => {
    expect(final.steps).toContainEqual({ op: 'EXPOSE', args: '3000' });
    const cmd = final.steps.filter((s) => s.op === 'CMD').at(-1)!;
    expect(JSON.parse(cmd.args)).toEqual(['node', 'dist/bin/web.js']);
    expect(read('Dockerfile')).toContain('node dist/bin/worker.js');
  });

  it('copies the compiled code from the build stage and everything else from files that exist and are not ignored', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const glob = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '.*')}(/.*)?$`);
    const ignored = (file: string) =>
      ignore.reduce((excluded, rule) => (glob(rule.replace(/^!/, '')).test(file) ? !rule.startsWith('!') : excluded), false);

    const stageNames = all.map((s) => s.name).filter(Boolean);
    for (const stage of all) {
      for (const step of stage.steps.filter((s) => s.op === 'COPY')) {
        const parts = step.args.split(/\s+/);
        const fromStage = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
        const sources = parts.filter((p) => !p.startsWith('--')).slice(0, -1);
        if (fromStage) {
          expect(stageNames).toContain(fromStage);
          continue;
        }
        for (const source of sources) {
          expect(existsSync(path.join(ROOT, source))).toBe(true);
          expect(ignored(source)).toBe(false);
        }
      }
    }
    expect(final.steps.some((s) => s.op === 'COPY' && /--from=\S+ \/app\/dist \.\/dist/.test(s.args))).toBe(true);
    for (const secretOrBulk of ['.env', '.env.production', 'node_modules', 'dist', '.git']) expect(ignored(secretOrBulk)).toBe(true);
    expect(ignored('.env.example')).toBe(false);
  });
});

describe('README', () => {
  const readme = read('README.md');

  it.each(['Deploy on Heroku', 'Deploy on Render', 'Deploy with Docker', 'Twilio setup', 'Retell setup', 'Setup tools'])('has a "%s" section', (title) => {
    expect(readme).toMatch(new RegExp(`^#{2,3} ${title}$`, 'm'));
  });

  it('gives the custom functions\' parameters as JSON Schemas that parse, matching what the bridge accepts', () => {
    const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
    const transfer = blocks.find((b) => (b.properties as Record<string, unknown> | undefined)?.destination);
    const end = blocks.find((b) => b !== transfer && b.type === 'object' && Object.keys(b.properties as object).join() === 'message');
    expect(transfer).toMatchObject({
      type: 'object',
      properties: { destination: { type: 'string' }, caller_id: { type: 'string', enum: ['caller', 'business'] }, message: { type: 'string' } },
      required: ['destination'],
    });
    expect(end).toMatchObject({ type: 'object', properties: { message: { type: 'string' } } });
  });
});
