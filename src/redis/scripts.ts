import type { RedisClient } from './connection';

/** Lua scripts by command name: the script, or the script and how many keys it takes (one otherwise). */
export type Scripts = Record<string, string | { lua: string; keys: number }>;

/**
 * Defines each Lua script as a command on `redis` (one key, unless it says how many), and returns the client
 * typed with them. defineCommand is idempotent per name, so repositories sharing a connection may each define theirs.
 */
export function withScripts<T>(redis: RedisClient, scripts: Scripts): RedisClient & T {
  for (const [name, script] of Object.entries(scripts)) {
    const { lua, keys } = typeof script === 'string' ? { lua: script, keys: 1 } : script;
    redis.defineCommand(name, { numberOfKeys: keys, lua });
  }
  return redis as RedisClient & T;
}

/**
 * What every store owning a family of keys starts from: its key names (built from the prefix by the
 * store's own function) and the client with its scripts defined (withScripts), typed with `Commands`.
 */
export abstract class ScriptedStore<Keys, Commands> {
  readonly keys: Keys;
  protected readonly redis: RedisClient & Commands;

  protected constructor(redis: RedisClient, keys: Keys, scripts: Scripts) {
    this.keys = keys;
    this.redis = withScripts<Commands>(redis, scripts);
  }
}

/**
 * Lua for the exactly-once runner's marks (src/jobs/effect.ts) on an effect kept as JSON in a hash field
 * (a call's action, a recording pause or resume, a text): `mark_effect(e, uncertain, takeovers, started)`
 * marks the request possibly sent ('1') or surely not ('0'), opening the deadline window again only on a
 * takeover by a newer job; `settle_effect(e, status, err)` records the end (done or failed).
 */
export const EFFECT_MARKS = `
local function mark_effect(e, uncertain, takeovers, started)
  if uncertain == '1' then
    e.uncertain = true
    local t = tonumber(takeovers)
    if not e.startedAt or t > (e.takeovers or 0) then
      e.startedAt = started
      e.takeovers = t
    end
  elseif uncertain == '0' then
    e.uncertain = nil
  end
end
local function settle_effect(e, status, err)
  e.status = status
  e.uncertain = nil
  if err ~= '' then e.error = err end
end
`;
