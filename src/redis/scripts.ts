import type { RedisClient } from './connection';

/**
 * Defines each Lua script (one key each) as a command on `redis`, and returns the client typed with
 * them. defineCommand is idempotent per name, so repositories sharing a connection may each define theirs.
 */
export function withScripts<T>(redis: RedisClient, scripts: Record<string, string>): RedisClient & T {
  for (const [name, lua] of Object.entries(scripts)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  return redis as RedisClient & T;
}
