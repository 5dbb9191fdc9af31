/**
 * The processes the platforms start, started the way they start them, stopped the way they stop them:
 * each start command of the Procfile and render.yaml through a shell (bash -c, which runs a lone
 * command in its own place), the Dockerfile's CMD in exec form, on code compiled as `npm run build`
 * compiles it. SIGTERM goes to the process the platform started, and the bridge must drain: the web
 * finishes the webhook in flight, the worker the transfer it is performing, and both exit 0.
 * (`npm start` would fail here: npm does not pass SIGTERM on to node.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { parse as parseYaml } from 'yaml';
import { FakeRetell } from '../../src/sandbox/fake-retell';
import { PRODUCTION_PUBLIC_URL, RETELL_KEY, startBridge, type TestBridge } from '../support/bridge';
import { liveCall } from '../support/calls';
import { freePort } from '../support/ports';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { ACCOUNT_SID, AUTH_TOKEN, postSigned, voiceParams } from '../support/twilio-signing';
import { waitFor } from '../support/wait';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** How each platform starts each process: a command line run by a shell, or an argv run as is. */
type Start = { source: string; shell?: string; argv?: string[] };

function starts(processType: 'web' | 'worker'): Start[] {
  const procfile = read('Procfile').split('\n').find((l) => l.startsWith(`${processType}:`));
  const render = (parseYaml(read('render.yaml')) as { services: Array<{ type: string; startCommand?: string }> }).services.find((s) => s.type === processType);
  const list: Start[] = [
    { source: 'Procfile', shell: procfile!.slice(procfile!.indexOf(':') + 1).trim() },
    { source: 'render.yaml', shell: render!.startCommand! },
  ];
  if (processType === 'web') {
    const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(read('Dockerfile'))![1]!;
    list.push({ source: 'Dockerfile CMD', argv: JSON.parse(cmd) as string[] });
  }
  return list;
}

/** Compiles src/ into `dir`/dist as `npm run build` does (same compiler and options; the type check is npm test's own). */
function build(dir: string): void {
  const { options } = ts.convertCompilerOptionsFromJson(
    { ...(JSON.parse(read('tsconfig.json')) as { compilerOptions: object }).compilerOptions, module: 'commonjs', moduleResolution: 'node10', sourceMap: false },
    ROOT,
  );
  const walk = (from: string): string[] =>
    readdirSync(from).flatMap((name) => {
      const full = path.join(from, name);
      return statSync(full).isDirectory() ? walk(full) : name.endsWith('.ts') ? [full] : [];
    });
  for (const file of walk(path.join(ROOT, 'src'))) {
    const out = path.join(dir, 'dist', path.relative(path.join(ROOT, 'src'), file)).replace(/\.ts$/, '.js');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file }).outputText);
  }
  copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** How the process exited, or 'still running' when SIGTERM did not stop it within the platforms' 30 s less a margin. */
function exitWithin(p: Started, ms = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  return Promise.race([p.exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), ms).unref())]);
}

function launch(start: Start, cwd: string, env: Record<string, string>): Started {
  const [file, args] = start.shell ? ['bash', ['-c', start.shell]] : [start.argv![0]!, start.argv!.slice(1)];
  // Its own process group, so the cleanup can reach a node that a wrapper left behind.
  const child = spawn(file, args, { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}

const PRODUCTION = {
  NODE_ENV: 'production',
  PUBLIC_URL: PRODUCTION_PUBLIC_URL,
  TWILIO_ACCOUNT_SID: ACCOUNT_SID,
  TWILIO_AUTH_TOKEN: AUTH_TOKEN,
  RETELL_API_KEY: RETELL_KEY,
  RETELL_AGENT_ID: 'agent_default',
  REDIS_URL: TEST_REDIS_URL,
  LOG_LEVEL: 'info',
};

describe('the processes the platforms start, on SIGTERM', () => {
  let dir: string;
  const running: Started[] = [];
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-platform-'));
    build(dir);
  }, 60_000);
  afterEach(async () => {
    for (const p of running.splice(0)) {
      try {
        process.kill(-p.child.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
      await p.exited;
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe.each(starts('web'))('web, as $source starts it', (start) => {
    it('finishes the webhook in flight, then exits 0', async () => {
      const retell = await new FakeRetell(RETELL_KEY).start();
      retell.behaviour = { kind: 'ok', delayMs: 1500 };
      const prefix = uniquePrefix('platform-web');
      const port = await freePort();
      try {
        const web = launch(start, dir, { ...PRODUCTION, PORT: String(port), REDIS_PREFIX: prefix, RETELL_BASE_URL: retell.url });
        running.push(web);
        const url = `http://127.0.0.1:${port}`;
        await waitFor('the web to answer', async () => {
          if (web.child.exitCode !== null) throw new Error(`exited:\n${web.output()}`);
          return (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;
        }, 20_000);

        const inFlight = postSigned(url, PRODUCTION_PUBLIC_URL, '/twilio/voice', voiceParams());
        await waitFor('the registration to reach Retell', () => retell.received === 1);
        web.child.kill('SIGTERM');
        const answer = await inFlight;

        expect(answer.status).toBe(200);
        expect(await answer.text()).toContain('<Sip>sip:call_');
        expect(await exitWithin(web)).toEqual({ code: 0, signal: null });
        expect(web.output()).toContain('"msg":"web stopped"');
      } finally {
        await retell.stop();
        await deletePrefix(prefix);
      }
    }, 40_000);
  });

  describe.each(starts('worker'))('worker, as $source starts it', (start) => {
    let bridge: TestBridge;
    beforeEach(async () => {
      bridge = await startBridge({ TRANSFER_DESTINATIONS: '{"sales":"+14155550101"}' });
    });
    afterEach(() => bridge.close());

    it('finishes the transfer it is performing, then exits 0', async () => {
      const worker = launch(start, dir, { ...PRODUCTION, REDIS_PREFIX: bridge.config.redis.prefix, TWILIO_API_BASE_URL: bridge.twilio.url });
      running.push(worker);
      await waitFor('the worker to start', () => {
        if (worker.child.exitCode !== null) throw new Error(`exited:\n${worker.output()}`);
        return worker.output().includes('"role":"blocking","msg":"redis connected"');
      }, 20_000);

      bridge.twilio.injections.push({ kind: 'delay', ms: 1500 });
      const { callSid, callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
      const { job_id: jobId } = (await res.json()) as { job_id: string };
      await waitFor('the worker to reach Twilio', () => bridge.twilio.callUpdates(callSid).length === 1);
      worker.child.kill('SIGTERM');

      expect(await exitWithin(worker)).toEqual({ code: 0, signal: null });
      expect(worker.output()).toContain('"outcome":"drained"');
      expect(await bridge.queue.getJobState(jobId)).toBe('completed');
      expect(bridge.twilio.callUpdates(callSid).map((u) => u.answered)).toEqual([200]);
    }, 40_000);
  });
});
