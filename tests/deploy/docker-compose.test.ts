/**
 * docker-compose.yml, checked without a Docker engine: what it runs must be what the Dockerfile builds and
 * the Procfile starts, with settings the bridge reads, and a Redis that never evicts queued jobs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { envSchema } from '../../src/config';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

interface Service {
  build?: string | { context: string; dockerfile?: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  env_file?: string | string[];
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  volumes?: string[];
  working_dir?: string;
}

const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const { services } = compose;
const procfile = Object.fromEntries(
  read('Procfile')
    .split('\n')
    .filter((l) => /^\w+:/.test(l))
    .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
);
const dockerfile = read('Dockerfile');

describe('docker-compose.yml', () => {
  it('when it runs the bridge, then web and worker are the Dockerfile\'s image with the Procfile\'s commands', () => {
    for (const name of ['web', 'worker']) {
      const service = services[name]!;
      expect({ name, build: service.build }).toEqual({ name, build: '.' });
      expect(service.command!.join(' ')).toBe(procfile[name]);
    }
    // The Dockerfile's own default command is the web process.
    expect(dockerfile).toMatch(new RegExp(`^CMD \\[${services.web!.command!.map((p) => `"${p}"`).join(', ')}\\]$`, 'm'));
  });

  it('when it sets environment variables, then each is a setting the bridge reads, and Redis is the compose service', () => {
    const known = new Set(Object.keys(envSchema.shape));
    for (const [name, service] of Object.entries(services)) {
      for (const key of Object.keys(service.environment ?? {})) expect({ name, key, known: known.has(key) }).toEqual({ name, key, known: true });
      if (service.environment?.REDIS_URL) expect(service.environment.REDIS_URL).toBe('redis://redis:6379');
    }
    expect(services.web!.env_file).toBe('.env');
    expect(services.worker!.environment).toMatchObject({ NODE_ENV: 'production', WORKER_METRICS_PORT: expect.stringMatching(/^\d+$/) });
  });

  it('when a container is stopped, then it has time for the graceful shutdown before SIGKILL', () => {
    for (const name of ['web', 'worker']) expect(services[name]!.stop_grace_period).toBe('30s');
  });

  it('when Redis runs, then it never evicts (the job queue) and the bridge waits for it to be healthy', () => {
    const redis = services.redis!;
    expect(redis.command).toEqual(expect.arrayContaining(['--maxmemory-policy', 'noeviction']));
    for (const name of ['web', 'worker', 'sandbox']) expect(services[name]!.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
  });

  it('when the sandbox profile runs, then it is npm run dev from the mounted sources on the Node.js major CI tests, without any account settings', () => {
    const sandbox = services.sandbox!;
    expect(sandbox.profiles).toEqual(['sandbox']);
    const major = read('.nvmrc').trim().replace(/^v/, '');
    expect(sandbox.image).toBe(`node:${major}-slim`);
    expect(sandbox.command!.join(' ')).toContain('npm run dev');
    expect(sandbox.volumes).toContain('.:/app');
    expect(sandbox.env_file).toBeUndefined();
    expect(Object.keys(sandbox.environment ?? {})).toEqual(['REDIS_URL']);
  });
});
