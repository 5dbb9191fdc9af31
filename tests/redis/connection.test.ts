import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { loadConfig } from '../../src/config';
import { clusterOptions, createRedis, redisOptions } from '../../src/redis/connection';
import { memoryLogger } from '../support/logs';
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

  it('when Redis answers READONLY (a demoted master after a failover), then the request path reconnects and fails the command, and the worker resends it', () => {
    const config = loadConfig(testEnv());
    const readonly = new Error("READONLY You can't write against a read only replica.");
    expect(redisOptions(config.redis, 'request').reconnectOnError!(readonly)).toBe(1);
    expect(redisOptions(config.redis, 'blocking').reconnectOnError!(readonly)).toBe(2);
    expect(redisOptions(config.redis, 'blocking').reconnectOnError!(new Error('ERR wrong number of arguments'))).toBe(false);
  });
});

describe('Redis Cluster connection options', () => {
  const cluster = (extra: Record<string, string> = {}) =>
    loadConfig(testEnv({ REDIS_URL: undefined, REDIS_CLUSTER_NODES: 'clustercfg.bridge.example.com:6379', ...extra })).redis;

  it('when the role is request, then commands fail fast; when blocking, they outlast a failover of a minute', () => {
    const request = clusterOptions(cluster(), 'request');
    expect(request).toMatchObject({ enableOfflineQueue: false, redisOptions: { commandTimeout: 1500, maxRetriesPerRequest: 1 } });
    const blocking = clusterOptions(cluster(), 'blocking');
    expect(blocking).toMatchObject({ enableOfflineQueue: true, redisOptions: { maxRetriesPerRequest: null } });
    expect(blocking.maxRedirections! * blocking.retryDelayOnFailover!).toBeGreaterThanOrEqual(60_000);
    expect(blocking.maxRedirections! * blocking.retryDelayOnClusterDown!).toBeGreaterThanOrEqual(60_000);
  });

  it('when REDIS_TLS, REDIS_USERNAME and REDIS_PASSWORD are set, then every node connection uses them and certificates are checked against the host name', () => {
    const settings = cluster({ REDIS_TLS: 'true', REDIS_USERNAME: 'bridge', REDIS_PASSWORD: 's3cret', REDIS_TLS_REJECT_UNAUTHORIZED: 'false' });
    const client = new Cluster([...settings.cluster!], { ...clusterOptions(settings, 'request'), lazyConnect: true });
    expect(client.options.redisOptions).toMatchObject({ tls: { rejectUnauthorized: false }, username: 'bridge', password: 's3cret' });
    const resolved = jest.fn();
    client.options.dnsLookup!('clustercfg.bridge.example.com', resolved);
    expect(resolved).toHaveBeenCalledWith(null, 'clustercfg.bridge.example.com');
    client.disconnect();
  });

  it('when REDIS_CLUSTER_NODES is set, then every role gets a Cluster client, the blocking one as BullMQ requires', async () => {
    const { logger } = memoryLogger('silent');
    for (const role of ['request', 'queue', 'blocking'] as const) {
      const client = createRedis({ ...cluster(), cluster: [{ host: '127.0.0.1', port: 1 }] }, role, logger);
      expect(client).toBeInstanceOf(Cluster);
      // BullMQ refuses a blocking connection whose node options allow a bounded number of retries.
      if (role === 'blocking') expect((client as Cluster).options.redisOptions?.maxRetriesPerRequest).toBeNull();
      client.disconnect();
    }
  });
});

describe('Sentinel connection options', () => {
  const sentinel = (extra: Record<string, string> = {}) =>
    loadConfig(testEnv({ REDIS_URL: undefined, REDIS_SENTINELS: '10.0.0.5:26379,10.0.0.6:26379', REDIS_SENTINEL_NAME: 'mymaster', ...extra })).redis;

  it('when REDIS_SENTINELS and REDIS_SENTINEL_NAME are set, then the client asks those sentinels for that master, with each password where it belongs', () => {
    const settings = sentinel({ REDIS_PASSWORD: 'master-pw', REDIS_SENTINEL_PASSWORD: 'sentinel-pw' });
    const client = new Redis({ ...redisOptions(settings, 'request'), lazyConnect: true });
    expect(client.options).toMatchObject({
      sentinels: [{ host: '10.0.0.5', port: 26379 }, { host: '10.0.0.6', port: 26379 }],
      name: 'mymaster',
      password: 'master-pw',
      sentinelPassword: 'sentinel-pw',
      enableOfflineQueue: false,
      commandTimeout: 1500,
    });
    expect(client.options.tls).toBeUndefined();
    client.disconnect();
  });

  it('when REDIS_TLS is true, then the sentinels and the master are both reached over TLS', () => {
    const client = new Redis({ ...redisOptions(sentinel({ REDIS_TLS: 'true' }), 'blocking'), lazyConnect: true });
    expect(client.options).toMatchObject({
      tls: { rejectUnauthorized: true },
      sentinelTLS: { rejectUnauthorized: true },
      enableTLSForSentinelMode: true,
      maxRetriesPerRequest: null,
    });
    client.disconnect();
  });
});
