/** npm run simulate --function do_not_call: the signed function call lists the caller, done in the request. */
import { parseSimulateArgs, simulate, type SimulateOptions } from '../../src/tools/simulate';
import { startBridge, type TestBridge } from '../support/bridge';
import { MemoryOutput } from './output';

const CALLER = '+14155550199';
const NUMBER = '+14155550100';

describe('npm run simulate --function do_not_call', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge({}, { worker: true });
    bridge.twilio.addNumber(NUMBER);
  });
  afterEach(() => bridge.close());

  it('when the sandbox plays a call whose agent calls do_not_call, then the caller is listed and every step worked', async () => {
    const out = new MemoryOutput();
    const options = parseSimulateArgs(['--url', bridge.url, '--from', CALLER, '--to', NUMBER, '--function', 'do_not_call']) as SimulateOptions;
    const code = await simulate(bridge.config, options, out, { twilioUrl: bridge.twilio.url, retellUrl: bridge.retell.url });
    expect({ code, stderr: out.stderr }).toEqual({ code: 0, stderr: '' });
    expect(out.stdout).toContain(`→ POST ${bridge.url}/retell/functions/do_not_call`);
    expect(out.stdout).toContain('✓ the caller is on the do-not-call list');
    expect(out.stdout).toContain('✓ Every step worked.');
    expect(await bridge.redis.hget(`${bridge.config.redis.prefix}:dnc`, CALLER)).toContain('"source":"agent"');
  });
});
