/**
 * The deploy files, checked for what Heroku, Render or Docker would reject or get wrong, without those
 * platforms: each file's schema and required keys, commands that exist (package.json scripts, compiled
 * entry points), references that resolve, settings the bridge accepts, and one Node.js major everywhere.
 * That the start commands really hand SIGTERM to the bridge is in platform-start.test.ts.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { envSchema, loadConfig, type EnvKey } from '../../src/config';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; engines: { node: string }; devDependencies: Record<string, string> };
const buildConfig = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { rootDir: string; outDir: string }; include: string[]; exclude?: string[] };

/** `npm run dev`'s program, which runs from the sources (through tsx), never from dist/. */
const DEV_PROGRAM = /^tsx (src\/\S+\.ts)$/.exec(pkg.scripts.dev ?? '')?.[1] ?? 'npm run dev runs no program of src/ through tsx';
/**
 * The sandbox: the local fakes, their starter and `npm run dev`'s program, which run from the sources
 * only. No deployment builds or ships them (what a real build writes is checked in compiled-start.test.ts).
 */
const SANDBOX = ['src/sandbox', DEV_PROGRAM];
/** Whether `file` (a path in the repository) is the sandbox or in it. */
const inSandbox = (file: string) => SANDBOX.some((s) => file === s || file.startsWith(`${s}/`));

/** Variable names in .env.example, in order. */
function envExampleKeys(): string[] {
  return read('.env.example')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((k): k is string => Boolean(k));
}

/** Stand-ins for what a platform asks the user for, or generates. */
const ASKED = {
  // Not an example domain: NODE_ENV=production refuses those as placeholders.
  PUBLIC_URL: 'https://my-bridge.herokuapp.com',
  TWILIO_ACCOUNT_SID: 'AC' + '0'.repeat(32),
  TWILIO_AUTH_TOKEN: '0123456789abcdef0123456789abcdef',
  RETELL_API_KEY: 'key_0123456789abcdef',
  RETELL_AGENT_ID: 'agent_0123456789',
};
const GENERATED = 'Zm9vYmFyYmF6cXV4MDEyMzQ1Njc4OWFiY2RlZg==';

/** Set by a platform itself, never by the user. */
const PLATFORM_ONLY: readonly EnvKey[] = ['RENDER_EXTERNAL_URL'];

/**
 * Whether a start command can run after `npm run build`: an npm script that exists, or node on a
 * file the build writes (dist/X.js from src/X.ts).
 */
function runnable(command: string): string | true {
  const words = command.trim().split(/\s+/);
  if (words[0] === 'npm') {
    const script = words[1] === 'start' ? 'start' : words[1] === 'run' ? words[2] : undefined;
    if (!script || !pkg.scripts[script]) return `npm script "${script}" is not in package.json`;
    return words[1] === 'start' || words[1] === 'run' ? runnable(pkg.scripts[script]!) : true;
  }
  if (words[0] === 'node') {
    const file = words.find((w, i) => i > 0 && !w.startsWith('-'));
    if (!file) return 'node has no script';
    const out = `${buildConfig.compilerOptions.outDir}/`;
    if (!file.startsWith(out) || !file.endsWith('.js')) return `${file} is not something npm run build writes (${out}*.js)`;
    const source = path.join(buildConfig.compilerOptions.rootDir, file.slice(out.length).replace(/\.js$/, '.ts'));
    if (inSandbox(source)) return `${source} is the sandbox, which npm run build leaves out`;
    return existsSync(path.join(ROOT, source)) || `${source} does not exist`;
  }
  return `${words[0]} is neither npm nor node`;
}

describe('.env.example', () => {
  it('lists every setting the bridge reads, except those the platforms set', () => {
    const expected = Object.keys(envSchema.shape).filter((k) => !PLATFORM_ONLY.includes(k as EnvKey));
    expect(envExampleKeys().sort()).toEqual(expect.arrayContaining(expected.sort()));
  });
});

describe('package.json', () => {
  it('builds src/ but the sandbox into dist/ with the build script, and every tool it names exists in the tool runner', () => {
    expect(pkg.scripts.build).toMatch(/^tsc -p tsconfig\.build\.json$/);
    expect(buildConfig.include).toEqual([buildConfig.compilerOptions.rootDir]);
    expect([...(buildConfig.exclude ?? [])].sort()).toEqual([...SANDBOX].sort());
    for (const excluded of SANDBOX) expect(existsSync(path.join(ROOT, excluded))).toBe(true);
    expect(DEV_PROGRAM).toMatch(/^src\/bin\//);
    const runner = read('scripts/run-tool.mjs');
    for (const [name, script] of Object.entries(pkg.scripts)) {
      const tool = /^node scripts\/run-tool\.mjs (\S+)$/.exec(script)?.[1];
      if (!tool) continue;
      expect({ name, tool, inRunner: runner.includes(`'${tool}'`), source: existsSync(path.join(ROOT, `src/tools/${tool}.ts`)) }).toEqual({ name, tool, inRunner: true, source: true });
    }
    for (const script of ['start', 'worker']) expect(runnable(pkg.scripts[script]!)).toBe(true);
  });

  it('pins one Node.js major, the same in engines, .nvmrc, the Dockerfile, @types/node and what CI installs', () => {
    const major = /^(\d+)\.x$/.exec(pkg.engines.node)?.[1];
    expect(major).toBeDefined();
    expect(read('.nvmrc').trim()).toBe(major);
    for (const from of read('Dockerfile').matchAll(/^FROM\s+node:(\S+)/gm)) expect(from[1]!.split(/[.-]/)[0]).toBe(major);
    expect(pkg.devDependencies['@types/node']).toMatch(new RegExp(`^\\^?${major}\\.`));
    // CI reads .nvmrc and installs that major before anything else.
    const ci = read('.ci/run');
    expect(ci).toContain('.nvmrc');
    expect(ci.indexOf('.nvmrc')).toBeLessThan(ci.indexOf('npm ci'));
  });
});

describe('Procfile (Heroku)', () => {
  const lines = read('Procfile').split('\n').filter((l) => l.trim() && !l.startsWith('#'));

  it('has one "type: command" line per process type, for web and worker, each runnable after the build', () => {
    for (const line of lines) expect(line).toMatch(/^[A-Za-z0-9_-]+:\s*\S/);
    const processes = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
    expect(Object.keys(processes).sort()).toEqual(['web', 'worker']);
    for (const command of Object.values(processes)) expect(runnable(command)).toBe(true);
  });
});

describe('app.json (Heroku)', () => {
  type EnvEntry = { description?: string; value?: unknown; required?: unknown; generator?: unknown };
  const app = JSON.parse(read('app.json')) as {
    env: Record<string, EnvEntry>;
    formation: Record<string, { quantity: number; size?: string }>;
    addons: Array<string | { plan: string; as?: string; options?: object }>;
    buildpacks: Array<{ url: string }>;
    success_url?: string;
    [key: string]: unknown;
  };
  const procfileTypes = read('Procfile').split('\n').filter((l) => /^[A-Za-z0-9_-]+:/.test(l)).map((l) => l.slice(0, l.indexOf(':')));

  it('uses only fields of the app.json schema, with the right shapes', () => {
    const fields = ['name', 'description', 'keywords', 'website', 'repository', 'logo', 'success_url', 'scripts', 'env', 'formation', 'addons', 'buildpacks', 'environments', 'stack', 'image'];
    for (const key of Object.keys(app)) expect(fields).toContain(key);
    for (const [key, entry] of Object.entries(app.env)) {
      expect(key).toMatch(/^[A-Z][A-Z0-9_]*$/);
      for (const field of Object.keys(entry)) expect(['description', 'value', 'required', 'generator']).toContain(field);
      if (entry.value !== undefined) expect(typeof entry.value).toBe('string');
      if (entry.required !== undefined) expect(typeof entry.required).toBe('boolean');
      if (entry.generator !== undefined) expect(entry.generator).toBe('secret');
      expect(entry.description?.length).toBeGreaterThan(10);
    }
    const sizes = ['eco', 'basic', 'standard-1x', 'standard-2x', 'performance-m', 'performance-l', 'private-s', 'private-m', 'private-l', 'shield-s', 'shield-m', 'shield-l'];
    for (const dyno of Object.values(app.formation)) {
      expect(Number.isInteger(dyno.quantity) && dyno.quantity >= 0).toBe(true);
      if (dyno.size) expect(sizes).toContain(dyno.size);
    }
    for (const buildpack of app.buildpacks) expect(Object.keys(buildpack)).toEqual(['url']);
    if (app.success_url) expect(app.success_url).toMatch(/^\//);
  });

  it('forms the Procfile\'s process types on dynos that do not sleep, builds with Node.js and provisions Heroku Redis', () => {
    expect(Object.keys(app.formation).sort()).toEqual([...procfileTypes].sort());
    for (const dyno of Object.values(app.formation)) expect(dyno.size).not.toBe('eco');
    expect(app.buildpacks.map((b) => b.url)).toContain('heroku/nodejs');
    const plans = app.addons.map((a) => (typeof a === 'string' ? a : a.plan));
    expect(plans.some((p) => /^heroku-redis(:|$)/.test(p))).toBe(true);
  });

  it('asks for the secrets without shipping them, and every setting it declares is one the bridge reads', () => {
    for (const key of Object.keys(ASKED)) {
      expect(app.env[key]?.required).toBe(true);
      expect(app.env[key]?.value).toBeUndefined();
    }
    for (const key of Object.keys(app.env)) expect(Object.keys(envSchema.shape)).toContain(key);
  });

  it('gives values the bridge accepts in production, with Heroku Redis\'s rediss:// URL and its self-signed certificate', () => {
    const env: Record<string, string> = { ...ASKED, REDIS_URL: 'rediss://:password@ec2-1-2-3-4.compute-1.amazonaws.com:12345' };
    for (const [key, entry] of Object.entries(app.env)) {
      if (typeof entry.value === 'string') env[key] = entry.value;
      if (entry.generator === 'secret') env[key] = GENERATED;
    }
    const config = loadConfig(env);
    expect(config.nodeEnv).toBe('production');
    expect(config.redis.tlsRejectUnauthorized).toBe(false);
  });
});

describe('render.yaml (Render Blueprint)', () => {
  type EnvVar = {
    key?: string;
    value?: unknown;
    sync?: unknown;
    generateValue?: unknown;
    fromGroup?: string;
    fromService?: { type: string; name: string; property?: string; envVarKey?: string };
    fromDatabase?: unknown;
  };
  type Service = { type: string; name: string; envVars?: EnvVar[]; [key: string]: unknown };
  const blueprint = parseYaml(read('render.yaml')) as { services: Service[]; envVarGroups?: Array<{ name: string; envVars: EnvVar[] }>; [key: string]: unknown };
  const groups = new Map((blueprint.envVarGroups ?? []).map((g) => [g.name, g]));

  it('uses only Blueprint fields, with each service\'s required ones', () => {
    for (const key of Object.keys(blueprint)) expect(['services', 'envVarGroups', 'databases', 'previews', 'projects', 'ungrouped', 'version']).toContain(key);
    const common = ['type', 'name', 'plan', 'region', 'envVars'];
    const allowed: Record<string, string[]> = {
      web: [...common, 'runtime', 'buildCommand', 'startCommand', 'preDeployCommand', 'healthCheckPath', 'maxShutdownDelaySeconds', 'numInstances', 'autoDeploy', 'rootDir'],
      worker: [...common, 'runtime', 'buildCommand', 'startCommand', 'preDeployCommand', 'maxShutdownDelaySeconds', 'numInstances', 'autoDeploy', 'rootDir'],
      keyvalue: ['type', 'name', 'plan', 'region', 'ipAllowList', 'maxmemoryPolicy'],
    };
    const plans = ['free', 'starter', 'standard', 'pro', 'pro plus', 'pro max', 'pro ultra'];
    for (const service of blueprint.services) {
      expect(Object.keys(allowed)).toContain(service.type);
      for (const field of Object.keys(service)) expect({ service: service.name, field, ok: allowed[service.type]!.includes(field) }).toMatchObject({ ok: true });
      expect(service.name).toMatch(/^[a-z0-9-]+$/);
      if (service.plan !== undefined) expect(plans).toContain(service.plan);
      if (service.type !== 'keyvalue') {
        expect(service.runtime).toBe('node');
        expect(typeof service.buildCommand).toBe('string');
        expect(typeof service.startCommand).toBe('string');
      }
    }
    expect(new Set(blueprint.services.map((s) => s.name)).size).toBe(blueprint.services.length);
    const keyvalue = blueprint.services.find((s) => s.type === 'keyvalue')!;
    // Render requires ipAllowList on Key Value; the queue must never lose a job to eviction.
    expect(Array.isArray(keyvalue.ipAllowList)).toBe(true);
    expect(keyvalue.maxmemoryPolicy).toBe('noeviction');
  });

  it('runs a web service and a worker whose commands exist: a build with the dev dependencies and a runnable start', () => {
    expect(blueprint.services.map((s) => s.type).sort()).toEqual(['keyvalue', 'web', 'worker']);
    for (const service of blueprint.services.filter((s) => s.type !== 'keyvalue')) {
      const build = service.buildCommand as string;
      // NODE_ENV=production is set for the build too, where plain npm ci would skip TypeScript.
      expect(build).toMatch(/npm ci --include=dev/);
      for (const [, script] of build.matchAll(/npm run (\S+)/g)) expect(pkg.scripts[script!]).toBeDefined();
      expect(runnable(service.startCommand as string)).toBe(true);
      if (service.plan !== undefined) expect(service.plan).not.toBe('free');
    }
    const web = blueprint.services.find((s) => s.type === 'web')!;
    expect(['/healthz', '/readyz']).toContain(web.healthCheckPath);
    expect(read('src/web/health.ts')).toContain(`router.get('${web.healthCheckPath as string}'`);
  });

  it('gives every variable exactly one source, and every reference resolves', () => {
    for (const service of blueprint.services) {
      for (const v of service.envVars ?? []) {
        const sources = ['value', 'sync', 'generateValue', 'fromGroup', 'fromService', 'fromDatabase'].filter((s) => (v as Record<string, unknown>)[s] !== undefined);
        expect(sources).toHaveLength(1);
        if (!v.fromGroup) expect(v.key).toMatch(/^[A-Z][A-Z0-9_]*$/);
        if (v.sync !== undefined) expect(v.sync).toBe(false);
        if (v.generateValue !== undefined) expect(v.generateValue).toBe(true);
        if (v.fromGroup) expect(groups.has(v.fromGroup)).toBe(true);
        if (v.fromService) {
          const target = blueprint.services.find((s) => s.name === v.fromService!.name);
          expect(target?.type).toBe(v.fromService.type);
          expect(Boolean(v.fromService.property) !== Boolean(v.fromService.envVarKey)).toBe(true);
          if (v.fromService.property) expect(['connectionString', 'host', 'port', 'hostport']).toContain(v.fromService.property);
          if (v.fromService.envVarKey) expect(target!.envVars!.some((t) => t.key === v.fromService!.envVarKey)).toBe(true);
        }
      }
    }
    // Groups take plain values only: Render ignores sync: false there, and groups cannot reference services.
    for (const group of groups.values()) for (const v of group.envVars) expect(Object.keys(v).sort()).toEqual(['key', 'value']);
  });

  /** What a service's process sees: its own variables and its groups', with what the user enters or Render generates. */
  function environment(service: Service): Record<string, string> {
    const env: Record<string, string> = { REDIS_URL: 'redis://red-abcdefghij0123456789:6379' };
    const web = blueprint.services.find((s) => s.type === 'web')!;
    const resolve = (v: EnvVar): string | undefined => {
      if (typeof v.value === 'string') return v.value;
      if (v.sync === false) return ASKED[v.key as keyof typeof ASKED];
      if (v.generateValue === true) return GENERATED;
      if (v.fromService?.envVarKey) return resolve(web.envVars!.find((t) => t.key === v.fromService!.envVarKey)!);
      return undefined;
    };
    for (const v of service.envVars ?? []) {
      if (v.fromGroup) for (const g of groups.get(v.fromGroup)!.envVars) env[g.key!] = g.value as string;
      else if (v.key && v.key !== 'REDIS_URL') env[v.key] = resolve(v) ?? '';
    }
    for (const key of Object.keys(env)) expect(Object.keys(envSchema.shape)).toContain(key);
    return env;
  }

  it.each(['web', 'worker'])('gives the %s service values the bridge accepts in production', (type) => {
    const config = loadConfig(environment(blueprint.services.find((s) => s.type === type)!));
    expect(config.nodeEnv).toBe('production');
    expect(config.publicUrl).toMatch(/^https:\/\//);
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
  const final = all.at(-1)!;
  const runs = (stage: { steps: Instruction[] }) => stage.steps.filter((s) => s.op === 'RUN').map((s) => s.args);
  const ignore = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const glob = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '.*')}(/.*)?$`);
  /** Whether .dockerignore keeps `file` out of the build context. */
  const ignored = (file: string) => ignore.reduce((excluded, rule) => (glob(rule.replace(/^!/, '')).test(file) ? !rule.startsWith('!') : excluded), false);
  /** A COPY's flags and sources (its last word is the destination). */
  const copyArgs = (step: Instruction) => {
    const parts = step.args.split(/\s+/);
    return { from: parts.find((p) => p.startsWith('--from='))?.slice('--from='.length), sources: parts.filter((p) => !p.startsWith('--')).slice(0, -1) };
  };
  const KNOWN = ['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL'];

  it('uses only Dockerfile instructions, builds in a stage that has the dev dependencies, and runs the build script that exists', () => {
    for (const stage of all) for (const step of stage.steps) expect(KNOWN).toContain(step.op);
    const builder = all.find((s) => runs(s).some((r) => r.includes('npm run build')));
    expect(builder).toBeDefined();
    expect(runs(builder!).some((r) => /^npm ci$/.test(r))).toBe(true);
    expect(pkg.scripts.build).toBeDefined();
  });

  it('installs only production dependencies in the final image, with NODE_ENV=production, and runs as the node user after the last RUN', () => {
    expect(runs(final).some((r) => /^npm ci --omit=dev\b/.test(r))).toBe(true);
    expect(runs(final).some((r) => /npm (ci|install)(?!.*--omit=dev)/.test(r))).toBe(false);
    expect(final.steps).toContainEqual({ op: 'ENV', args: 'NODE_ENV=production' });
    const ops = final.steps.map((s) => s.op);
    expect(ops.lastIndexOf('USER')).toBeGreaterThan(ops.lastIndexOf('RUN'));
    expect(final.steps.filter((s) => s.op === 'USER').at(-1)!.args).toBe('node');
  });

  it('starts node itself (exec form, so SIGTERM reaches it) on a compiled entry point, and checks its health with one', () => {
    const cmd = JSON.parse(final.steps.filter((s) => s.op === 'CMD').at(-1)!.args) as string[];
    expect(cmd[0]).toBe('node');
    expect(runnable(cmd.join(' '))).toBe(true);
    const health = final.steps.find((s) => s.op === 'HEALTHCHECK');
    expect(health).toBeDefined();
    const [, options, form] = /^((?:--\S+\s+)*)CMD\s+(\[.*\])$/.exec(health!.args)!;
    for (const option of options!.trim().split(/\s+/).filter(Boolean)) expect(option).toMatch(/^--(interval|timeout|start-period|start-interval|retries)=\S+$/);
    expect(runnable((JSON.parse(form!) as string[]).join(' '))).toBe(true);
    expect(final.steps.some((s) => s.op === 'EXPOSE')).toBe(true);
  });

  it('has in the final image the scripts that npm start, npm run worker and the tools run, so they work in a container too', () => {
    const copied = final.steps
      .filter((s) => s.op === 'COPY' && !s.args.includes('--from='))
      .flatMap((s) => {
        const parts = s.args.split(/\s+/);
        const target = parts.at(-1)!;
        return parts.slice(0, -1).map((source) => (target.endsWith('/') ? path.join(target, path.basename(source)) : target).replace(/^\.\//, ''));
      });
    const deployed = Object.entries(pkg.scripts).filter(([name, script]) => name === 'start' || name === 'worker' || script.includes('run-tool.mjs'));
    const needed = [...new Set(deployed.flatMap(([, script]) => [...script.matchAll(/(?:--require=|^node )\.?\/?(scripts\/\S+)/g)].map((m) => m[1]!)))];
    expect(needed).toEqual(expect.arrayContaining(['scripts/require-build.cjs', 'scripts/run-tool.mjs']));
    for (const file of needed) expect({ file, copied: copied.includes(file) }).toEqual({ file, copied: true });
  });

  it('copies the compiled code from a build stage and everything else from files that exist and are not ignored', () => {
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
    expect(final.steps.some((s) => s.op === 'COPY' && /--from=\S+ \S*dist\S* \S*dist/.test(s.args))).toBe(true);
    for (const secretOrBulk of ['.env', '.env.production', '.sandbox.json', 'node_modules', 'dist', '.git']) expect(ignored(secretOrBulk)).toBe(true);
    expect(ignored('.env.example')).toBe(false);
  });

  it('puts no sandbox code in the final image: only dist/ from the build, which leaves the sandbox out, and files outside src/', () => {
    // The sandbox never reaches the build context, so no stage can compile or copy it.
    for (const file of [...SANDBOX, 'src/sandbox/fake-twilio.ts', 'src/sandbox/start.ts']) expect({ file, ignored: ignored(file) }).toEqual({ file, ignored: true });
    for (const file of ['src', 'src/bin/web.ts', 'src/tools/simulate.ts', 'src/tools/sandbox-session.ts']) expect({ file, ignored: ignored(file) }).toEqual({ file, ignored: false });

    const copies = final.steps.filter((s) => s.op === 'COPY').map(copyArgs);
    const stages = new Map(all.map((s) => [s.name, s]));
    for (const { from, sources } of copies) {
      if (from) {
        // From a stage, the compiled code only, and that stage builds with npm run build (tsconfig.build.json).
        for (const source of sources) expect(source).toMatch(/^(\/app\/)?dist\/?$/);
        expect(runs(stages.get(from)!).some((r) => r === 'npm run build')).toBe(true);
      } else {
        // From the context, nothing that is, or holds, the sandbox's sources.
        for (const source of sources) {
          const file = path.normalize(source).replace(/\/$/, '');
          const holdsSandbox = file === '.' || inSandbox(file) || SANDBOX.some((s) => s.startsWith(`${file}/`));
          expect({ source, holdsSandbox }).toEqual({ source, holdsSandbox: false });
        }
      }
    }
    expect(copies.some((c) => c.from)).toBe(true);
  });
});

describe('docs/configuration.md', () => {
  const docs = read('docs/configuration.md');

  it('documents every setting in its configuration table', () => {
    for (const key of Object.keys(envSchema.shape)) expect(docs).toMatch(new RegExp(`^\\|[^\\n]*\`${key}\``, 'm'));
  });
});

describe('README and docs/', () => {
  const readme = read('README.md');
  const docs = (page: string) => read(`docs/${page}`);

  it('is a short README (what it is, try it, deploy in brief, test it, links) with the rest in docs/ by topic', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
    for (const [, link] of readme.matchAll(/\]\((docs\/[\w.-]+\.md)[#)]/g)) expect({ link, exists: existsSync(path.join(ROOT, link!)) }).toEqual({ link, exists: true });
  });

  it.each([
    ['README.md', 'Try it in a minute'],
    ['README.md', 'Test it'],
    ['docs/deploy.md', 'Deploy on Heroku'],
    ['docs/deploy.md', 'Deploy on Render'],
    ['docs/deploy.md', 'Deploy with Docker'],
    ['docs/setup.md', 'Twilio setup'],
    ['docs/setup.md', 'Retell setup'],
    ['docs/setup.md', 'Setup tools'],
    ['docs/operating.md', 'Operating it'],
  ])('%s has a "%s" section', (file, title) => {
    expect(read(file)).toMatch(new RegExp(`^#{2,3} ${title}$`, 'm'));
  });

  it('has every link between the pages pointing at a heading that exists', () => {
    const slug = (h: string) => h.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
    const pages = ['README.md', 'BENCHMARKS.md', ...readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)];
    const anchors = new Map(pages.map((p) => [p, new Set([...read(p).matchAll(/^#{1,4} (.*)$/gm)].map((m) => slug(m[1]!)))]));
    const broken: string[] = [];
    for (const page of pages) {
      for (const [, target, anchor] of read(page).matchAll(/\]\(([\w./-]*\.md)?#([\w-]+)\)/g)) {
        const file = target ? path.normalize(path.join(path.dirname(page), target)) : page;
        if (!anchors.get(file)?.has(anchor!)) broken.push(`${page} → ${target ?? ''}#${anchor}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('opens with "Try it in a minute", before the deploy sections, with commands that exist', () => {
    expect(readme.indexOf('## Try it in a minute')).toBeLessThan(readme.indexOf('## Deploy'));
    const section = readme.slice(readme.indexOf('## Try it in a minute'), readme.indexOf('\n## ', readme.indexOf('## Try it in a minute') + 5));
    for (const [, script] of section.matchAll(/npm run ([a-z][\w:-]*)/g)) expect({ script, defined: Boolean(pkg.scripts[script!]) }).toEqual({ script, defined: true });
    expect(section).toContain('npm install && npm run dev');
    expect(section).toContain('npm run simulate -- --from +14155550199 --to +14155550100 --function transfer_call --destination sales');
  });

  it('gives the custom functions\' parameters as JSON Schemas that parse, matching what the bridge accepts', () => {
    const blocks = [...docs('setup.md').matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
    const transfer = blocks.find((b) => (b.properties as Record<string, unknown> | undefined)?.destination);
    const end = blocks.find((b) => b !== transfer && b.type === 'object' && Object.keys(b.properties as object).join() === 'message');
    expect(transfer).toMatchObject({
      type: 'object',
      properties: { destination: { type: 'string' }, caller_id: { type: 'string', enum: ['caller', 'business'] }, message: { type: 'string' } },
      required: ['destination'],
    });
    expect(end).toMatchObject({ type: 'object', properties: { message: { type: 'string' } } });
    const warm = blocks.find((b) => (b.properties as Record<string, unknown> | undefined)?.summary);
    expect(warm).toMatchObject({ type: 'object', properties: { destination: { type: 'string' }, summary: { type: 'string' } }, required: ['destination', 'summary'] });
  });
});
