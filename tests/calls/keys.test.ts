/**
 * Redis Cluster runs a script only when every key it touches is in one hash slot. The bridge's scripts
 * each declare one key (withScripts), and these checks keep them from reaching any other.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import clusterKeySlot from 'cluster-key-slot';
import { callKeys } from '../../src/calls/repository';
import { campaignKeys } from '../../src/features/campaigns/repository';
import { queuePrefix } from '../../src/jobs/queues';

const SRC = path.resolve(__dirname, '../../src');

/** Every Lua script in src/ (template literals that call redis.call), with the file it is in. */
function scripts(): Array<{ file: string; lua: string }> {
  const found: Array<{ file: string; lua: string }> = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, name.name);
      if (name.isDirectory()) walk(full);
      else if (name.name.endsWith('.ts')) {
        for (const [, lua] of readFileSync(full, 'utf8').matchAll(/`([^`]*redis\.call[^`]*)`/g)) found.push({ file: path.relative(SRC, full), lua: lua! });
      }
    }
  };
  walk(SRC);
  return found;
}

describe('Redis keys and scripts on a Cluster', () => {
  it('when a script calls Redis, then every key it names is KEYS[1], the one key it declares', () => {
    const found = scripts();
    expect(found.length).toBeGreaterThanOrEqual(8);
    // Shared Lua helpers take the key as their first parameter; each call of one must pass KEYS[1].
    const helpers = new Map<string, string>();
    for (const { lua } of found) for (const [, name, param] of lua.matchAll(/local function (\w+)\((\w+)/g)) helpers.set(name!, param!);
    const strays: string[] = [];
    for (const { file, lua } of found) {
      // A campaign's keys all carry its `{cmp_…}` tag (one slot: see below), so its scripts may declare
      // several and derive others from them; checked apart.
      if (file.startsWith(`features${path.sep}campaigns${path.sep}`)) continue;
      // The exceptions, by their marker: the voice webhook's claim with the recent-calls index, and its
      // answer stored with the call's first event, which the repository sends only to a Redis that is not
      // a Cluster (tests/features/console/recent-calls.test.ts, tests/calls/repository.test.ts).
      if (lua.includes('-- two keys: never run on a Cluster')) continue;
      for (const [call, command, key] of lua.matchAll(/redis\.call\('(\w+)'(?:,\s*([^,)]+))?/g)) {
        if (command === 'TIME') continue;
        const k = key?.trim() ?? '';
        if (k !== 'KEYS[1]' && ![...helpers.values()].includes(k)) strays.push(`${file}: ${call}`);
      }
      for (const [name] of helpers) {
        for (const [call, arg] of lua.matchAll(new RegExp(`(?<!function )\\b${name}\\(([^,)]*)`, 'g'))) {
          // Inside another helper, the key is that helper's own key parameter.
          if (arg!.trim() !== 'KEYS[1]' && ![...helpers.values()].includes(arg!.trim())) strays.push(`${file}: ${call}`);
        }
      }
      if (/KEYS\[[2-9]\]/.test(lua)) strays.push(`${file}: uses a second key`);
    }
    expect(strays).toEqual([]);
  });

  it("when a campaign's script calls Redis, then every key it names is one it declares, or one derived from a declared key by a suffix (keeping its tag)", () => {
    const campaignScripts = scripts().filter(({ file }) => file.startsWith(`features${path.sep}campaigns${path.sep}`));
    expect(campaignScripts.length).toBeGreaterThanOrEqual(5);
    const strays: string[] = [];
    for (const { file, lua } of campaignScripts) {
      // A helper's parameters stand for the keys its callers pass (checked at each call below).
      const params = new Set([...lua.matchAll(/local function \w+\(([^)]*)\)/g)].flatMap(([, list]) => list!.split(',').map((p) => p.trim())));
      const declared = (expr: string) => /^KEYS\[\d+\]$/.test(expr) || params.has(expr);
      const derived = (expr: string) => declared(expr.split('..')[0]!.trim());
      for (const [call, command, key] of lua.matchAll(/redis\.call\('(\w+)'(?:,\s*([^,)]+))?/g)) {
        if (command === 'TIME') continue;
        if (!derived(key?.trim() ?? '')) strays.push(`${file}: ${call}`);
      }
    }
    expect(strays).toEqual([]);
  });

  it("when a campaign's keys are named, then they all hash to one Cluster slot", () => {
    const k = campaignKeys('bridge');
    const id = 'cmp_0123456789abcdef';
    const names = [k.campaign(id), k.tasks(id), k.data(id), k.numbers(id), k.due(id), k.inflight(id), k.requests(id), k.vars(id), k.byStatus(id, 'pending'), `${k.campaign(id)}:by:canceled`];
    expect(new Set(names.map((n) => clusterKeySlot(n))).size).toBe(1);
  });

  it("when keys are named, then a call's record is tagged with its CallSid and the queue's keys share the prefix's tag", () => {
    const keys = callKeys('bridge');
    expect(keys.record('CA0123')).toBe('bridge:call:{CA0123}');
    expect(keys.byRetellId('call_abc')).toBe('bridge:retell-call:{call_abc}');
    expect(queuePrefix('bridge')).toBe('{bridge}');
  });
});
