import type { RedisClient } from '../redis/connection';

/**
 * Redis key names. Everything about one Twilio call lives in a single hash whose hash tag is the
 * CallSid, so the scripts that touch it stay in one slot on Redis Cluster. The Retell call_id index
 * is a separate key (a different slot), written beside the record but never inside a script with it.
 */
export interface CallKeys {
  record(callSid: string): string;
  byRetellId(callId: string): string;
  /** SCAN pattern matching every key above, for tests and maintenance tools. */
  pattern: string;
}

export function callKeys(prefix: string): CallKeys {
  return {
    record: (callSid) => `${prefix}:call:{${callSid}}`,
    byRetellId: (callId) => `${prefix}:retell-call:{${callId}}`,
    pattern: `${prefix}:*`,
  };
}

/**
 * Defines each Lua script (one key: the call record) as a command on `redis`, and returns the client
 * typed with them. defineCommand is idempotent per name, so the classes sharing a connection may each
 * define theirs.
 */
export function withScripts<T>(redis: RedisClient, scripts: Record<string, string>): RedisClient & T {
  for (const [name, lua] of Object.entries(scripts)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  return redis as RedisClient & T;
}
