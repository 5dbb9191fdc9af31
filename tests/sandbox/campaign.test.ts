/**
 * The sandbox plays a campaign: `npm run dev`, then the campaign command its banner prints, run as a
 * user runs it from the same directory (no settings: the tools find the sandbox). The local callee
 * answers by the number's last digit (src/sandbox/callee-rule.ts), so examples/leads.csv shows every
 * outcome, and the retries, within a minute.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SANDBOX_CAMPAIGN } from '../../src/sandbox/start';
import { startDev, stopDev, type DevProcess } from '../support/dev';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';
import { REPO, runToolProcess } from '../tools/output';

describe('a campaign in the sandbox', () => {
  let dir: string;
  let dev: DevProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-sandbox-campaign-'));
    mkdirSync(path.join(dir, 'examples'));
    copyFileSync(path.join(REPO, 'examples/leads.csv'), path.join(dir, 'examples/leads.csv'));
  });
  afterAll(async () => {
    if (dev) await stopDev(dev);
    rmSync(dir, { recursive: true, force: true });
  });

  it('when the banner\'s campaign command runs, then every lead ends within a minute: answered, retried after no answer, busy or a voicemail', async () => {
    dev = startDev(dir, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, PORT: String(await freePort()) });
    await waitFor('the sandbox banner', () => {
      if (dev!.child.exitCode !== null) throw new Error(`dev exited:\n${dev!.output()}`);
      return dev!.output().includes('Try, in another terminal:');
    }, 30_000);
    expect(dev.output()).toContain(SANDBOX_CAMPAIGN);

    const args = SANDBOX_CAMPAIGN.replace(/^npm run campaign -- /, '').split(' ');
    const started = Date.now();
    const created = await runToolProcess('campaign', args, { HOME: dir }, dir);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/cmp_\S+: 10 tasks added, 0 rows skipped/);
    const id = /started (cmp_\S+);/.exec(created.stdout)?.[1] ?? '(no id)';

    let last = '';
    await waitFor(
      'the campaign to complete',
      async () => {
        const status = await runToolProcess('campaign', ['status', id], { HOME: dir }, dir);
        expect(status.code).toBe(0);
        last = status.stdout;
        return /: completed/.test(status.stdout.split('\n')[0] ?? '');
      },
      90_000,
      2000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${last}\n${dev!.output().slice(-3000)}`);
    });
    expect(Date.now() - started).toBeLessThan(90_000);
    expect(last).toContain('[##############################] 100% 10/10');

    const results = await runToolProcess('campaign', ['results', id], { HOME: dir }, dir);
    expect(results.code).toBe(0);
    const rows = results.stdout.trim().split(/\r?\n/).map((l) => l.split(','));
    expect(rows[0]!.slice(0, 7)).toEqual(['to', 'status', 'outcome', 'attempts', 'call_sid', 'retell_call_id', 'answered_by']);
    expect(rows[0]!.slice(7).sort()).toEqual(['company', 'first_name']);
    const byNumber = Object.fromEntries(rows.slice(1).map((r) => [r[0], { outcome: r[2], attempts: r[3], answeredBy: r[6] }]));
    expect(byNumber).toEqual({
      '+12125550100': { outcome: 'completed', attempts: '1', answeredBy: 'human' },
      '+13125550101': { outcome: 'completed', attempts: '1', answeredBy: 'human' },
      '+13035550102': { outcome: 'completed', attempts: '1', answeredBy: 'human' },
      '+14155550103': { outcome: 'completed', attempts: '1', answeredBy: 'human' },
      '+18085550104': { outcome: 'completed', attempts: '1', answeredBy: 'human' },
      '+442079460955': { outcome: 'completed', attempts: '1', answeredBy: 'human' },
      '+16175550106': { outcome: 'dial_no_answer', attempts: '2', answeredBy: '' },
      '+17135550107': { outcome: 'dial_busy', attempts: '2', answeredBy: '' },
      '+14045550108': { outcome: 'completed', attempts: '2', answeredBy: expect.stringMatching(/^machine_/) },
      '+16025550109': { outcome: 'completed', attempts: '2', answeredBy: 'human' },
    });
    // The sandbox's event receiver printed the campaign's end.
    await waitFor('campaign.completed in the sandbox output', () => dev!.output().includes('campaign.completed'), 10_000);
  }, 150_000);
});
