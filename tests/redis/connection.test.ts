import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config';
import { redisOptions } from '../../src/redis/connection';
import { createTwilioClient } from '../../src/twilio/client';
import { testEnv } from '../support/bridge';

describe('Redis connection options', () => {
  it('when REDIS_URL is rediss:// and REDIS_TLS_REJECT_UNAUTHORIZED=false (Heroku), then only the Redis client accepts a self-signed certificate', () => {
    const config = loadConfig(testEnv({ REDIS_URL: 'rediss://:secret@ec2-1-2-3-4.compute-1.amazonaws.com:12345', REDIS_TLS_REJECT_UNAUTHORIZED: 'false' }));
    for (const role of ['request', 'queue', 'blocking'] as const) {
      const client = new Redis(config.redis.url, { ...redisOptions(config.redis, role), lazyConnect: true });
      expect(client.options.tls).toEqual({ rejectUnauthorized: false });
      expect(client.options.host).toBe('ec2-1-2-3-4.compute-1.amazonaws.com');
      expect(client.options.port).toBe(12345);
      expect(client.options.password).toBe('secret');
      client.disconnect();
    }
    expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBeUndefined();
  });

  it('when Redis certificate checks are off, then the Twilio REST client still refuses a self-signed certificate', async () => {
    const fixtures = path.join(__dirname, '../support/fixtures');
    let requests = 0;
    const server = https.createServer(
      { key: readFileSync(path.join(fixtures, 'self-signed.key')), cert: readFileSync(path.join(fixtures, 'self-signed.crt')) },
      (_req, res) => {
        requests += 1;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"sid":"CA00000000000000000000000000000000","status":"completed"}');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const config = loadConfig(
        testEnv({
          REDIS_URL: 'rediss://:secret@127.0.0.1:6380',
          REDIS_TLS_REJECT_UNAUTHORIZED: 'false',
          TWILIO_API_BASE_URL: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
        }),
      );
      const twilio = createTwilioClient(config.twilio);
      const update = twilio.calls('CA00000000000000000000000000000000').update({ status: 'completed' });
      await expect(update).rejects.toThrow(/self[- ]signed certificate/i);
      expect(requests).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('when REDIS_URL is rediss:// with the default setting, then the certificate is verified', () => {
    const config = loadConfig(testEnv({ REDIS_URL: 'rediss://redis.example.com:6380' }));
    const client = new Redis(config.redis.url, { ...redisOptions(config.redis, 'request'), lazyConnect: true });
    expect(client.options.tls).toEqual({ rejectUnauthorized: true });
    client.disconnect();
  });

  it('when REDIS_URL is redis://, then no TLS is used', () => {
    const config = loadConfig(testEnv({ REDIS_URL: 'redis://10.0.0.5:6379' }));
    const client = new Redis(config.redis.url, { ...redisOptions(config.redis, 'request'), lazyConnect: true });
    expect(client.options.tls).toBeUndefined();
    client.disconnect();
  });

  it('when the role is request, then commands fail fast; when blocking, they wait (as BullMQ workers require)', () => {
    const config = loadConfig(testEnv());
    expect(redisOptions(config.redis, 'request')).toMatchObject({ enableOfflineQueue: false, commandTimeout: 1500, maxRetriesPerRequest: 1 });
    expect(redisOptions(config.redis, 'blocking')).toMatchObject({ maxRetriesPerRequest: null });
  });

  it('when REDIS_TLS_REJECT_UNAUTHORIZED is not a boolean, then configuration fails naming it', () => {
    expect(() => loadConfig(testEnv({ REDIS_TLS_REJECT_UNAUTHORIZED: 'no' }))).toThrow(/REDIS_TLS_REJECT_UNAUTHORIZED must be true or false/);
  });
});
