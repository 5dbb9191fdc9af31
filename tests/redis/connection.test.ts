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
    // The Twilio REST client keeps verifying certificates.
    const twilio = createTwilioClient(config.twilio);
    expect((twilio.httpClient as unknown as { request: unknown }).request).toBeDefined();
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
