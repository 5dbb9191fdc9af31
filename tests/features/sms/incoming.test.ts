/**
 * The messaging webhook (POST /twilio/sms): a person texting an opt-out keyword to one of the bridge's
 * numbers is handed to the do-not-call list, here a Redis set written by the test's own function; the
 * fake Twilio posts each message signed as Twilio does, and then refuses texts to that person.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import { NO_EVENTS } from '../../../src/features/events';
import { isOptOut, SmsRepository, smsRoutes } from '../../../src/features/sms';
import { Metrics } from '../../../src/observability/metrics';
import { FakeTwilioApi } from '../../../src/sandbox/fake-twilio';
import { createTwilioClient } from '../../../src/twilio/client';
import { errorHandler } from '../../../src/web/error-handler';
import { PUBLIC_URL, startBridge } from '../../support/bridge';
import { memoryLogger } from '../../support/logs';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis';
import { ACCOUNT_SID, AUTH_TOKEN, postSigned } from '../../support/twilio-signing';

const BUSINESS = '+14155550100';
const CALLER = '+14155550199';

describe('POST /twilio/sms', () => {
  let redis: Redis;
  let prefix: string;
  let server: Server;
  let url: string;
  let fake: FakeTwilioApi;
  const optedOut = () => redis.smembers(`${prefix}:dnc`);

  beforeEach(async () => {
    prefix = uniquePrefix('sms-in');
    redis = new Redis(TEST_REDIS_URL);
    fake = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
    fake.addNumber(BUSINESS);
    const app = express();
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { logger } = memoryLogger('silent');
    app.use(
      smsRoutes({
        config: { publicUrl: url, twilio: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN } },
        texts: new SmsRepository(redis, prefix),
        events: NO_EVENTS,
        // The do-not-call list's part, played by a Redis set.
        onOptOut: async (number) => {
          await redis.sadd(`${prefix}:dnc`, number);
        },
        logger,
        metrics: new Metrics({ defaultMetrics: false }),
      }),
    );
    app.use(errorHandler(logger));
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await fake.stop();
    await deletePrefix(prefix);
    redis.disconnect();
  });

  it.each(['STOP', 'stop', ' Unsubscribe ', 'quit', 'StopAll', 'cancel', 'END'])('when a person texts %j, then they are put on the do-not-call list, and Twilio refuses texts to them from then on', async (body) => {
    const sent = await fake.messages.messageTo(`${url}/twilio/sms`, CALLER, BUSINESS, body);
    expect(sent.status).toBe(200);
    expect(sent.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    expect(await optedOut()).toEqual([CALLER]);
    const client = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: fake.url });
    await expect(client.messages.create({ to: CALLER, from: BUSINESS, body: 'hello' })).rejects.toMatchObject({ status: 400, code: 21610 });
  });

  it.each(['Stop by tomorrow please', 'Thanks!', 'yes', ''])('when a person texts %j, then nothing is put on the list', async (body) => {
    expect((await fake.messages.messageTo(`${url}/twilio/sms`, CALLER, BUSINESS, body)).status).toBe(200);
    expect(await optedOut()).toEqual([]);
  });

  it('when Twilio marks a message OptOutType=STOP (a keyword in another language), then the sender is put on the list', async () => {
    const res = await postSigned(url, url, '/twilio/sms', { AccountSid: ACCOUNT_SID, MessageSid: `SM${'2'.repeat(32)}`, From: CALLER, To: BUSINESS, Body: 'ARRET', OptOutType: 'STOP' });
    expect(res.status).toBe(200);
    expect(await optedOut()).toEqual([CALLER]);
  });

  it.each([
    ['unsigned', { From: CALLER }, { signature: null }, 403],
    ['signed with another token', { From: CALLER }, { token: 'another-token-0123456789' }, 403],
    ['without a From', {}, {}, 400],
    ['from another account', { From: CALLER, AccountSid: `AC${'9'.repeat(32)}` }, {}, 400],
  ] as const)('when the request is %s, then it is refused and nothing is put on the list', async (_what, fields, opts, status) => {
    const params = { AccountSid: ACCOUNT_SID, MessageSid: `SM${'3'.repeat(32)}`, To: BUSINESS, Body: 'STOP', ...fields };
    const res = await postSigned(url, url, '/twilio/sms', params, opts as never);
    expect(res.status).toBe(status);
    expect(await optedOut()).toEqual([]);
  });

  it('when the opt-out keywords are matched, then only the whole message counts, without case', () => {
    expect([isOptOut('STOP', undefined), isOptOut('stop!', undefined), isOptOut('stopping', undefined), isOptOut('hi', 'STOP'), isOptOut('START', 'START')]).toEqual([true, true, false, true, false]);
  });
});

describe('POST /twilio/sms on the bridge', () => {
  it('when the bridge gets a signed STOP, then it answers an empty messaging response; unsigned, 403', async () => {
    const bridge = await startBridge();
    try {
      const params = { AccountSid: ACCOUNT_SID, MessageSid: `SM${'4'.repeat(32)}`, From: CALLER, To: BUSINESS, Body: 'STOP', OptOutType: 'STOP' };
      const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/sms', params);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/xml');
      expect(bridge.lines.some((l) => l.includes('opt-out keyword received'))).toBe(true);
      expect((await postSigned(bridge.url, PUBLIC_URL, '/twilio/sms', params, { signature: null })).status).toBe(403);
    } finally {
      await bridge.close();
    }
  });
});
