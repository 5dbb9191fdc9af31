/**
 * pause_recording and resume_recording against the fake Twilio's Recordings resource, with the real
 * worker: each request is performed once however often and however concurrently it is repeated, a call
 * that is not recorded is answered 422, and a failed pause is told to the agent.
 */
import { PUBLIC_URL, startBridge, type TestBridge } from '../../support/bridge';
import { liveCall } from '../../support/calls';
import { functionCallBody, postRetell } from '../../support/retell-signing';
import { ACCOUNT_SID, postSigned } from '../../support/twilio-signing';
import { waitFor } from '../../support/wait';

describe('pause_recording and resume_recording', () => {
  let bridge: TestBridge;
  afterEach(() => bridge?.close());

  async function recordedCall(env: Record<string, string> = { RECORDING: 'dual' }) {
    bridge = await startBridge(env, { worker: true });
    bridge.twilio.recordings.processingMs = 20;
    const call = await liveCall(bridge);
    return call;
  }

  const post = (fn: string, callId: string) => postRetell(bridge.url, `/retell/functions/${fn}`, functionCallBody(fn, callId, {}));
  /** The requests that changed a recording's status, in order. */
  const statusUpdates = () => bridge.twilio.requests.filter((r) => r.method === 'POST' && /\/Recordings\/[^/]+\.json$/.test(r.path));

  it('when the agent asks to pause five times at once, then one job pauses the recording once, skipping the paused audio, and every answer is the same', async () => {
    const { callSid, callId } = await recordedCall();
    const answers = await Promise.all(Array.from({ length: 5 }, () => post('pause_recording', callId)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const bodies = await Promise.all(answers.map((a) => a.json()));
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(bodies[0]).toEqual({ status: 'queued', result: 'Pausing the recording now.', job_id: `pause_recording-${callSid}-1` });

    const recording = bridge.twilio.recordings.of(callSid)[0]!;
    await waitFor('the recording to be paused', () => recording.status === 'paused');
    await waitFor('the pause to be settled', async () => (await bridge.calls.recordingControl(callSid))?.status === 'done');
    expect(statusUpdates().map((r) => r.form)).toEqual([{ Status: 'paused', PauseBehavior: 'skip' }]);
    expect(recording.changes.map((c) => c.status)).toEqual(['paused']);
    expect(await bridge.calls.get(callSid)).toMatchObject({ recordingStatus: 'paused' });

    // Asked again once done: the same answer in words, nothing sent.
    const again = await post('pause_recording', callId);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: 'done', result: 'The recording is paused.' });

    const resumes = await Promise.all(Array.from({ length: 5 }, () => post('resume_recording', callId)));
    expect(resumes.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    await waitFor('the recording to be resumed', () => recording.status === 'in-progress');
    await waitFor('the resume to be settled', async () => (await bridge.calls.recordingControl(callSid))?.status === 'done');
    expect(statusUpdates().map((r) => r.form)).toEqual([{ Status: 'paused', PauseBehavior: 'skip' }, { Status: 'in-progress' }]);
    expect(recording.changes.map((c) => c.status)).toEqual(['paused', 'in-progress']);
    expect(await bridge.calls.get(callSid)).toMatchObject({ recordingStatus: 'in-progress' });
  });

  it('when the recording\'s sid is known from its status callback, then the pause names it; before that, Twilio.CURRENT', async () => {
    const { callSid, callId } = await recordedCall();
    const recording = bridge.twilio.recordings.of(callSid)[0]!;
    // The fake posts the in-progress callback to PUBLIC_URL, which these tests do not serve: post it as Twilio would.
    await postSigned(bridge.url, PUBLIC_URL, '/twilio/recording/status', { AccountSid: ACCOUNT_SID, CallSid: callSid, RecordingSid: recording.sid, RecordingStatus: 'in-progress' });
    await post('pause_recording', callId);
    await waitFor('the recording to be paused', () => recording.status === 'paused');
    expect(statusUpdates().map((r) => r.path)).toEqual([`/2010-04-01/Accounts/${ACCOUNT_SID}/Calls/${callSid}/Recordings/${recording.sid}.json`]);
  });

  it('when a resume comes while a pause is still being performed, then it is refused with 409 and a sentence, and nothing else is sent', async () => {
    const { callSid, callId } = await recordedCall();
    bridge.twilio.recordings.injections.push({ kind: 'delay', ms: 400 });
    expect((await post('pause_recording', callId)).status).toBe(200);
    const resume = await post('resume_recording', callId);
    expect(resume.status).toBe(409);
    expect(await resume.json()).toMatchObject({ result: 'The recording is still being paused; ask again in a moment.' });
    await waitFor('the pause to be settled', async () => (await bridge.calls.recordingControl(callSid))?.status === 'done');
    expect(statusUpdates()).toHaveLength(1);
  });

  it('when Twilio pauses the recording but its answer never comes, then the next attempt finds it paused and sends nothing again', async () => {
    const { callSid, callId } = await recordedCall();
    // Performed at once, answered after the request's 4 s timeout.
    bridge.twilio.recordings.injections.push({ kind: 'late', ms: 6000 });
    expect((await post('pause_recording', callId)).status).toBe(200);
    await waitFor('the pause to be settled', async () => (await bridge.calls.recordingControl(callSid))?.status === 'done', 15_000);
    expect(statusUpdates()).toHaveLength(1);
    expect(bridge.twilio.recordings.of(callSid)[0]!.changes.map((c) => c.status)).toEqual(['paused']);
    expect(bridge.workerLines.some((l) => l.includes('an earlier attempt had been performed'))).toBe(true);
  });

  it('when the agent resumes a recording that was never paused, then nothing is sent and it is told the recording runs', async () => {
    const { callId } = await recordedCall();
    const res = await post('resume_recording', callId);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'done', result: 'The recording is running.' });
    expect(statusUpdates()).toEqual([]);
  });

  it.each([
    ['RECORDING is off', {}],
    ['the caller refused consent', { RECORDING: 'dual', RECORDING_CONSENT: 'ask' }],
  ])('when %s, then pause_recording is answered 422 with a sentence and nothing is sent', async (_what, env) => {
    const { callId } = await recordedCall(env as Record<string, string>);
    if ((env as Record<string, string>).RECORDING_CONSENT) {
      const callSid = [...bridge.twilio.calls.keys()][0]!;
      await bridge.twilio.gather(callSid, { digits: '9' });
    }
    const res = await post('pause_recording', callId);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ status: 'not_allowed', result: 'This call is not being recorded, so there is nothing to pause or resume.' });
    expect(statusUpdates()).toEqual([]);
  });

  it('when Twilio refuses the pause, then the agent is told in the live call that the call is still being recorded', async () => {
    const { callSid, callId } = await recordedCall();
    bridge.twilio.recordings.injections.push({ kind: 'error', status: 404, code: 20404, message: 'The requested resource was not found' });
    expect((await post('pause_recording', callId)).status).toBe(200);
    const update = await waitFor('the agent to be told', () => bridge.retell.liveUpdates[0]);
    expect(update.body).toEqual({ call_control: { additional_context: expect.stringContaining('Pausing the recording did not work: the call is still being recorded.'), trigger_response: true } });
    expect(await bridge.calls.recordingControl(callSid)).toMatchObject({ status: 'failed', error: expect.stringContaining('20404') });
    // Failed, it may be asked again: a new job.
    expect(await (await post('pause_recording', callId)).json()).toMatchObject({ status: 'queued', job_id: `pause_recording-${callSid}-2` });
  });

  it('when the call has ended, then pause_recording is answered 410', async () => {
    const { callSid, callId } = await recordedCall();
    await bridge.calls.twilioStatus(callSid, 'completed', new Date().toISOString(), '12');
    expect((await post('pause_recording', callId)).status).toBe(410);
  });
});
