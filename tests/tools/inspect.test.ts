import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseInspectArgs, runInspect } from '../../src/tools/inspect';
import { startBridge, type TestBridge } from '../support/bridge';
import { liveCall, waitFor } from '../support/calls';
import { CALLEE, OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForCall } from '../support/outbound';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { MemoryOutput, runToolProcess } from './output';

const ENV = { TRANSFER_DESTINATIONS: JSON.stringify({ sales: '+14155550101' }) };

describe('npm run inspect', () => {
  let bridge: TestBridge;
  let call: { callSid: string; callId: string };

  /** A call whose first transfer failed for good (six 500s) and whose second one went through. */
  beforeAll(async () => {
    bridge = await startBridge(ENV, { worker: true });
    call = await liveCall(bridge);
    for (let i = 0; i < 6; i++) bridge.twilio.injections.push({ kind: 'error', status: 500, code: 20500, message: 'Internal Server Error' });
    const transfer = () => postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', call.callId, { destination: 'sales' }));
    await transfer();
    await waitFor('the first transfer to fail', async () => (await bridge.queue.getJobState(`transfer-${call.callSid}-1`)) === 'failed', 30_000);
    await transfer();
    await waitFor('the second transfer to complete', async () => (await bridge.queue.getJobState(`transfer-${call.callSid}-2`)) === 'completed');
  }, 60_000);
  afterAll(() => bridge.close());

  async function run(args: string[]) {
    const out = new MemoryOutput();
    const code = await runInspect(args, out, () => ({ redis: bridge.config.redis }));
    return { code, out };
  }

  it('when given a CallSid, then it prints the record, and each action with its job, attempts and failure reason', async () => {
    const { code, out } = await run([call.callSid]);
    expect(code).toBe(0);
    const text = out.stdout;
    expect(text).toContain(`Call ${call.callSid}`);
    expect(text).toMatch(/^ {2}from {12}\+14155550199$/m);
    expect(text).toMatch(/^ {2}to {14}\+14155550100$/m);
    expect(text).toMatch(/^ {2}direction +inbound$/m);
    expect(text).toMatch(/^ {2}state +transferred$/m);
    expect(text).toMatch(/^ {2}agent +agent_default$/m);
    expect(text).toContain(`Retell call_id  ${call.callId}`);
    expect(text).toMatch(/^ {2}created +\d{4}-\d\d-\d\dT/m);

    expect(text).toContain('Action #1: transfer to +14155550101 (replaced by a later action)');
    expect(text).toContain(`job             transfer-${call.callSid}-1: failed, 6 of 6 attempts`);
    expect(text).toMatch(/failed because +HTTP 500 code 20500/);
    expect(text).toContain('Action #2: transfer to +14155550101, done');
    expect(text).toContain(`job             transfer-${call.callSid}-2: completed, 1 of 6 attempts, returned "done"`);
    expect(out.stderr).toBe('');
  });

  it('when given the Retell call_id, then it finds the same call', async () => {
    const { code, out } = await run([call.callId]);
    expect(code).toBe(0);
    expect(out.stdout).toContain(`Call ${call.callSid}`);
  });

  it('when --json is given, then the record and the jobs are printed as JSON', async () => {
    const { code, out } = await run([call.callSid, '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(out.stdout) as { record: { state: string }; actions: Array<{ seq: number; job: { state: string; attemptsMade: number } }> };
    expect(report.record.state).toBe('transferred');
    expect(report.actions.map((a) => [a.seq, a.job.state, a.job.attemptsMade])).toEqual([
      [1, 'failed', 6],
      [2, 'completed', 1],
    ]);
  });

  it('when the call is unknown, then it says where it looked and exits 1', async () => {
    const { code, out } = await run(['CA' + 'e'.repeat(32)]);
    expect(code).toBe(1);
    expect(out.stderr).toContain(`No call CA${'e'.repeat(32)} in Redis`);
    expect(out.stderr).toContain(`prefix "${bridge.config.redis.prefix}"`);
  });

  it.each([
    [[], 'which call?'],
    [['CA1', 'CA2'], 'one call at a time'],
    [['call id with spaces'], 'is neither a CallSid'],
  ])('when the arguments are %j, then it exits 2 with "%s"', async (args, message) => {
    const out = new MemoryOutput();
    expect(await runInspect(args, out, () => ({ redis: bridge.config.redis }))).toBe(2);
    expect(out.stderr).toContain(message);
    expect(parseInspectArgs(['-h'])).toBe('help');
  });

  it('as a process with only the Redis settings (as heroku run has them), then it prints the call; an unknown one exits 1', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-inspect-'));
    try {
      const env = { REDIS_URL: bridge.config.redis.url, REDIS_PREFIX: bridge.config.redis.prefix };
      const found = await runToolProcess('inspect', [call.callSid], env, dir);
      expect(found.stderr).toBe('');
      expect(found.code).toBe(0);
      expect(found.stdout).toMatch(/^ {2}state +transferred$/m);
      const unknown = await runToolProcess('inspect', ['call_unknown0123'], env, dir);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('No call call_unknown0123');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('npm run inspect, for a warm transfer', () => {
  let bridge: TestBridge;
  afterAll(() => bridge?.close());

  it('when the call had a warm transfer, then it prints its status, reason and the person\'s leg, and never the CallToken', async () => {
    bridge = await startBridge(ENV, { worker: true });
    bridge.twilio.addNumber('+14155550100');
    bridge.twilio.callee.scripts.set('+14155550101', { answer: 'busy' });
    const call = await liveCall(bridge, { CallToken: 'tok_secret_0123456789' });
    await postRetell(bridge.url, '/retell/functions/warm_transfer', functionCallBody('warm_transfer', call.callId, { destination: 'sales', summary: 'Dana wants a refund.' }));
    await waitFor('the agent to be told', () => bridge.retell.liveUpdates.length === 1);
    const legSid = [...bridge.twilio.callee.placed.keys()][0]!;

    const out = new MemoryOutput();
    expect(await runInspect([call.callSid], out, () => ({ redis: bridge.config.redis }))).toBe(0);
    expect(out.stdout).toContain(`Warm transfer warm_transfer-${call.callSid}-1 to sales (+14155550101): transfer_failed, busy`);
    expect(out.stdout).toMatch(new RegExp(`^ {2}person's leg {4}${legSid}$`, 'm'));
    expect(out.stdout).toContain('summary         "Dana wants a refund."');
    expect(out.stdout).toContain(`Action #1: warm_transfer to +14155550101, failed`);
    const json = new MemoryOutput();
    await runInspect([call.callSid, '--json'], json, () => ({ redis: bridge.config.redis }));
    expect(json.stdout).toContain('transfer_failed');
    expect(json.stdout + out.stdout).not.toContain('tok_secret');
  });
});

describe('npm run inspect, for an outbound call', () => {
  let bridge: TestBridge;
  afterEach(() => bridge?.close());

  const run = async (args: string[]) => {
    const out = new MemoryOutput();
    const code = await runInspect(args, out, () => ({ redis: bridge.config.redis }));
    return { code, out };
  };

  it('when given the out_… id npm run call prints, then it prints the outbound record and then its Twilio call as for a CallSid', async () => {
    bridge = await startBridge(OUTBOUND_ENV, { worker: true });
    bridge.twilio.addNumber(OUR_NUMBER);
    const id = await placeCall(bridge, { dynamic_variables: { first_name: 'Ada' } });
    const live = await waitForCall(bridge, id, 'the call to be answered', (v) => v.status === 'in-progress' && v.retell_call_id !== undefined);

    const { code, out } = await run([id]);
    expect(out.stderr).toBe('');
    expect(code).toBe(0);
    const text = out.stdout;
    expect(text).toMatch(new RegExp(`^Outbound call ${id}$`, 'm'));
    expect(text).toMatch(/^ {2}status +in-progress$/m);
    expect(text).toMatch(new RegExp(`^ {2}to +\\${CALLEE}$`, 'm'));
    expect(text).toMatch(new RegExp(`^ {2}from +\\${OUR_NUMBER}$`, 'm'));
    expect(text).toContain('  variables       {"first_name":"Ada"}');
    expect(text).toMatch(new RegExp(`^ {2}CallSid +${live.call_sid!}$`, 'm'));
    // Then the Twilio call's own record, after the outbound one.
    expect(text.indexOf(`Call ${live.call_sid!}\n`)).toBeGreaterThan(text.indexOf(`Outbound call ${id}`));
    expect(text).toMatch(/^ {2}direction +outbound$/m);
    expect(text).toContain(`Retell call_id  ${live.retell_call_id!}`);

    const json = await run([id, '--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.out.stdout) as { outbound: { id: string; callSid: string }; call: { record: { callSid: string; callToken?: string } } };
    expect(report.outbound).toMatchObject({ id, callSid: live.call_sid });
    expect(report.call.record.callSid).toBe(live.call_sid);
  }, 30_000);

  it('when the call is not placed yet, then it prints the outbound record and says there is no Twilio call yet', async () => {
    // No worker: the call waits in the queue.
    bridge = await startBridge(OUTBOUND_ENV);
    const id = await placeCall(bridge);
    const { code, out } = await run([id]);
    expect(code).toBe(0);
    expect(out.stdout).toMatch(/^ {2}status +queued$/m);
    expect(out.stdout).toContain('Not placed yet: there is no Twilio call to show.');
  });

  it('when the out_… id is unknown, then it says where it looked and exits 1', async () => {
    bridge = await startBridge(OUTBOUND_ENV);
    const id = `out_${'f'.repeat(32)}`;
    const { code, out } = await run([id]);
    expect(code).toBe(1);
    expect(out.stderr).toContain(`No outbound call ${id} in Redis`);
    expect(out.stderr).toContain(`prefix "${bridge.config.redis.prefix}"`);
  });
});
