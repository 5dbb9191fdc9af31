/**
 * The fake Twilio's Conferences and Participants resources, read through twilio-node itself: the rooms
 * `<Dial><Conference>` makes, their `CF…` sids, the filters and paging of the list, the caller's
 * participant (404 once they left), and a conference ending when a participant with
 * `endConferenceOnExit` leaves.
 */
import { randomBytes } from 'node:crypto';
import type { Twilio } from 'twilio';
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';
import { sayAndHangupTwiml } from '../../src/twilio/twiml';
import { joinConferenceTwiml } from '../../src/features/warm-transfer/twiml';
import { twilioNodeClient } from '../support/twilio-node-client';

const ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
const AUTH_TOKEN = 'fake_auth_token';
const callSid = () => `CA${randomBytes(16).toString('hex')}`;

describe('FakeTwilioApi: Conferences and their Participants', () => {
  let api: FakeTwilioApi;
  let client: Twilio;
  beforeEach(async () => {
    api = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
    client = twilioNodeClient({ baseUrl: api.url, accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, timeoutMs: 4000 });
  });
  afterEach(() => api.stop());

  /** Two live calls in room `room`, as the bridge's warm transfer puts them there. */
  function twoInRoom(room: string) {
    const person = api.addCall(callSid(), '+14155550199', '+14155550101');
    const caller = api.addCall(callSid());
    api.playTwiml(person.sid, joinConferenceTwiml(room, { starts: true }));
    api.playTwiml(caller.sid, joinConferenceTwiml(room, { starts: true }));
    return { person, caller };
  }

  it('when two calls dial the same room, then one conference lists in-progress under that name, with both as connected participants', async () => {
    const { person, caller } = twoInRoom('x-room-1');
    twoInRoom('x-room-2');

    const found = await client.conferences.list({ friendlyName: 'x-room-1', status: 'in-progress', limit: 20, pageSize: 20 });
    expect(found).toHaveLength(1);
    const [conference] = found;
    expect(conference!.sid).toMatch(/^CF[0-9a-f]{32}$/);
    expect(conference).toMatchObject({ accountSid: ACCOUNT_SID, friendlyName: 'x-room-1', status: 'in-progress', apiVersion: '2010-04-01' });
    expect(conference!.dateCreated).toBeInstanceOf(Date);
    expect(conference!.uri).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Conferences/${conference!.sid}.json`);
    expect(conference!.subresourceUris.participants).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Conferences/${conference!.sid}/Participants.json`);
    expect((await client.conferences(conference!.sid).fetch()).friendlyName).toBe('x-room-1');

    const participant = await client.conferences(conference!.sid).participants(caller.sid).fetch();
    expect(participant).toMatchObject({
      accountSid: ACCOUNT_SID,
      callSid: caller.sid,
      conferenceSid: conference!.sid,
      status: 'connected',
      startConferenceOnEnter: true,
      endConferenceOnExit: true,
      muted: false,
      hold: false,
    });
    expect((await client.conferences(conference!.sid).participants(person.sid).fetch()).callSid).toBe(person.sid);
    expect(api.requests.filter((r) => r.method === 'GET' && r.path.includes('/Conferences')).map((r) => r.path)).toContain(
      `/2010-04-01/Accounts/${ACCOUNT_SID}/Conferences/${conference!.sid}/Participants/${caller.sid}.json`,
    );
    const list = api.requests.find((r) => r.path.endsWith('/Conferences.json'))!;
    expect(Object.fromEntries(list.query)).toEqual({ FriendlyName: 'x-room-1', Status: 'in-progress', PageSize: '20' });
  });

  it('when a call is not in the conference, then its participant is 404 with Twilio\'s error shape', async () => {
    const { caller } = twoInRoom('x-room-1');
    const elsewhere = api.addCall(callSid());
    const [conference] = await client.conferences.list({ friendlyName: 'x-room-1', status: 'in-progress' });
    await expect(client.conferences(conference!.sid).participants(elsewhere.sid).fetch()).rejects.toMatchObject({ status: 404, code: 20404 });

    api.playTwiml(caller.sid, sayAndHangupTwiml('Goodbye.'));
    await expect(client.conferences(conference!.sid).participants(caller.sid).fetch()).rejects.toMatchObject({ status: 404, code: 20404 });
    await expect(client.conferences(`CF${'0'.repeat(32)}`).fetch()).rejects.toMatchObject({ status: 404 });
  });

  it('when a participant with endConferenceOnExit is redirected, then the conference completes, the other leg hangs up, and dialing the room again makes a new conference', async () => {
    const { person, caller } = twoInRoom('x-room-1');
    const [first] = await client.conferences.list({ friendlyName: 'x-room-1', status: 'in-progress' });

    // The same redirect again: the caller leaves (ending the conference) and rejoins an empty room.
    api.playTwiml(caller.sid, joinConferenceTwiml('x-room-1', { starts: true }));

    expect(person.status).toBe('completed');
    const ended = await client.conferences(first!.sid).fetch();
    expect(ended).toMatchObject({ status: 'completed', reasonConferenceEnded: 'participant-with-end-conference-on-exit-left', callSidEndingConference: caller.sid });
    const live = await client.conferences.list({ friendlyName: 'x-room-1', status: 'in-progress' });
    expect(live).toHaveLength(1);
    expect(live[0]!.sid).not.toBe(first!.sid);
    expect(api.inConference('x-room-1').map((c) => c.sid)).toEqual([caller.sid]);
    expect((await client.conferences.list({ friendlyName: 'x-room-1' })).map((c) => c.status).sort()).toEqual(['completed', 'in-progress']);
  });

  it('when the caller hangs up, then they leave the conference and it ends', async () => {
    const { person, caller } = twoInRoom('x-room-1');
    await client.calls(caller.sid).update({ status: 'completed' });
    expect(person.status).toBe('completed');
    expect(await client.conferences.list({ friendlyName: 'x-room-1', status: 'in-progress' })).toEqual([]);
    expect(api.inConference('x-room-1')).toEqual([]);
  });

  it('when the list is longer than a page, then it pages as Twilio does and twilio-node follows next_page_uri', async () => {
    for (let i = 0; i < 5; i++) twoInRoom(`x-room-${i}`);
    const page = await client.conferences.page({ status: 'in-progress', pageSize: 2 });
    expect(page.instances).toHaveLength(2);
    expect(page.nextPageUrl).toContain('/Conferences.json?');
    const all = await client.conferences.list({ status: 'in-progress', pageSize: 2 });
    expect(new Set(all.map((c) => c.friendlyName)).size).toBe(5);
    expect(await client.conferences.list({ friendlyName: 'x-none' })).toEqual([]);
  });
});
