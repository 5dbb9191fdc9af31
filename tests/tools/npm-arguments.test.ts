/**
 * The tools as npm runs them, when the `--` that separates npm's options from the tool's is left out:
 * npm keeps the options for itself and hands the tool only their values. The tool must say so, and stop
 * before doing anything (configure-number without its --dry-run would change the number for real).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cloneLayout, runNpm } from '../support/npm';

describe('npm run <tool> without -- before the tool\'s arguments', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-npm-args-'));
    cloneLayout(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['simulate', ['--from', '+14155550199', '--to', '+14155550100'], '--from, --to', 'npm run simulate -- --from <number> --to <number>'],
    ['inspect', ['--json', 'CA0123456789abcdef0123456789abcdef'], '--json', 'npm run inspect -- <CallSid'],
    ['call', ['--to', '+14155550123', '--wait'], '--to, --wait', 'npm run call -- --to <number>'],
    ['configure-number', ['+14155550100', '--dry-run'], '--dry-run', 'npm run configure-number -- <E.164 number>'],
    ['campaign', ['status', 'cmp_0123456789abcdef', '--watch'], '--watch', 'npm run campaign -- <command> [options]'],
  ])('when npm run %s is given %j, then it names what npm kept, shows the command with --, and exits 2', async (tool, args, kept, example) => {
    const res = await runNpm(['run', tool, ...args], dir);
    expect(res.stderr).toContain(`${tool}: npm took ${kept} as its own`);
    expect(res.stderr).toContain(`Put -- before the tool's arguments, e.g. ${example}`);
    expect(res.code).toBe(2);
  }, 30_000);

  it('when the arguments follow --, then they reach the tool, which judges them itself', async () => {
    const res = await runNpm(['run', 'inspect', '--', '--json'], dir);
    expect(res.stderr).toContain('inspect: which call?');
    expect(res.stderr).not.toContain('npm took');
    expect(res.code).toBe(2);
  }, 30_000);
});
