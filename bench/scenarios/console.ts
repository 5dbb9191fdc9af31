/**
 * The console's pages under load of data: a bridge whose Redis holds 10,000 recent calls (inbound and
 * outbound, every state, some transferred), one of them with a full timeline (Twilio requests, events,
 * a warm transfer), and 2,000 events. Each page is fetched one request at a time, as an operator's
 * browser does, after a warm-up; the report gives the median and p95 time to the whole page. The goal is
 * ≤ 300 ms per page.
 */
import { CallRepository } from '../../src/calls/repository';
import type { CallRecord } from '../../src/calls/record';
import { EventStore, type BridgeEvent } from '../../src/features/events';
import { fmt, median, type Section } from '../lib/report';
import type { Scenario, ScenarioContext } from './types';

const PASSWORD = 'bench-console-password';
const API_TOKEN = 'bench-console-api-token-0123456789';
const TASKS = 100_000;
const CALLS = 10_000;
const EVENTS = 2_000;
const WARMUP = 5;
const SAMPLES = 40;
const GOAL_MS = 300;
const STATES = ['ended', 'ended', 'ended', 'transferred', 'in-progress', 'registered', 'fallback'] as const;

const sid = (n: number) => `CA${n.toString(16).padStart(32, '0')}`;

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)] ?? NaN;
}

/** A campaign of 100,000 tasks, through the API as a user makes one (10,000 a request), waiting for its start time. */
async function seedCampaign(ctx: ScenarioContext, url: string): Promise<string> {
  const headers = { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' };
  const created = await fetch(`${url}/campaigns`, {
    method: 'POST',
    headers: { ...headers, 'idempotency-key': 'bench-console' },
    body: JSON.stringify({ name: 'Bench: 100,000 tasks', start_at: new Date(Date.now() + 30 * 24 * 3600_000).toISOString() }),
  });
  if (created.status !== 201) throw new Error(`POST /campaigns answered ${created.status}: ${await created.text()}`);
  const id = ((await created.json()) as { id: string }).id;
  for (let start = 0; start < TASKS; start += 10_000) {
    const tasks = Array.from({ length: 10_000 }, (_, i) => ({ to: `+1212${String(2_000_000 + start + i).padStart(7, '0')}`, dynamic_variables: { name: `Customer ${start + i}` } }));
    const res = await fetch(`${url}/campaigns/${id}/tasks`, { method: 'POST', headers: { ...headers, 'idempotency-key': `bench-console-${start}` }, body: JSON.stringify({ tasks }) });
    if (res.status !== 200) throw new Error(`POST /campaigns/${id}/tasks answered ${res.status}: ${await res.text()}`);
    ctx.log(`campaign tasks: ${start + 10_000}`);
  }
  const view = (await (await fetch(`${url}/campaigns/${id}`, { headers })).json()) as { counts: { total: number } };
  if (view.counts.total !== TASKS) throw new Error(`the campaign holds ${view.counts.total} tasks, not ${TASKS}`);
  return id;
}

/** 10,000 calls over the last hours, the newest one with a full timeline; returns the rich call's CallSid. */
async function seed(ctx: ScenarioContext, prefix: string): Promise<string> {
  const redis = ctx.env.redis.client;
  const calls = new CallRepository(redis, prefix);
  const events = new EventStore(redis, prefix, 24 * 3600 * 1000);
  const now = Date.now();
  for (let start = 0; start < CALLS; start += 500) {
    const batch: Array<Promise<unknown>> = [];
    for (let n = start; n < Math.min(CALLS, start + 500); n++) {
      const at = new Date(now - (CALLS - n) * 2000).toISOString();
      const state = STATES[n % STATES.length]!;
      const record: CallRecord = {
        callSid: sid(n + 1),
        accountSid: `AC${'0'.repeat(32)}`,
        from: `+1415${String(5_000_000 + n).padStart(7, '0')}`,
        to: '+14155550100',
        direction: n % 4 === 0 ? 'outbound' : 'inbound',
        state,
        createdAt: at,
        updatedAt: at,
        callId: `call_${n.toString(16).padStart(24, '0')}`,
        agentId: 'agent_bench',
        ...(state === 'ended' ? { answeredAt: at, endedAt: new Date(Date.parse(at) + 95_000).toISOString(), duration: '95', endReason: 'completed' } : {}),
        ...(state === 'transferred' ? { action: JSON.stringify({ kind: 'transfer', seq: 1, jobId: `transfer-${sid(n + 1)}-1`, status: 'done', target: '+16465550100', answer: 'Transferring you now.', requestedAt: at }) } : {}),
      };
      batch.push(calls.adopt(record));
    }
    await Promise.all(batch);
  }
  const rich = sid(CALLS);
  const t = Date.now();
  const warm = { id: `warm_transfer-${rich}-1`, status: 'transfer_accepted', target: '+16465550100', label: 'sales', summary: 'Wants to upgrade to Business.', from: '+14155559999', legSid: sid(CALLS + 1), placedAt: new Date(t).toISOString(), acceptedAt: new Date(t + 9000).toISOString() };
  await calls.update(rich, {
    warmTransfer: JSON.stringify(warm),
    twiml: '<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Sip>sip:call_x@sip.retellai.com;transport=tcp</Sip></Dial></Response>',
    summary: 'The caller asked about an upgrade and was put through to sales.',
  });
  for (let i = 0; i < 30; i++) {
    await calls.logTwilioRequest(rich, { at: new Date(t + i * 100).toISOString(), method: 'POST', path: `/2010-04-01/Accounts/AC${'0'.repeat(32)}/Calls/${rich}.json`, status: i % 10 === 9 ? 429 : 200, durationMs: 80 + i, ...(i % 10 === 9 ? { errorCode: 20429 } : {}) });
  }
  const evts: Array<{ event: BridgeEvent; body: string; endpoints: string[] }> = [];
  for (let i = 0; i < EVENTS; i++) {
    const callSid = i < 10 ? rich : sid((i % CALLS) + 1);
    const event = { id: `evt_${(t + i).toString(36).padStart(9, '0')}${String(i).padStart(18, '0')}`, type: 'call.ended', timestamp: new Date(t - (EVENTS - i) * 1000).toISOString(), data: { call_sid: callSid, direction: 'inbound', from: '+14155550199', to: '+14155550100' } } as unknown as BridgeEvent;
    evts.push({ event, body: JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data }), endpoints: ['events'] });
  }
  for (let i = 0; i < evts.length; i += 200) await events.recordAll(evts.slice(i, i + 200));
  return rich;
}

const CLAIMS = 20_000;

async function redisCpuSeconds(ctx: ScenarioContext): Promise<number> {
  const info = await ctx.env.redis.client.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? NaN);
  return get('used_cpu_user') + get('used_cpu_sys');
}

/**
 * What the recent-calls index adds to the voice webhook's claim: the claim as the webhook makes it (the
 * record's script and, in the same tick, the index's) against the claim with the index's write left out,
 * 20,000 new calls each, 50 at a time, in alternating rounds: this process's CPU and Redis's CPU per claim.
 */
async function claimCost(ctx: ScenarioContext): Promise<Section> {
  const redis = ctx.env.redis.client;
  const runs: Record<'with' | 'without', Array<{ client: number; server: number; ms: number }>> = { with: [], without: [] };
  for (let round = 0; round < 6; round++) {
    for (const withIndex of round % 2 ? [false, true] : [true, false]) {
      const repo = new CallRepository(redis, `bench-claim-${round}-${withIndex ? 'w' : 'o'}`);
      // Bench only: the claim as it was before the index (its script alone, no pipeline), to see what the index costs.
      if (!withIndex) Object.assign(repo, { clustered: true, indexRecent: () => Promise.resolve(0) });
      let n = 0;
      const cpu0 = process.cpuUsage();
      const redis0 = await redisCpuSeconds(ctx);
      const t0 = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (n < CLAIMS) {
            const callSid = `CA${round}${withIndex ? 'a' : 'b'}${String(n++).padStart(30, '0')}`;
            const now = new Date().toISOString();
            await repo.claimAnswer(callSid, 'bench', 5000, { callSid, accountSid: `AC${'0'.repeat(32)}`, from: '+14155550199', to: '+14155550100', direction: 'inbound', state: 'registering', createdAt: now, updatedAt: now });
          }
        }),
      );
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const cpu = process.cpuUsage(cpu0);
      const server = ((await redisCpuSeconds(ctx)) - redis0) * 1e6;
      runs[withIndex ? 'with' : 'without'].push({ client: (cpu.user + cpu.system) / CLAIMS, server: server / CLAIMS, ms });
    }
  }
  const m = (k: 'with' | 'without', f: 'client' | 'server' | 'ms') => median(runs[k].map((r) => r[f]));
  const row = (k: 'with' | 'without', label: string) => [label, fmt.us(m(k, 'client')), fmt.us(m(k, 'server')), fmt.int((CLAIMS / m(k, 'ms')) * 1000)];
  return {
    title: `The voice webhook's claim with and without the recent-calls index (${CLAIMS.toLocaleString('en-US')} new calls, 50 at once, median of 6 alternating rounds)`,
    header: ['claim', 'client CPU/claim', 'Redis CPU/claim', 'claims/s'],
    rows: [row('without', 'record only (the claim before the index)'), row('with', 'record + index in the claim\'s script (as shipped)'), ['**with ÷ without**', fmt.x(m('with', 'client') / m('without', 'client')), fmt.x(m('with', 'server') / m('without', 'server')), fmt.x(m('without', 'ms') / m('with', 'ms'))]],
    notes: [
      'As shipped, the claim\'s own script adds the call to the index (ZADD NX; with one call in 64, the trims too): no command of its own. On a Redis Cluster (another slot) the index\'s ZADD is sent beside the claim in the same tick instead.',
      'Client CPU is this process (ioredis encoding the command and parsing its reply); Redis CPU is the bench\'s redis-server (INFO cpu).',
    ],
    data: runs,
  };
}

async function timePage(url: string): Promise<number[]> {
  const headers = { authorization: `Basic ${Buffer.from(`bench:${PASSWORD}`).toString('base64')}` };
  const times: number[] = [];
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const started = process.hrtime.bigint();
    const res = await fetch(url, { headers, redirect: 'manual' });
    await res.text();
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    if (i >= WARMUP) times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return times;
}

export const consoleScenario: Scenario = {
  name: 'console',
  async run(ctx: ScenarioContext): Promise<Section[]> {
    const { env } = ctx;
    const bridge = await env.startBridge({ cpus: env.cpus.web, name: 'bridge (console)', env: { ADMIN_PASSWORD: PASSWORD, API_TOKEN, OUTBOUND_FROM_NUMBER: '+14155550100' } });
    try {
      ctx.log(`seeding ${CALLS} calls and ${EVENTS} events`);
      const rich = await seed(ctx, bridge.prefix!);
      ctx.log(`creating a campaign of ${TASKS} tasks`);
      const campaign = await seedCampaign(ctx, bridge.url);
      const pages: Array<[string, string]> = [
        ['calls list (first page, 50 calls)', '/admin/calls'],
        ['calls list, next page', `/admin/calls?cursor=${Date.now() - 1000 * 2000}_0`],
        ['calls list filtered by state (live)', '/admin/calls?state=live'],
        ['calls list filtered by a number no call has (scans FILTER_SCAN_MAX, 3,000)', '/admin/calls?number=%2B19999999999'],
        ['one call (timeline: 30 Twilio requests, 10 events, a warm transfer)', `/admin/calls/${rich}`],
        ['events (100 newest)', '/admin/events'],
        ['campaigns list', '/admin/campaigns'],
        ['one campaign of 100,000 tasks (counts, outcomes, first 50 tasks)', `/admin/campaigns/${campaign}`],
        ['the same, tasks from the 90,000th', `/admin/campaigns/${campaign}?cursor=90000`],
        ['the same, tasks filtered by a status none has', `/admin/campaigns/${campaign}?status=completed`],
      ];
      const rows: string[][] = [];
      const data: Record<string, { median: number; p95: number }> = {};
      for (const [label, path] of pages) {
        const times = await timePage(`${bridge.url}${path}`);
        const m = median(times);
        data[label] = { median: m, p95: p95(times) };
        rows.push([label, fmt.ms(m), fmt.ms(p95(times)), m <= GOAL_MS ? 'yes' : '**no**']);
        ctx.log(`console ${label}: median ${fmt.ms(m)} ms`);
      }
      ctx.log('the claim with and without the recent-calls index');
      const claim = await claimCost(ctx);
      return [
        claim,
        {
          title: `Console pages with ${CALLS.toLocaleString('en-US')} calls, ${EVENTS.toLocaleString('en-US')} events and a ${TASKS.toLocaleString('en-US')}-task campaign in Redis (${SAMPLES} sequential loads each after ${WARMUP} warm-up)`,
          header: ['page', 'median ms', 'p95 ms', `≤ ${GOAL_MS} ms`],
          rows,
          notes: ['Whole page: request, Redis reads, rendering and transfer on loopback, one at a time as a browser loads it.'],
          data,
        },
      ];
    } finally {
      await bridge.stop();
    }
  },
};
