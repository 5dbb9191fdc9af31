/**
 * `npm run dev` with no Twilio or Retell settings, as a new user runs it: the dev process in its own
 * directory (no .env), then the simulate, inspect and call commands the banner prints, as processes,
 * each with the exit code it documents. Every sandbox here runs under a Redis prefix of its own
 * (tests/support/dev.ts), so a user's own `npm run dev` on the same Redis is never touched.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { redisAnswers } from '../../src/sandbox/local-redis';
import { SESSION_FILE } from '../../src/tools/sandbox-session';
import { startDev, stopDev, type DevProcess } from '../support/dev';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';
import { REPO, runToolProcess } from '../tools/output';

const SIMULATE = ['--from', '+14155550199', '--to', '+14155550100'];

/** Waits for the banner, failing at once with the output if the process exits first. */
function bannerOf(dev: DevProcess): Promise<unknown> {
  return waitFor('the sandbox banner', () => {
    if (dev.child.exitCode !== null) throw new Error(`dev exited:\n${dev.output()}`);
    return dev.output().includes('Try, in another terminal:');
  }, 30_000);
}

describe('the sandbox (npm run dev without settings)', () => {
  let dir: string;
  const devs: DevProcess[] = [];
  /** Starts the program and stops it (deleting its keys) after the test. */
  const launch = (...args: Parameters<typeof startDev>) => {
    const dev = startDev(...args);
    devs.push(dev);
    return dev;
  };
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-sandbox-'));
  });
  afterEach(async () => {
    for (const dev of devs.splice(0)) await stopDev(dev);
    rmSync(dir, { recursive: true, force: true });
  });

  it('when started with no settings and no Redis, then it starts redis-server, plays a transfer and a hang-up end to end with simulate, and stops cleanly', async () => {
    const [port, redisPort] = [await freePort(), await freePort()];
    const running = launch(dir, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, PORT: String(port), REDIS_URL: `redis://127.0.0.1:${redisPort}` });
    await bannerOf(running);
    expect(running.output()).toContain('SANDBOX: no Twilio or Retell settings were found');
    expect(running.output()).toContain(`redis://127.0.0.1:${redisPort} (redis-server started for this session), keys under "${running.prefix}:"`);
    expect(running.output()).toContain(`npm run simulate -- ${SIMULATE.join(' ')} --function transfer_call --destination sales`);
    expect(running.output()).toMatch(/ {2}events receiver +http:\/\/127\.0\.0\.1:\d+\/events +\(EVENTS_WEBHOOK_URL: each event is printed below as it arrives/);
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
      // The call's events, as the bridge recorded them and delivered them to the sandbox's receiver.
      'Events of this call',
      `call.started       call_sid=${callSid}`,
      /evt_[0-9a-z]+: delivered after 1 attempt\n/,
      `transfer.started   call_sid=${callSid} kind=cold destination=sales to=+14155550101`,
      `transfer.completed call_sid=${callSid} kind=cold destination=sales to=+14155550101`,
      '✓ call.started, transfer.started, transfer.completed delivered',
      '✓ Every step worked.',
    ];
    let at = 0;
    for (const step of steps) {
      const found = typeof step === 'string' ? text.indexOf(step, at) : text.slice(at).search(step) + (text.slice(at).search(step) >= 0 ? at : 0);
      expect({ step: String(step), found: found >= 0, text: found >= 0 ? '' : text }).toEqual({ step: String(step), found: true, text: '' });
      at = found;
    }

    // npm run dev printed each event as its receiver got it, signature checked.
    await waitFor('the events printed by npm run dev', () => running.output().includes(`event transfer.completed call_sid=${callSid}`));
    expect(running.output()).toContain(`event call.started       call_sid=${callSid} direction=inbound from=+14155550199 to=+14155550100 agent_id=agent_sandbox retell_call_id=call_`);
    expect(running.output()).toContain(`event transfer.started   call_sid=${callSid} kind=cold destination=sales to=+14155550101`);
    expect(running.output()).not.toContain('signature did not verify');

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
    expect(warmInspected.code).toBe(0);
    expect(warmInspected.stdout).toMatch(/^ {2}caller ID +\+14155550199$/m);

    const inspected = await runToolProcess('inspect', [callSid], toolEnv, dir);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toMatch(/^ {2}state +transferred$/m);
    expect(inspected.stdout).toContain('Action #1: transfer to +14155550101, done');

    // Exit 0 is a shutdown that finished by itself: one that hangs is ended by the process's deadline with exit 1.
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(existsSync(path.join(dir, SESSION_FILE))).toBe(false);
    await waitFor('the session redis-server to stop', async () => !(await redisAnswers('127.0.0.1', redisPort)));
  }, 90_000);

  it('when started with --lookup, then simulate shows the hook\'s answer, the registration follows it, a rejected caller gets <Reject/>, and npm run call places a call that ends', async () => {
    copyFileSync(path.join(REPO, 'examples/lookup-hook.json'), path.join(dir, 'lookup.json'));
    const port = await freePort();
    const running = launch(dir, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, PORT: String(port) }, ['--lookup', 'lookup.json']);
    await bannerOf(running);
    expect(running.output()).toContain(`keys under "${running.prefix}:"`);
    expect(running.output()).toMatch(/lookup hook +http:\/\/127\.0\.0\.1:\d+ +\(answers from .*lookup\.json\)/);

    const toolEnv = { HOME: dir };
    const known = await runToolProcess('simulate', SIMULATE, toolEnv, dir);
    expect(known.code).toBe(0);
    expect(known.stdout).toContain('Lookup hook (INBOUND_WEBHOOK_URL)');
    expect(known.stdout).toContain('the bridge will register the call with agent agent_vip');
    expect(known.stdout).toMatch(/"agent_id": ?"agent_vip"/);
    expect(running.output()).toMatch(/lookup hook: \+14155550199 → 200 .*agent_vip/);

    // The README's rejection example: rejecting the caller, and registering nothing, is the hook's answer working.
    const rejected = await runToolProcess('simulate', ['--from', '+14155550666', '--to', '+14155550100'], toolEnv, dir);
    expect(rejected.stdout).toContain('<Reject');
    expect(rejected.stdout).toContain('✓ the bridge rejected the call (<Reject/>), as its lookup hook asked');
    expect(rejected.stdout).toContain('✓ none: a rejected call is not registered');
    expect(rejected.stdout).toContain('✓ Every step worked.');
    expect(rejected.stderr).toBe('');
    expect(rejected.code).toBe(0);

    const call = await runToolProcess('call', ['--to', '+14155550123', '--var', 'customer_name=Dana', '--wait'], toolEnv, dir);
    expect(call.stderr).toBe('');
    expect(call.code).toBe(0);
    expect(call.stdout).toMatch(/ended.*outcome completed/);

    // inspect takes the id npm run call printed first, and shows the outbound call and then its Twilio call.
    const id = /queued: (out_[0-9a-f]{32})/.exec(call.stdout)?.[1];
    expect(id).toBeDefined();
    const outbound = await runToolProcess('inspect', [id!], toolEnv, dir);
    expect(outbound.stderr).toBe('');
    expect(outbound.code).toBe(0);
    expect(outbound.stdout).toContain(`Outbound call ${id!}`);
    expect(outbound.stdout).toMatch(/^ {2}status +ended$/m);
    expect(outbound.stdout).toMatch(/^ {2}outcome +completed$/m);
    expect(outbound.stdout).toMatch(/^ {2}to +\+14155550123$/m);
    const callSid = /^ {2}CallSid +(CA[0-9a-f]{32})$/m.exec(outbound.stdout)?.[1];
    expect(callSid).toBeDefined();
    expect(outbound.stdout).toContain(`\nCall ${callSid!}\n`);
    expect(outbound.stdout).toMatch(/^ {2}direction +outbound$/m);
    const unknown = await runToolProcess('inspect', [`out_${'0'.repeat(32)}`], toolEnv, dir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`No outbound call out_${'0'.repeat(32)}`);
  }, 90_000);

  it('when a user\'s own sandbox runs on the same Redis, then a sandbox started as the tests start it keeps to its own keys and queues, and neither sees the other\'s calls', async () => {
    const redisUrl = `redis://127.0.0.1:${await freePort()}`;
    // The user's npm run dev, with the default prefix, on a Redis of this test's own (it starts redis-server).
    const userDir = path.join(dir, 'user');
    mkdirSync(userDir);
    const user = launch(userDir, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: userDir, PORT: String(await freePort()), REDIS_URL: redisUrl, REDIS_PREFIX: 'sandbox' });
    await bannerOf(user);
    expect(user.output()).toContain('keys under "sandbox:"');
    const testDir = path.join(dir, 'test');
    mkdirSync(testDir);
    const test = launch(testDir, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: testDir, PORT: String(await freePort()), REDIS_URL: redisUrl });
    await bannerOf(test);
    expect(test.prefix).not.toBe('sandbox');
    expect(test.output()).toContain(`keys under "${test.prefix}:"`);

    const transfer = await runToolProcess('simulate', [...SIMULATE, '--function', 'transfer_call', '--destination', 'sales'], { HOME: testDir }, testDir);
    expect(transfer.code).toBe(0);
    expect(transfer.stdout).toContain('✓ Every step worked.');
    const callSid = /^Call: +(CA[0-9a-f]{32})/m.exec(transfer.stdout)![1]!;
    // The test's sandbox knows the call and did its transfer; the user's knows nothing of it.
    const ours = await runToolProcess('inspect', [callSid], { HOME: testDir }, testDir);
    expect(ours.code).toBe(0);
    expect(ours.stdout).toContain('Action #1: transfer to +14155550101, done');
    const theirs = await runToolProcess('inspect', [callSid], { HOME: userDir }, userDir);
    expect(theirs.code).toBe(1);
    expect(theirs.stderr).toContain('prefix "sandbox"');

    // Stopped in the reverse order: the user's sandbox owns the redis-server.
    for (const dev of [test, user]) {
      dev.child.kill('SIGTERM');
      expect(await dev.exited).toBe(0);
    }
  }, 90_000);

  it('when a test starts npm run dev, then it does so through tests/support/dev.ts, which gives it a Redis prefix and directory of its own', () => {
    const tests = path.join(REPO, 'tests');
    const files = (from: string): string[] =>
      readdirSync(from).flatMap((name) => {
        const full = path.join(from, name);
        return statSync(full).isDirectory() ? files(full) : name.endsWith('.ts') ? [full] : [];
      });
    const starters = files(tests)
      .filter((file) => /src\/bin\/dev(\.ts)?['"]|\bstartSandbox\(/.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(tests, file));
    expect(starters).toEqual(['support/dev.ts']);
  });

  it('when Redis does not answer and redis-server is not installed, then it says how to get Redis and exits 1', async () => {
    // A PATH with a shell but no redis-server.
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync('/bin/sh', path.join(bin, 'sh'));
    const dev = launch(dir, { PATH: bin, HOME: dir, PORT: String(await freePort()), REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
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
      const dev = launch(dir, { PATH: process.env.PATH ?? '', HOME: dir, PORT: String(port) });
      expect(await dev.exited).toBe(1);
      expect(dev.output()).toContain(`Port ${port} on 127.0.0.1 is in use`);
      expect(dev.output()).toContain('PORT=3001 npm run dev');
    } finally {
      blocker.close();
    }
  }, 30_000);

  it('when .env is .env.example unchanged, then npm run dev is not the sandbox: it lists each placeholder to replace (PUBLIC_URL\'s example domain too), says that removing .env runs the sandbox, and exits 1', async () => {
    copyFileSync(path.join(REPO, '.env.example'), path.join(dir, '.env'));
    const copied = launch(dir, { PATH: process.env.PATH ?? '', HOME: dir });
    expect(await copied.exited).toBe(1);
    const out = copied.output();
    expect(out).not.toContain('SANDBOX');
    for (const name of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'RETELL_API_KEY', 'RETELL_AGENT_ID']) expect(out).toMatch(new RegExp(`^  - ${name} `, 'm'));
    expect(out).toMatch(/^ {2}- PUBLIC_URL is still a placeholder \(as in \.env\.example\): bridge\.example\.com is a reserved example domain/m);
    expect(out).toContain('Found .env copied from .env.example');
    expect(out).toContain('remove .env (or empty those settings in it), then run npm run dev again');

    // As it says: without the .env, the same command is the sandbox.
    rmSync(path.join(dir, '.env'));
    const sandbox = launch(dir, { PATH: process.env.PATH ?? '', HOME: dir, PORT: String(await freePort()) });
    await bannerOf(sandbox);
    expect(sandbox.output()).toContain('SANDBOX: no Twilio or Retell settings were found');
  }, 60_000);

  it('when simulate runs with no settings and no sandbox, then it says to copy .env.example or start the sandbox', async () => {
    const res = await runToolProcess('simulate', SIMULATE, { HOME: dir }, dir);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('copy .env.example to .env');
    expect(res.stderr).toContain('start the sandbox with npm run dev');
  });
});
