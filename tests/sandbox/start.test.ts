/**
 * `npm run dev` with no Twilio or Retell settings, as a new user runs it: the dev process in its own
 * directory (no .env), then the simulate and inspect commands the banner prints, as processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { redisAnswers } from '../../src/sandbox/local-redis';
import { SESSION_FILE } from '../../src/sandbox/session';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';
import { REPO, runToolProcess } from '../tools/output';

const SIMULATE = ['--from', '+14155550199', '--to', '+14155550100'];

interface DevProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts `npm run dev`'s program (src/bin/dev.ts through tsx) in `cwd` with exactly `env` and `args`. */
function startDev(cwd: string, env: Record<string, string>, args: string[] = []): DevProcess {
  // Its own process group, so a cleanup after a failure also stops the redis-server it started.
  const child = spawn(process.execPath, ['-r', require.resolve('tsx/cjs'), path.join(REPO, 'src/bin/dev.ts'), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('the sandbox (npm run dev without settings)', () => {
  let dir: string;
  let dev: DevProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-sandbox-'));
  });
  afterEach(async () => {
    if (dev && dev.child.exitCode === null && dev.child.signalCode === null) {
      process.kill(-dev.child.pid!, 'SIGKILL');
      await dev.exited;
    }
    dev = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('when started with no settings and no Redis, then it starts redis-server, plays a transfer and a hang-up end to end with simulate, and stops cleanly', async () => {
    const [port, redisPort] = [await freePort(), await freePort()];
    dev = startDev(dir, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, PORT: String(port), REDIS_URL: `redis://127.0.0.1:${redisPort}` });
    const running = dev;
    await waitFor('the sandbox banner', () => {
      if (running.child.exitCode !== null) throw new Error(`dev exited:\n${running.output()}`);
      return running.output().includes('Try, in another terminal:');
    }, 30_000);
    expect(running.output()).toContain('SANDBOX: no Twilio or Retell settings were found');
    expect(running.output()).toContain(`redis://127.0.0.1:${redisPort} (redis-server started for this session)`);
    expect(running.output()).toContain(`npm run simulate -- ${SIMULATE.join(' ')} --function transfer_call --destination sales`);
    expect(existsSync(path.join(dir, SESSION_FILE))).toBe(true);

    // The tools find the sandbox from the same directory, with nothing set.
    const toolEnv = { HOME: dir };
    const transfer = await runToolProcess('simulate', [...SIMULATE, '--function', 'transfer_call', '--destination', 'sales'], toolEnv, dir);
    expect(transfer.stderr).toBe('');
    expect(transfer.code).toBe(0);
    const text = transfer.stdout;
    const callSid = /^Call: +(CA[0-9a-f]{32})/m.exec(text)![1]!;
    const steps = [
      'Incoming call at the local Twilio',
      `→ POST http://127.0.0.1:${port}/twilio/voice`,
      '<Sip>sip:call_',
      '✓ the bridge registered the call with Retell',
      '→ POST /v2/register-phone-call',
      '✓ registered once',
      `→ POST http://127.0.0.1:${port}/retell/functions/transfer_call`,
      `"job_id":"transfer-${callSid}-1"`,
      // One attempt, unless the loaded machine let the job's lock lapse and BullMQ ran it again.
      /completed after \d of 6 attempts, returned "done"/,
      'REST requests the worker sent to the local Twilio',
      `/Calls/${callSid}.json`,
      '<Dial callerId="+14155550199"><Number>+14155550101</Number></Dial>',
      '← 200',
      '✓ Every step worked.',
    ];
    let at = 0;
    for (const step of steps) {
      const found = typeof step === 'string' ? text.indexOf(step, at) : text.slice(at).search(step) + (text.slice(at).search(step) >= 0 ? at : 0);
      expect({ step: String(step), found: found >= 0, text: found >= 0 ? '' : text }).toEqual({ step: String(step), found: true, text: '' });
      at = found;
    }

    const hangUp = await runToolProcess('simulate', [...SIMULATE, '--function', 'end_call'], toolEnv, dir);
    expect(hangUp.code).toBe(0);
    expect(hangUp.stdout).toMatch(/REST requests the worker sent to the local Twilio\n→ POST \S+\/Calls\/CA[0-9a-f]{32}\.json .*\n {2}Status=completed\n← 200/);

    // A warm transfer: the local Twilio rings the person, who presses 1, and the caller is joined with them.
    expect(running.output()).toContain(`npm run simulate -- ${SIMULATE.join(' ')} --function warm_transfer --destination sales`);
    const warm = await runToolProcess('simulate', [...SIMULATE, '--function', 'warm_transfer', '--destination', 'sales'], toolEnv, dir);
    expect(warm.code).toBe(0);
    expect(warm.stdout).toMatch(/Job warm_transfer-CA[0-9a-f]{32}-1 [^\n]*\n {2}completed after \d of 6 attempts, returned "placed"/);
    expect(warm.stdout).toMatch(/Job join-warm_transfer-CA[0-9a-f]{32}-1 [^\n]*\n {2}completed after \d of 6 attempts, returned "joined"/);
    expect(warm.stdout).toMatch(/ {2}Twiml=<\?xml[^\n]*<Dial><Conference startConferenceOnEnter="true" endConferenceOnExit="true" beep="false">x-warm_transfer-CA[0-9a-f]{32}-1<\/Conference><\/Dial>/);
    expect(warm.stdout).toContain('✓ Every step worked.');
    // The local Twilio issued the call a CallToken, so the person saw the caller's own number.
    const warmSid = /^Call: +(CA[0-9a-f]{32})/m.exec(warm.stdout)?.[1];
    expect(warmSid).toBeDefined();
    const warmInspected = await runToolProcess('inspect', [warmSid!], toolEnv, dir);
    expect(warmInspected.stdout).toMatch(/^ {2}caller ID +\+14155550199$/m);

    const inspected = await runToolProcess('inspect', [callSid], toolEnv, dir);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toMatch(/^ {2}state +transferred$/m);
    expect(inspected.stdout).toContain('Action #1: transfer to +14155550101, done');

    const stoppedAt = Date.now();
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(existsSync(path.join(dir, SESSION_FILE))).toBe(false);
    await waitFor('the session redis-server to stop', async () => !(await redisAnswers('127.0.0.1', redisPort)));
  }, 90_000);

  it('when started with --lookup, then simulate shows the hook\'s answer, the registration follows it, a rejected caller gets <Reject/>, and npm run call places a call that ends', async () => {
    copyFileSync(path.join(REPO, 'examples/lookup-hook.json'), path.join(dir, 'lookup.json'));
    const port = await freePort();
    dev = startDev(dir, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, PORT: String(port) }, ['--lookup', 'lookup.json']);
    const running = dev;
    await waitFor('the sandbox banner', () => {
      if (running.child.exitCode !== null) throw new Error(`dev exited:\n${running.output()}`);
      return running.output().includes('Try, in another terminal:');
    }, 30_000);
    expect(running.output()).toMatch(/lookup hook +http:\/\/127\.0\.0\.1:\d+ +\(answers from .*lookup\.json\)/);

    const toolEnv = { HOME: dir };
    const known = await runToolProcess('simulate', SIMULATE, toolEnv, dir);
    expect(known.code).toBe(0);
    expect(known.stdout).toContain('Lookup hook (INBOUND_WEBHOOK_URL)');
    expect(known.stdout).toContain('the bridge will register the call with agent agent_vip');
    expect(known.stdout).toMatch(/"agent_id": ?"agent_vip"/);
    expect(running.output()).toMatch(/lookup hook: \+14155550199 → 200 .*agent_vip/);

    const rejected = await runToolProcess('simulate', ['--from', '+14155550666', '--to', '+14155550100'], toolEnv, dir);
    expect(rejected.stdout).toContain('<Reject');

    const call = await runToolProcess('call', ['--to', '+14155550123', '--var', 'customer_name=Dana', '--wait'], toolEnv, dir);
    expect(call.stderr).toBe('');
    expect(call.code).toBe(0);
    expect(call.stdout).toMatch(/ended.*outcome completed/);
  }, 90_000);

  it('when Redis does not answer and redis-server is not installed, then it says how to get Redis and exits 1', async () => {
    // A PATH with a shell but no redis-server.
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync('/bin/sh', path.join(bin, 'sh'));
    dev = startDev(dir, { PATH: bin, HOME: dir, PORT: String(await freePort()), REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(await dev.exited).toBe(1);
    expect(dev.output()).toContain('Redis is not answering at redis://127.0.0.1:');
    expect(dev.output()).toContain('redis-server is not installed');
    expect(dev.output()).toContain('apt-get install redis-server');
    expect(dev.output()).toContain('REDIS_URL');
  }, 30_000);

  it('when the port is taken, then it says so and how to pick another', async () => {
    const port = await freePort();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      dev = startDev(dir, { PATH: process.env.PATH ?? '', HOME: dir, PORT: String(port) });
      expect(await dev.exited).toBe(1);
      expect(dev.output()).toContain(`Port ${port} on 127.0.0.1 is in use`);
      expect(dev.output()).toContain('PORT=3001 npm run dev');
    } finally {
      blocker.close();
    }
  }, 30_000);

  it('when .env is .env.example unchanged, then npm run dev is not the sandbox: it lists each placeholder to replace and exits 1', async () => {
    copyFileSync(path.join(REPO, '.env.example'), path.join(dir, '.env'));
    dev = startDev(dir, { PATH: process.env.PATH ?? '', HOME: dir });
    expect(await dev.exited).toBe(1);
    const out = dev.output();
    expect(out).not.toContain('SANDBOX');
    for (const name of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'RETELL_API_KEY', 'RETELL_AGENT_ID']) expect(out).toMatch(new RegExp(`^  - ${name} `, 'm'));
  }, 30_000);

  it('when simulate runs with no settings and no sandbox, then it says to copy .env.example or start the sandbox', async () => {
    const res = await runToolProcess('simulate', SIMULATE, { HOME: dir }, dir);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('copy .env.example to .env');
    expect(res.stderr).toContain('start the sandbox with npm run dev');
  });
});
