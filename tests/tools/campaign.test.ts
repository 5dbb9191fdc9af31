import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { csvPart, parseCampaignCsv, rowOfLine, splitCampaignCsv } from '../../src/tools/campaign-csv';
import { parseCampaignArgs, parseDays, parseDuration, progressBar, runCampaign, type Terminal } from '../../src/tools/campaign';
import { startBridge, testEnv, type TestBridge } from '../support/bridge';
import { API_TOKEN, OUR_NUMBER, OUTBOUND_ENV } from '../support/outbound';
import { AUTH_TOKEN } from '../support/twilio-signing';
import { waitFor } from '../support/wait';
import { MemoryOutput, runToolProcess } from './output';

const ID = 'cmp_0123456789abcdef';

describe('npm run campaign: arguments', () => {
  it('when create has every option, then they become the POST /campaigns body, created paused', () => {
    expect(
      parseCampaignArgs([
        'create', '--csv', 'dir/leads.csv', '--from', OUR_NUMBER, '--agent', 'agent_x', '--window', '09:00-20:00', '--timezone', 'America/New_York',
        '--days', 'mon-fri', '--max-concurrency', '5', '--retry', 'no_answer,busy,voicemail', '--max-attempts', '3', '--retry-delay', '1h30m',
        '--voicemail', 'message', '--message', 'Call us back', '--ring-timeout', '25', '--url', 'http://127.0.0.1:3000/',
      ]),
    ).toEqual({
      url: 'http://127.0.0.1:3000',
      command: {
        kind: 'create',
        csvPath: 'dir/leads.csv',
        start: true,
        body: {
          name: 'leads',
          paused: true,
          from: OUR_NUMBER,
          agent_id: 'agent_x',
          window: { start: '09:00', end: '20:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'], timezone: 'America/New_York' },
          max_concurrency: 5,
          retry: { on: ['no_answer', 'busy', 'voicemail'], max_attempts: 3, delay_s: 5400 },
          voicemail: 'message',
          voicemail_message: 'Call us back',
          ring_timeout_s: 25,
        },
      },
    });
  });

  it('when --retry comes alone, then 3 attempts an hour apart; --paused leaves it paused', () => {
    const parsed = parseCampaignArgs(['create', '--csv', 'a.csv', '--retry', 'busy', '--paused']);
    expect(parsed).toMatchObject({ command: { start: false, body: { retry: { on: ['busy'], max_attempts: 3, delay_s: 3600 } } } });
  });

  it.each([
    ['status', { kind: 'status', id: ID, watch: false, intervalMs: 1000 }],
    ['status --watch --interval 200', { kind: 'status', id: ID, watch: true, intervalMs: 200 }],
    ['pause', { kind: 'pause', id: ID }],
    ['resume', { kind: 'resume', id: ID }],
    ['cancel', { kind: 'cancel', id: ID }],
    ['results', { kind: 'results', id: ID }],
  ])('when the command is %s <id>, then it names the campaign', (args, command) => {
    const [name, ...flags] = args.split(' ');
    expect(parseCampaignArgs([name!, ID, ...flags])).toEqual({ url: undefined, command });
  });

  it.each([
    [[], /which command\? create, status, pause, resume, cancel, results/],
    [['launch'], /"launch" is not a command/],
    [['create'], /create needs --csv <file>/],
    [['create', '--csv', 'a.csv', '--from', '4155550100'], /--from "4155550100" is not an E.164 number/],
    [['create', '--csv', 'a.csv', '--window', '9-17'], /--window "9-17" must be HH:MM-HH:MM/],
    [['create', '--csv', 'a.csv', '--window', '09:00-24:30'], /--window "09:00-24:30" must be HH:MM-HH:MM/],
    [['create', '--csv', 'a.csv', '--timezone', 'Europe/Paris'], /--timezone belongs to a window: give --window too/],
    [['create', '--csv', 'a.csv', '--window', '09:00-17:00', '--timezone', 'Mars/Olympus'], /--timezone "Mars\/Olympus" is not an IANA time zone/],
    [['create', '--csv', 'a.csv', '--window', '09:00-17:00', '--days', 'weekdays'], /--days "weekdays" must name days/],
    [['create', '--csv', 'a.csv', '--max-attempts', '2'], /--max-attempts goes with --retry/],
    [['create', '--csv', 'a.csv', '--retry', 'busy', '--max-attempts', '0'], /--max-attempts "0" must be a whole number from 1 to 10$/],
    [['create', '--csv', 'a.csv', '--retry', 'busy', '--retry-delay', 'soon'], /--retry-delay "soon" is not a duration/],
    [['create', '--csv', 'a.csv', '--retry', 'Busy!'], /--retry "Busy!" must list outcomes/],
    [['create', '--csv', 'a.csv', '--max-concurrency', '0'], /--max-concurrency "0" must be a whole number from 1/],
    [['create', '--csv', 'a.csv', '--voicemail', 'message'], /needs --message/],
    [['create', '--csv', 'a.csv', '--watch'], /--watch does not go with create/],
    [['create', '--csv', 'a.csv', 'extra'], /create takes no argument besides its options/],
    [['status'], /status needs the campaign's id/],
    [['status', 'campaign-1'], /"campaign-1" is not a campaign id/],
    [['status', ID, '--interval', '100'], /--interval goes with --watch/],
    [['pause', ID, '--csv', 'a.csv'], /--csv does not go with pause/],
    [['results', ID, ID], /results takes one campaign id/],
    [['cancel', ID, '--url', 'ftp://x'], /--url "ftp:\/\/x" is not an http\(s\) URL/],
    [['status', ID, '--bogus'], /Unknown option '--bogus'/],
  ])('when the arguments are %j, then a usage error says what to fix', (argv, message) => {
    expect(() => parseCampaignArgs(argv)).toThrow(message);
  });

  it('reads durations and days as written', () => {
    expect([parseDuration('d', '90'), parseDuration('d', '90s'), parseDuration('d', '10m'), parseDuration('d', '1d')]).toEqual([90, 90, 600, 86_400]);
    expect(parseDays('fri-mon')).toEqual(['mon', 'fri', 'sat', 'sun']);
    expect(parseDays('sat,sun,mon-tue')).toEqual(['mon', 'tue', 'sat', 'sun']);
    expect(progressBar(5, 10, 10)).toBe('[#####-----]  50% 5/10');
  });
});

describe('npm run campaign: the CSV file', () => {
  it('reads a BOM, CRLF, quoted commas and line breaks and empty lines, and writes each part in plain CSV with the header', () => {
    const file = parseCampaignCsv('\uFEFFto,first_name,note\r\n+12125550100,Ada,"a, b"\r\n\r\n+13125550101,Grace,"two\nlines"\r\n+13035550102,Alan,"say ""hi"""\r\n');
    expect(file.header).toEqual(['to', 'first_name', 'note']);
    expect(file.rows).toHaveLength(3);
    const parts = splitCampaignCsv(file, 2);
    expect(parts.map((p) => [p.first, p.last])).toEqual([[1, 2], [3, 3]]);
    expect(parts[0]!.csv).toBe('to,first_name,note\n+12125550100,Ada,"a, b"\n+13125550101,Grace,"two\nlines"\n');
    expect(parts[1]!.csv).toBe('to,first_name,note\n+13035550102,Alan,"say ""hi"""\n');
    // The same rows make the same part (and so the same Idempotency-Key) on every run.
    expect(csvPart(file, 1, 2).digest).toBe(parts[0]!.digest);
    // The bridge names a row by the line it ends on: the two-line row ends on line 4.
    expect([rowOfLine(parts[0]!, 2), rowOfLine(parts[0]!, 4), rowOfLine(parts[0]!, 3), rowOfLine(parts[1]!, 2)]).toEqual([1, 2, undefined, 3]);
  });

  it('cuts at 10,000 rows, and by size', () => {
    const rows = Array.from({ length: 25_000 }, (_, i) => `+1212555${String(i).padStart(4, '0')},x`).join('\n');
    const file = parseCampaignCsv(`to,v\n${rows}\n`);
    expect(splitCampaignCsv(file).map((p) => [p.first, p.last])).toEqual([[1, 10_000], [10_001, 20_000], [20_001, 25_000]]);
    expect(splitCampaignCsv(file, 10_000, 100_000).length).toBeGreaterThan(3);
  });

  it.each([
    ['', /it is empty/],
    ['phone,name\n+12125550100,Ada\n', /no "to" column \(found: "phone", "name"\)/],
    ['to,name\n', /a header row but no tasks/],
    ['to,name\n"+12125550100,Ada\n', /not readable as CSV/],
  ])('when the file is %j, then it says why it is no task list', (text, message) => {
    expect(() => parseCampaignCsv(text)).toThrow(message);
  });
});

/** A port where nothing listens. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('npm run campaign as a process: exit codes that need no bridge', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-campaign-'));
    writeFileSync(path.join(dir, 'leads.csv'), 'to\n+12125550100\n');
    writeFileSync(path.join(dir, 'phones.csv'), 'phone\n+12125550100\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = testEnv(OUTBOUND_ENV);

  it('when an argument is bad, then it exits 2 with the reason and a pointer to --help', async () => {
    const { code, stderr } = await runToolProcess('campaign', ['create', '--csv', 'leads.csv', '--window', 'all day'], env, dir);
    expect(code).toBe(2);
    expect(stderr).toContain('campaign: --window "all day" must be HH:MM-HH:MM');
    expect(stderr).toContain('npm run campaign -- --help');
  });

  it('when the CSV file is missing or has no "to" column, then it exits 2 before asking the bridge', async () => {
    const port = await closedPort();
    const missing = await runToolProcess('campaign', ['create', '--csv', 'nope.csv', '--url', `http://127.0.0.1:${port}`], env, dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('campaign: cannot read --csv nope.csv: no such file');
    const phones = await runToolProcess('campaign', ['create', '--csv', 'phones.csv', '--url', `http://127.0.0.1:${port}`], env, dir);
    expect(phones.code).toBe(2);
    expect(phones.stderr).toContain('its header row has no "to" column');
  });

  it('when nothing answers at the bridge\'s URL, then it exits 3 and says the command can run again', async () => {
    const port = await closedPort();
    const { code, stderr } = await runToolProcess('campaign', ['status', ID, '--url', `http://127.0.0.1:${port}`], env, dir);
    expect(code).toBe(3);
    expect(stderr).toContain(`Nothing answered at http://127.0.0.1:${port}: ECONNREFUSED`);
    expect(stderr).toContain('Running the same command again is safe.');
  }, 30_000);

  it('when API_TOKEN is not set, then it says so and exits 1', async () => {
    const { code, stderr } = await runToolProcess('campaign', ['pause', ID], testEnv({ OUTBOUND_FROM_NUMBER: OUR_NUMBER }), dir);
    expect(code).toBe(1);
    expect(stderr).toContain('API_TOKEN is not set');
  });

  it('when asked for --help, then it prints the usage with the exit codes and exits 0', async () => {
    const { code, stdout } = await runToolProcess('campaign', ['--help'], env, dir);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: npm run campaign -- <command> [options]');
    expect(stdout).toContain('Exit codes: 0 done');
  });
});

describe('npm run campaign against a running bridge', () => {
  let bridge: TestBridge;
  let dir: string;
  const printed: string[] = [];
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-campaign-'));
  });
  beforeEach(async () => {
    bridge = await startBridge({ ...OUTBOUND_ENV, TWILIO_CPS: '20' }, { worker: true });
    bridge.twilio.addNumber(OUR_NUMBER);
    bridge.twilio.callee.defaultScript = { answer: 'human', ringMs: 20, hangUpAfterMs: 200 };
  });
  afterEach(() => bridge.close());
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    const all = printed.join('\n');
    expect(all.length).toBeGreaterThan(0);
    for (const secret of [API_TOKEN, AUTH_TOKEN]) expect(all).not.toContain(secret);
  });

  async function run(args: string[], opts: { env?: Record<string, string | undefined>; terminal?: Terminal } = {}) {
    const out = new MemoryOutput();
    const config = loadConfig(testEnv({ ...(opts.env ?? OUTBOUND_ENV), RETELL_BASE_URL: bridge.retell.url, TWILIO_API_BASE_URL: bridge.twilio.url }));
    const code = await runCampaign([...args, '--url', bridge.url], out, () => config, opts.terminal);
    printed.push(out.all);
    return { code, out };
  }

  function csvFile(name: string, text: string): string {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  }

  const idOf = (text: string) => /cmp_[A-Za-z0-9_-]+/.exec(text)?.[0] ?? '(no id printed)';

  async function campaign(id: string): Promise<{ status: string; counts: Record<string, number>; outcomes: Record<string, number> }> {
    const res = await fetch(`${bridge.url}/campaigns/${id}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    return (await res.json()) as never;
  }

  it('create uploads the file, reports the skipped rows by their row in the file, starts it and exits 0; status, results and a re-run follow', async () => {
    const file = csvFile('mixed.csv', 'to,first_name\n+12125550100,Ada\nnot-a-number,Bob\n+13125550101,Grace\n+12125550100,Ada again\n');
    const made = await run(['create', '--csv', file, '--name', 'mixed']);
    expect(made.out.stderr).toMatch(/^row 2 \(not-a-number\) skipped: .+$/m);
    expect(made.out.stderr).toMatch(/^row 4 \(\+12125550100\) skipped: .+$/m);
    expect(made.code).toBe(0);
    expect(made.out.stdout).toMatch(/created cmp_\S+ \(paused\), uploading 4 rows/);
    expect(made.out.stdout).toMatch(/cmp_\S+: 2 tasks added, 2 rows skipped/);
    expect(made.out.stdout).toMatch(/started cmp_\S+; follow it with: npm run campaign -- status cmp_\S+ --watch/);
    const id = idOf(made.out.stdout);

    await waitFor('the campaign to complete', async () => (await campaign(id)).status === 'completed', 30_000, 200);
    const status = await run(['status', id]);
    expect(status.code).toBe(0);
    expect(status.out.stdout).toContain(`${id} "mixed": completed`);
    expect(status.out.stdout).toContain('[##############################] 100% 2/2');
    expect(status.out.stdout).toMatch(/^tasks 2: pending 0, scheduled 0, dialing 0, in progress 0, completed 2, canceled 0, do-not-call 0$/m);
    expect(status.out.stdout).toMatch(/^outcomes: completed 2$/m);

    const results = await run(['results', id]);
    expect(results.code).toBe(0);
    const lines = results.out.stdout.split('\n');
    expect(lines[0]).toMatch(/^to,status,outcome,attempts,call_sid,retell_call_id,answered_by,first_name/);
    expect(lines.slice(1).sort()).toEqual([expect.stringMatching(/^\+12125550100,completed,completed,1,CA/), expect.stringMatching(/^\+13125550101,completed,completed,1,CA/)]);

    // The same command again (say after a network error) finds the same campaign and dials no one twice.
    const again = await run(['create', '--csv', file, '--name', 'mixed']);
    expect(again.code).toBe(0);
    expect(again.out.stdout).toContain(`${id} was created from this file before and is completed; nothing added`);
    expect(bridge.twilio.callee.dials).toEqual(new Map([['+12125550100', 1], ['+13125550101', 1]]));
  }, 60_000);

  it('create with --paused uploads more than 10,000 rows in parts, numbering skipped rows in the file; cancel then ends every task without a dial', async () => {
    const rows = Array.from({ length: 10_001 }, (_, i) => `+1212555${String(i % 10_000).padStart(4, '0')}`);
    const file = csvFile('big.csv', `to\n${rows.join('\n')}\n`);
    const made = await run(['create', '--csv', file, '--paused']);
    expect(made.code).toBe(0);
    expect(made.out.stdout).toMatch(/rows 1-10000: 10000 added, 0 skipped/);
    expect(made.out.stdout).toMatch(/rows 10001-10001: 0 added, 1 skipped/);
    expect(made.out.stderr).toMatch(/^row 10001 \(\+12125550000\) skipped: /m);
    const id = idOf(made.out.stdout);
    expect(made.out.stdout).toContain(`${id} is paused; start it with: npm run campaign -- resume ${id}`);
    expect((await campaign(id)).counts.total).toBe(10_000);

    const canceled = await run(['cancel', id]);
    expect(canceled.code).toBe(0);
    expect(canceled.out.stdout).toContain(`${id}: canceled`);
    await waitFor('every task canceled', async () => (await campaign(id)).counts.canceled === 10_000, 30_000, 200);
    expect(bridge.twilio.callee.dials.size).toBe(0);
  }, 90_000);

  it('pause and resume exit 0; a command the campaign cannot take, or an unknown id, exits 1 with the bridge\'s reason', async () => {
    const made = await run(['create', '--csv', csvFile('one.csv', 'to\n+12125550100\n'), '--paused']);
    const id = idOf(made.out.stdout);
    const paused = await run(['pause', id]);
    expect(paused.code).toBe(0);
    expect(paused.out.stdout).toContain(`${id}: paused`);
    const resumed = await run(['resume', id]);
    expect(resumed.code).toBe(0);
    expect(resumed.out.stdout).toMatch(new RegExp(`${id}: (running|scheduled|completed)`));

    const cancelTwice = [await run(['cancel', id]), await run(['cancel', id])];
    expect(cancelTwice[0]!.code).toBe(0);
    const resumeCanceled = await run(['resume', id]);
    expect(resumeCanceled.code).toBe(1);
    expect(resumeCanceled.out.stderr).toMatch(/The bridge refused to resume cmp_\S+ \(HTTP 4\d\d\): /);

    for (const command of ['status', 'pause', 'resume', 'cancel', 'results']) {
      const unknown = await run([command, 'cmp_unknown']);
      expect(unknown.code).toBe(1);
      expect(unknown.out.stderr).toContain(`No campaign cmp_unknown at ${bridge.url}`);
    }
  }, 60_000);

  it('when the bridge refuses the campaign, then its reason is printed and it exits 1; a wrong token says so', async () => {
    const file = csvFile('refused.csv', 'to\n+12125550100\n');
    const bad = await run(['create', '--csv', file, '--retry', 'never_heard_of']);
    expect(bad.code).toBe(1);
    expect(bad.out.stderr).toMatch(/The bridge refused the campaign \(HTTP 400\): .+/);
    const wrong = await run(['status', ID], { env: { ...OUTBOUND_ENV, API_TOKEN: 'another-token-0123456789abcdef' } });
    expect(wrong.code).toBe(1);
    expect(wrong.out.stderr).toContain('API_TOKEN here differs from the deployment\'s.');
  });

  it('status --watch redraws the progress in a terminal and prints a line per change otherwise, and exits 0 when it completes', async () => {
    bridge.twilio.callee.defaultScript = { answer: 'human', ringMs: 20, hangUpAfterMs: 1500 };
    const file = csvFile('watch.csv', 'to\n+12125550100\n+13125550101\n');
    const id = idOf((await run(['create', '--csv', file])).out.stdout);
    const drawn: string[] = [];
    const [tty, lines] = await Promise.all([
      run(['status', id, '--watch', '--interval', '100'], { terminal: { isTTY: true, write: (t) => void drawn.push(t) } }),
      run(['status', id, '--watch', '--interval', '100']),
    ]);
    expect(tty.code).toBe(0);
    expect(drawn.length).toBeGreaterThan(1);
    expect(drawn.slice(1).every((frame) => frame.startsWith('\x1b[4F\x1b[J'))).toBe(true);
    expect(drawn.at(-1)).toContain('100% 2/2');
    expect(lines.code).toBe(0);
    expect(lines.out.stdout).toMatch(/^\d\d:\d\d:\d\d (running|scheduled) \d\/2 done/m);
    expect(lines.out.stdout.split('\n').at(-1)).toMatch(/^\d\d:\d\d:\d\d completed 2\/2 done; outcomes: completed 2$/);
  }, 60_000);
});
