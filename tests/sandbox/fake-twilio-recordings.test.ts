/**
 * The fake Twilio's recordings, through twilio-node (the client the bridge uses) and signed callbacks:
 * a call recording goes on across a redirect while a `<Dial record>` recording ends with its `<Dial>`,
 * and the Recordings resource answers as Twilio's does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateRequest } from 'twilio';
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';
import { createTwilioClient } from '../../src/twilio/client';
import { ACCOUNT_SID, AUTH_TOKEN, newCallSid } from '../support/twilio-signing';
import { waitFor } from '../support/wait';

const CALLER = '+14155550199';
const BUSINESS = '+14155550100';
const SALES = '+14155550101';
const AGENT = 'sip:call_a@sip.retellai.com;transport=tcp';

describe('the fake Twilio\'s recordings', () => {
  let fake: FakeTwilioApi;
  let receiver: Server;
  let receiverUrl: string;
  const received: Array<{ url: string; form: Record<string, string>; valid: boolean }> = [];

  beforeEach(async () => {
    fake = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
    fake.recordings.processingMs = 20;
    received.length = 0;
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()));
        const url = `${receiverUrl}${req.url}`;
        received.push({ url, form, valid: validateRequest(AUTH_TOKEN, req.headers['x-twilio-signature'] as string, url, form) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await fake.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  /** The bridge's own Twilio client (twilio-node's resources), pointed at the fake. */
  const bridgeClient = () => createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: fake.url });
  const redirectTo = (sid: string, number: string) => bridgeClient().calls(sid).update({ twiml: `<Response><Dial><Number>${number}</Number></Dial></Response>` });

  it('when a call started with <Start><Recording> is redirected to another <Dial>, then the recording goes on and hears the new party', async () => {
    const sid = newCallSid();
    fake.addCall(sid, CALLER, BUSINESS);
    fake.playTwiml(sid, `<Response><Start><Recording channels="dual" recordingStatusCallback="${receiverUrl}/rec" recordingStatusCallbackEvent="in-progress completed"/></Start><Dial answerOnBridge="true"><Sip>${AGENT}</Sip></Dial></Response>`);
    await redirectTo(sid, SALES);

    const [recording] = fake.recordings.of(sid);
    expect(recording).toMatchObject({ source: 'StartCallRecordingAPI', status: 'in-progress', channels: 2 });
    expect([...recording!.heard]).toEqual([AGENT, SALES]);

    fake.hangUp(sid);
    await waitFor('the completed callback', () => received.find((r) => r.form.RecordingStatus === 'completed'));
    expect(received.map((r) => ({ status: r.form.RecordingStatus, valid: r.valid }))).toEqual([
      { status: 'in-progress', valid: true },
      { status: 'completed', valid: true },
    ]);
    expect(received[1]!.form).toMatchObject({
      AccountSid: ACCOUNT_SID,
      CallSid: sid,
      RecordingSid: recording!.sid,
      RecordingUrl: `${fake.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings/${recording!.sid}`,
      RecordingChannels: '2',
      RecordingSource: 'StartCallRecordingAPI',
      RecordingDuration: expect.stringMatching(/^\d+$/),
    });
  });

  it('when a call whose <Dial record> is recording is redirected, then that recording ends with the <Dial> and never hears the new party', async () => {
    const sid = newCallSid();
    fake.addCall(sid, CALLER, BUSINESS);
    fake.playTwiml(sid, `<Response><Dial record="record-from-answer-dual" recordingStatusCallback="${receiverUrl}/rec"><Sip>${AGENT}</Sip></Dial></Response>`);
    expect(fake.recordings.of(sid)[0]).toMatchObject({ source: 'DialVerb', status: 'in-progress' });
    await redirectTo(sid, SALES);

    const [recording, ...others] = fake.recordings.of(sid);
    expect(others).toEqual([]);
    expect(['processing', 'completed']).toContain(recording!.status);
    expect([...recording!.heard]).toEqual([AGENT]);
    await waitFor('the completed callback', () => received.find((r) => r.form.RecordingStatus === 'completed'));
    expect(received[0]!.form).toMatchObject({ RecordingSource: 'DialVerb', CallSid: sid });
  });

  it('when the Recordings resource is used through twilio-node, then it creates, lists, pauses (skipping the paused time) and resumes as Twilio does', async () => {
    const client = bridgeClient();
    const sid = newCallSid();
    fake.addCall(sid, CALLER, BUSINESS);
    const created = await client.calls(sid).recordings.create({ recordingChannels: 'dual', recordingStatusCallback: `${receiverUrl}/rec`, recordingStatusCallbackEvent: ['in-progress', 'completed'] });
    expect(created).toMatchObject({ callSid: sid, status: 'in-progress', channels: 2, source: 'StartCallRecordingAPI', duration: '-1' });
    expect(created.sid).toMatch(/^RE[0-9a-f]{32}$/);

    const paused = await client.calls(sid).recordings('Twilio.CURRENT').update({ status: 'paused', pauseBehavior: 'skip' });
    expect(paused).toMatchObject({ sid: created.sid, status: 'paused' });
    // Pausing what is paused changes nothing.
    expect((await client.calls(sid).recordings(created.sid).update({ status: 'paused' })).status).toBe('paused');
    await new Promise((r) => setTimeout(r, 1100));
    expect((await client.calls(sid).recordings(created.sid).update({ status: 'in-progress' })).status).toBe('in-progress');
    expect((await client.calls(sid).recordings.list()).map((r) => [r.sid, r.status])).toEqual([[created.sid, 'in-progress']]);

    fake.hangUp(sid);
    await waitFor('the recording to complete', async () => (await client.calls(sid).recordings(created.sid).fetch()).status === 'completed');
    // The second paused is not in the duration.
    expect((await client.calls(sid).recordings(created.sid).fetch()).duration).toBe('0');
    await expect(client.calls(sid).recordings(created.sid).update({ status: 'paused' })).rejects.toMatchObject({ status: 400, code: 21220 });
    const media = await fetch(`${fake.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings/${created.sid}.wav`, { headers: { authorization: `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}` } });
    expect({ status: media.status, type: media.headers.get('content-type'), riff: Buffer.from(await media.arrayBuffer()).subarray(0, 4).toString() }).toEqual({ status: 200, type: 'audio/x-wav', riff: 'RIFF' });
  });

  it('when a recording is asked of a call that is not in progress, or of no call, then Twilio\'s errors come back', async () => {
    const client = bridgeClient();
    const ringing = newCallSid();
    fake.addCall(ringing, CALLER, BUSINESS, 'ringing');
    await expect(client.calls(ringing).recordings.create()).rejects.toMatchObject({ status: 400, code: 21220 });
    await expect(client.calls(newCallSid()).recordings.create()).rejects.toMatchObject({ status: 404, code: 20404 });
    await expect(client.calls(ringing).recordings('Twilio.CURRENT').update({ status: 'paused' })).rejects.toMatchObject({ status: 404, code: 20404 });
  });
});
