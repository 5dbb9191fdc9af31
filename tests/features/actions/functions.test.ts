import net from 'node:net';
import { UNVERIFIED_BODY_BUDGET_BYTES } from '../../../src/web/app';
import { FUNCTION_BODY_LIMIT_BYTES } from '../../../src/retell/functions';
import { PUBLIC_URL, startBridge, type TestBridge } from '../../support/bridge';
import { liveCall, waitFor } from '../../support/calls';
import { functionCallBody, postRetell, signAt } from '../../support/retell-signing';
import { postSigned, voiceParams } from '../../support/twilio-signing';
import { memoryLogger } from '../../support/logs';
import { Metrics } from '../../../src/observability/metrics';
import { startWorker, type RunningWorker } from '../../../src/worker/start';

const TRANSFER = '/retell/functions/transfer_call';
const END = '/retell/functions/end_call';
const DISPATCH = '/retell/functions';
const XML = '<?xml version="1.0" encoding="UTF-8"?>';

const ENV = {
  TRANSFER_DESTINATIONS: JSON.stringify({ sales: '+14155550101', 'front desk': 'sip:desk@pbx.example.com' }),
  TRANSFER_ALLOWLIST: '+14155550102,+1646*',
};

/** Writes `request` on a fresh connection and returns what comes back before the server closes it (or 5 s). */
function rawExchange(baseUrl: string, request: string): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(request));
    let answer = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(done, 5000);
    socket.on('data', (d) => void (answer += d.toString()));
    socket.on('close', done);
    socket.on('error', done);
  });
}

async function jobCount(bridge: TestBridge): Promise<number> {
  const counts = await bridge.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

describe('Retell custom functions, queued and performed by the worker', () => {
  let bridge: TestBridge;
  beforeEach(async () => {
    bridge = await startBridge(ENV, { worker: true });
  });
  afterEach(() => bridge.close());

  describe('transfer_call', () => {
    it('when the destination is a configured name, then the live call is redirected to it with the caller as caller ID', async () => {
      const { callSid, callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: 'Sales' }));

      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'queued', result: 'Transferring the call to sales now.', job_id: `transfer-${callSid}-1` });
      const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
      expect(update!.path).toBe(`/2010-04-01/Accounts/${bridge.config.twilio.accountSid}/Calls/${callSid}.json`);
      expect(update!.auth).toBe(`${bridge.config.twilio.accountSid}:${bridge.config.twilio.authToken}`);
      expect(update!.form).toEqual({
        Twiml: `${XML}<Response><Dial callerId="+14155550199"><Number>+14155550101</Number></Dial></Response>`,
      });
      const record = await waitFor('transferred state', async () => {
        const r = await bridge.calls.get(callSid);
        return r?.state === 'transferred' && r;
      });
      expect(JSON.parse(record.action!)).toMatchObject({ kind: 'transfer', status: 'done', target: '+14155550101' });
    });

    it('when the destination is a SIP URI by name, then the call is dialed over SIP', async () => {
      const { callSid, callId } = await liveCall(bridge);
      await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: 'front desk' }));
      const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
      expect(update!.form.Twiml).toBe(`${XML}<Response><Dial callerId="+14155550199"><Sip>sip:desk@pbx.example.com</Sip></Dial></Response>`);
      expect(bridge.twilio.calls.get(callSid)?.twiml).toBe(update!.form.Twiml);
    });

    it('when an allowlisted number is written the way people say it, then it is dialed as E.164', async () => {
      const { callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: '+1 (646) 555-0100' }));
      expect(res.status).toBe(200);
      const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
      expect(update!.form.Twiml).toContain('<Number>+16465550100</Number>');
    });

    it('when a message and the business caller ID are asked for, then the caller hears the message and the callee sees our number', async () => {
      const { callId } = await liveCall(bridge);
      await postRetell(
        bridge.url,
        TRANSFER,
        functionCallBody('transfer_call', callId, { destination: 'sales', caller_id: 'business', message: 'Connecting you to sales & billing.' }),
      );
      const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
      expect(update!.form.Twiml).toBe(
        `${XML}<Response><Say>Connecting you to sales &amp; billing.</Say><Dial callerId="+14155550100"><Number>+14155550101</Number></Dial></Response>`,
      );
    });

    it('when the caller ID was withheld, then the person answering sees the business number', async () => {
      const { callId } = await liveCall(bridge, { From: 'Anonymous', Caller: 'Anonymous' });
      await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: 'sales' }));
      const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
      expect(update!.form.Twiml).toContain('<Dial callerId="+14155550100">');
    });

    it.each([
      ['a number not on the allowlist', '+19005550199'],
      ['a premium-rate number', '+1 900 555 0100'],
      ['an unknown destination name', 'the CEO'],
      ['a SIP URI not configured by name', 'sip:attacker@evil.example.com'],
      ['an allowlisted prefix without enough digits', '+1646'],
    ])('when the destination is %s, then 422 with the allowed names and nothing is dialed', async (_what, destination) => {
      const { callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination }));
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual({
        status: 'not_allowed',
        result: "I can't transfer calls to that destination. I can transfer to: sales, front desk.",
      });
      expect(await jobCount(bridge)).toBe(0);
      expect(bridge.twilio.callUpdates()).toHaveLength(0);
    });

    it('when Retell repeats the function call, then one job is queued and every repeat gets the same answer', async () => {
      const { callId } = await liveCall(bridge);
      const body = functionCallBody('transfer_call', callId, { destination: 'sales' });
      const responses = await Promise.all(Array.from({ length: 5 }, () => postRetell(bridge.url, TRANSFER, body)));
      const answers = await Promise.all(responses.map((r) => r.json() as Promise<{ result: string; job_id: string }>));
      expect(responses.every((r) => r.status === 200)).toBe(true);
      expect(new Set(answers.map((a) => `${a.result}|${a.job_id}`)).size).toBe(1);
      await bridge.twilio.waitForSuccessfulUpdates(1);
      // A late repeat, after the transfer was performed, still queues nothing.
      const late = await postRetell(bridge.url, TRANSFER, body);
      expect(late.status).toBe(200);
      expect(await late.json()).toMatchObject({ status: 'done', result: 'Transferring the call to sales now.' });
      await new Promise((r) => setTimeout(r, 300));
      expect(await jobCount(bridge)).toBe(1);
      expect(bridge.twilio.callUpdates()).toHaveLength(1);
    });

    it('when a transfer to another destination is asked for while one is under way, then 409', async () => {
      const { callId } = await liveCall(bridge);
      await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: 'sales' }));
      const res = await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: 'front desk' }));
      expect(res.status).toBe(409);
      expect(((await res.json()) as { result: string }).result).toMatch(/already been transferred|already being transferred/);
    });
  });

  describe('end_call', () => {
    it('when the agent ends the call, then Twilio completes it', async () => {
      const { callSid, callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, END, functionCallBody('end_call', callId, {}));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'queued', result: 'Ending the call now.' });
      const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
      expect(update!.form).toEqual({ Status: 'completed' });
      expect(bridge.twilio.calls.get(callSid)?.status).toBe('completed');
      await waitFor('ended state', async () => (await bridge.calls.get(callSid))?.state === 'ended');
    });

    it('when the agent ends the call with a parting message, then it is said before hanging up', async () => {
      const { callId } = await liveCall(bridge);
      await postRetell(bridge.url, END, functionCallBody('end_call', callId, { message: 'Goodbye!' }));
      const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
      expect(update!.form).toEqual({ Twiml: `${XML}<Response><Say>Goodbye!</Say><Hangup/></Response>` });
    });

    it('when a transfer\'s redirect has been sent and Twilio has not answered, then end_call is refused with 409 and a sentence, and no hang-up is sent', async () => {
      const { callSid, callId } = await liveCall(bridge);
      // Twilio takes the transfer's request and never answers it: the redirect may have been performed.
      bridge.twilio.injections.push({ kind: 'hang' });
      await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: 'sales' }));
      await waitFor('the transfer to reach Twilio', async () => bridge.twilio.callUpdates(callSid).length === 1);

      const res = await postRetell(bridge.url, END, functionCallBody('end_call', callId, {}));
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({ status: 'conflict', result: 'The call is already being transferred; that transfer will end this conversation.' });
      // The transfer's retry looks, finds the redirect was not performed, and sends it once more: the
      // caller reaches the person, and no hang-up ever follows the redirect.
      await waitFor('the transfer to be performed', async () => (await bridge.calls.action(callSid))?.status === 'done', 15_000);
      expect(bridge.twilio.callUpdates(callSid).map((u) => Object.keys(u.form))).toEqual([['Twiml'], ['Twiml']]);
      expect(bridge.twilio.calls.get(callSid)?.status).not.toBe('completed');
      expect(await bridge.calls.get(callSid)).toMatchObject({ state: 'transferred' });
    });

    it('when the agent asks for a transfer and at once for end_call on many calls, then no call gets both the redirect and a hang-up', async () => {
      const calls = await Promise.all(Array.from({ length: 8 }, () => liveCall(bridge)));
      const answers = await Promise.all(
        calls.map(async ({ callId }) => {
          const transfer = await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: 'sales' }));
          const end = await postRetell(bridge.url, END, functionCallBody('end_call', callId, {}));
          return [transfer.status, { status: end.status, body: (await end.json()) as { result: string } }] as const;
        }),
      );
      for (const [transferStatus, end] of answers) {
        expect(transferStatus).toBe(200);
        // Either the hang-up came first (and took over a transfer not yet sent), or it is refused with a sentence.
        if (end.status === 409) expect(end.body.result).toMatch(/already being transferred|already been transferred/);
        else expect(end.status).toBe(200);
      }
      await waitFor('every call to settle', async () => {
        const settled = await Promise.all(calls.map(async ({ callSid }) => (await bridge.calls.action(callSid))?.status === 'done'));
        return settled.every(Boolean);
      }, 15_000);
      const both = calls
        .map(({ callSid }) => bridge.twilio.callUpdates(callSid).filter((u) => u.answered === 200).map((u) => ('Status' in u.form ? 'hang-up' : 'redirect')))
        .filter((kinds) => kinds.length !== 1);
      expect(both).toEqual([]);
    });

    it('when a transfer has been performed, then end_call is refused with 409', async () => {
      const { callSid, callId } = await liveCall(bridge);
      await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: 'sales' }));
      await waitFor('the transfer to be performed', async () => (await bridge.calls.action(callSid))?.status === 'done');
      const res = await postRetell(bridge.url, END, functionCallBody('end_call', callId, {}));
      expect(res.status).toBe(409);
      expect(bridge.twilio.callUpdates().map((u) => Object.keys(u.form))).toEqual([['Twiml']]);
    });

    it('when the call has ended, then a function call gets 410 with a sentence', async () => {
      const { callSid, callId } = await liveCall(bridge);
      const hungUp = await postSigned(bridge.url, PUBLIC_URL, '/twilio/status', { ...voiceParams({ CallSid: callSid }), CallStatus: 'completed' });
      expect(hungUp.status).toBe(204);
      const res = await postRetell(bridge.url, END, functionCallBody('end_call', callId, {}));
      expect(res.status).toBe(410);
      expect(await res.json()).toEqual({ status: 'ended', result: 'This call has already ended.' });
      expect(await jobCount(bridge)).toBe(0);
    });
  });

  describe('POST /retell/functions', () => {
    it('when the body names transfer_call, then it is dispatched to the transfer', async () => {
      const { callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, DISPATCH, functionCallBody('transfer_call', callId, { destination: 'sales' }));
      expect(res.status).toBe(200);
      const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
      expect(update!.form.Twiml).toContain('+14155550101');
    });

    it('when the body names end_call, then it is dispatched to the hang-up', async () => {
      const { callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, DISPATCH, functionCallBody('end_call', callId, {}));
      expect(res.status).toBe(200);
      expect((await bridge.twilio.waitForSuccessfulUpdates(1))[0]!.form).toEqual({ Status: 'completed' });
    });

    it('when the name is unknown, then 400', async () => {
      const { callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, DISPATCH, functionCallBody('book_meeting', callId, {}));
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/name must be one of transfer_call, end_call/);
    });
  });

  describe('finding the call', () => {
    it('when Retell’s call id is unknown and there is no metadata, then 404 with a sentence', async () => {
      const res = await postRetell(bridge.url, END, functionCallBody('end_call', 'call_unknown', {}));
      expect(res.status).toBe(404);
      expect(((await res.json()) as { result: string }).result).toMatch(/can't find this phone call/);
    });

    it('when the call was registered without a record (Redis was down), then the CallSid in metadata is used', async () => {
      const callSid = 'CA' + 'b'.repeat(32);
      bridge.twilio.addCall(callSid);
      const body = functionCallBody('end_call', 'call_registered_unguarded', {}, {
        metadata: { twilio_call_sid: callSid, twilio_account_sid: bridge.config.twilio.accountSid },
      });
      const res = await postRetell(bridge.url, END, body);
      expect(res.status).toBe(200);
      await bridge.twilio.waitForSuccessfulUpdates(1);
      expect((await bridge.calls.get(callSid))?.callId).toBe('call_registered_unguarded');
    });

    it('when the metadata names another Twilio account, then 404', async () => {
      const body = functionCallBody('end_call', 'call_x', {}, {
        metadata: { twilio_call_sid: 'CA' + 'c'.repeat(32), twilio_account_sid: 'AC' + '1'.repeat(32) },
      });
      expect((await postRetell(bridge.url, END, body)).status).toBe(404);
    });
  });

  describe('replays and impersonation', () => {
    it('when a signed transfer_call body is posted to the end_call URL, then 400 and the call is left alone', async () => {
      const { callSid, callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, END, functionCallBody('transfer_call', callId, { destination: 'sales' }));
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/name "transfer_call" is not end_call/);
      expect(await jobCount(bridge)).toBe(0);
      expect(bridge.twilio.calls.get(callSid)?.status).toBe('in-progress');
    });

    it('when a signed call_started webhook is replayed to a function URL, then 400 and nothing is queued', async () => {
      const { callId } = await liveCall(bridge);
      const event = { event: 'call_started', call: { call_id: callId, call_type: 'phone_call', agent_id: 'agent_default' } };
      for (const url of [END, TRANSFER, DISPATCH]) expect((await postRetell(bridge.url, url, event)).status).toBe(400);
      expect(await jobCount(bridge)).toBe(0);
    });

    it('when a signed function call is replayed to the webhook URL, then 400 and the record is unchanged', async () => {
      const { callSid, callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, '/retell/webhook', functionCallBody('end_call', callId, {}));
      expect(res.status).toBe(400);
      expect((await bridge.calls.get(callSid))?.state).toBe('registered');
    });

    it('when an unknown call_id carries metadata naming another live call, then 404 and that call is not touched', async () => {
      const victim = await liveCall(bridge);
      const body = functionCallBody('end_call', 'call_somebody_else', {}, {
        metadata: { twilio_call_sid: victim.callSid, twilio_account_sid: bridge.config.twilio.accountSid },
      });
      const res = await postRetell(bridge.url, END, body);
      expect(res.status).toBe(404);
      expect(await jobCount(bridge)).toBe(0);
      expect(bridge.twilio.calls.get(victim.callSid)?.status).toBe('in-progress');
      expect((await bridge.calls.get(victim.callSid))?.callId).toBe(victim.callId);
    });
  });

  describe('text the caller will hear', () => {
    it.each([
      ['a vertical tab', 'Good\u000bbye!'],
      ['a NUL', 'Good\u0000bye!'],
      ['a lone surrogate', 'Good\ud800bye!'],
    ])('when the parting message holds %s, then it is cleaned on arrival and the hang-up is performed', async (_what, message) => {
      const { callSid, callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, END, functionCallBody('end_call', callId, { message }));
      expect(res.status).toBe(200);
      const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
      expect(update!.form).toEqual({ Twiml: `${XML}<Response><Say>Goodbye!</Say><Hangup/></Response>` });
      await waitFor('done', async () => (await bridge.calls.action(callSid))?.status === 'done');
    });

    it('when a transfer message is nothing but characters XML cannot carry, then the transfer goes ahead without one', async () => {
      const { callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: 'sales', message: '\u0001\u0002 ' }));
      expect(res.status).toBe(200);
      const [update] = await bridge.twilio.waitForSuccessfulUpdates(1);
      expect(update!.form.Twiml).not.toContain('<Say>');
      expect(update!.form.Twiml).toContain('<Number>+14155550101</Number>');
    });
  });

  describe('the allow-list', () => {
    it('when a +1 prefix entry is asked for a longer number that merely begins the same way, then 422', async () => {
      const { callId } = await liveCall(bridge);
      const long = await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: '+164655501001234' }));
      expect(long.status).toBe(422);
      const ok = await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: '+16465550100' }));
      expect(ok.status).toBe(200);
    });
  });
});

describe('Retell custom functions: refused requests', () => {
  let bridge: TestBridge;
  let callId: string;
  beforeAll(async () => {
    bridge = await startBridge(ENV);
    ({ callId } = await liveCall(bridge));
  });
  afterAll(() => bridge.close());

  const body = () => functionCallBody('transfer_call', callId, { destination: 'sales' });

  it.each([
    ['missing', { signature: null }],
    ['garbage', { signature: 'not-a-signature' }],
    ['made with another key', { apiKey: 'key_someone_else_123' }],
    ['in the old format without a timestamp', { signature: 'a'.repeat(64) }],
  ])('when the signature is %s, then 401 and nothing is queued', async (_what, opts) => {
    const res = await postRetell(bridge.url, TRANSFER, body(), opts);
    expect(res.status).toBe(401);
    expect(await jobCount(bridge)).toBe(0);
  });

  it('when a correctly signed body is replayed six minutes later, then 401', async () => {
    const raw = JSON.stringify(body());
    const res = await postRetell(bridge.url, TRANSFER, null, { raw, signature: signAt(raw, Date.now() - 6 * 60 * 1000) });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ reason: 'Retell signature stale' });
  });

  it('when the body is changed after signing (even re-serialised identically in meaning), then 401', async () => {
    const raw = JSON.stringify(body());
    const signature = signAt(raw, Date.now());
    const reformatted = JSON.stringify(JSON.parse(raw), null, 2);
    expect((await postRetell(bridge.url, TRANSFER, null, { raw: reformatted, signature })).status).toBe(401);
  });

  it('when the signed body is not JSON, then 400', async () => {
    const raw = '{"name": "transfer_call", ';
    const res = await postRetell(bridge.url, TRANSFER, null, { raw, signature: signAt(raw, Date.now()) });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/not valid JSON/);
  });

  it.each([
    ['call is missing (Payload: args only)', { destination: 'sales' }, /turn off 'Payload: args only'/],
    ['call.call_id is missing', { name: 'transfer_call', call: {}, args: { destination: 'sales' } }, /call.call_id/],
    ['args.destination is missing', { name: 'transfer_call', call: { call_id: 'x' }, args: {} }, /args.destination is required/],
    ['args.destination is not a string', { name: 'transfer_call', call: { call_id: 'x' }, args: { destination: 42 } }, /destination/],
    ['the body is an array', [1, 2, 3], /expected object/],
  ])('when %s, then 400 with the reason', async (_what, payload, reason) => {
    const res = await postRetell(bridge.url, TRANSFER, payload);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(reason);
  });

  it('when a function call carries a 400 KB transcript, then it is read and answered as usual', async () => {
    const long = functionCallBody('end_call', 'call_unknown_long', {}, { transcript: 'Agent: Hello!\nUser: '.repeat(20_000) });
    expect(JSON.stringify(long).length).toBeGreaterThan(400_000);
    // Authenticated, parsed and looked up: a call the bridge does not know.
    expect((await postRetell(bridge.url, END, long)).status).toBe(404);
  });

  it.each([
    ['missing', undefined],
    ['malformed', 'v=123,d=zz'],
    ['stale', `v=${Date.now() - 10 * 60 * 1000},d=${'a'.repeat(64)}`],
  ])('when the signature is %s, then 401 before any of the body is read', async (_what, signature) => {
    // Headers promising 1 MiB, and no body at all: an answer proves the body was never waited for.
    const head = [
      `POST ${TRANSFER} HTTP/1.1`,
      `Host: 127.0.0.1`,
      'Content-Type: application/json',
      `Content-Length: ${1024 * 1024}`,
      ...(signature ? [`X-Retell-Signature: ${signature}`] : []),
    ].join('\r\n');
    const answer = await rawExchange(bridge.url, `${head}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.toLowerCase()).toContain('connection: close');
  });

  it('when forged bodies already hold the budget for unauthenticated bytes, then the next is refused with 503 at once, and a request is served again once they are gone', async () => {
    const { hostname, port } = new URL(bridge.url);
    const forged = `v=${Date.now()},d=${'a'.repeat(64)}`;
    const size = FUNCTION_BODY_LIMIT_BYTES;
    const holders: net.Socket[] = [];
    try {
      // Each declares a full-size body and sends one byte of it, then waits.
      for (let i = 0; i < UNVERIFIED_BODY_BUDGET_BYTES / size; i++) {
        const socket = net.connect(Number(port), hostname);
        socket.on('error', () => undefined);
        socket.write(`POST ${TRANSFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\nX-Retell-Signature: ${forged}\r\n\r\n{`);
        holders.push(socket);
      }
      await new Promise((r) => setTimeout(r, 300));
      const refused = await rawExchange(bridge.url, `POST ${TRANSFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nX-Retell-Signature: ${forged}\r\n\r\n`);
      expect(refused).toMatch(/^HTTP\/1\.1 503 /);
      expect(refused).toMatch(/retry-after: 1/i);
    } finally {
      for (const socket of holders) socket.destroy();
    }
    await waitFor('the held bytes to be given back', async () => (await postRetell(bridge.url, END, functionCallBody('end_call', 'call_after', {}))).status === 404);
  });

  it('when the body is over 2 MiB, then 413', async () => {
    const huge = { ...body(), call: { ...body().call, transcript: 'x'.repeat(2.5 * 1024 * 1024) } };
    expect((await postRetell(bridge.url, TRANSFER, huge)).status).toBe(413);
  });
});

describe('Retell custom functions when Redis is unreachable', () => {
  it('then the function call answers 503 so Retell retries', async () => {
    const bridge = await startBridge(ENV, { redisUrl: 'redis://127.0.0.1:1' });
    try {
      const res = await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', 'call_abc', { destination: 'sales' }));
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: 'unavailable' });
    } finally {
      await bridge.close();
    }
  });
});

describe('end_call taking over a transfer that has not reached Twilio', () => {
  let bridge: TestBridge;
  let worker: RunningWorker | undefined;
  beforeEach(async () => {
    bridge = await startBridge(ENV);
  });
  afterEach(async () => {
    await worker?.close(5000);
    await bridge.close();
  });

  it('when the transfer is still queued (no worker has sent it), then end_call takes over: the call is hung up and the transfer is never sent', async () => {
    const { callSid, callId } = await liveCall(bridge);
    expect((await postRetell(bridge.url, TRANSFER, functionCallBody('transfer_call', callId, { destination: 'sales' }))).status).toBe(200);
    const res = await postRetell(bridge.url, END, functionCallBody('end_call', callId, {}));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'queued', result: 'Ending the call now.', job_id: `end_call-${callSid}-2` });

    worker = startWorker({ config: bridge.config, logger: memoryLogger('silent').logger, metrics: new Metrics({ defaultMetrics: false }) });
    await waitFor('the call to be hung up', async () => (await bridge.calls.action(callSid))?.status === 'done');
    await waitFor('the transfer job to finish', async () => (await bridge.queue.getJob(`transfer-${callSid}-1`))?.returnvalue === 'superseded');
    expect(bridge.twilio.callUpdates(callSid).map((u) => u.form)).toEqual([{ Status: 'completed' }]);
    expect(await bridge.calls.get(callSid)).toMatchObject({ state: 'ended' });
  });
});
