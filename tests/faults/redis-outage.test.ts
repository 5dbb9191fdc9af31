/**
 * Fault case 2: Redis goes away during steady webhook traffic (stopped and restarted, frozen, the
 * network to it cut or blackholed). Every webhook still answers 200 with TwiML that connects the caller
 * within the bridge's deadline; once Redis is back, dedupe works again in the same web process, which
 * is never restarted.
 */
import { Redis } from 'ioredis';
import { answerTiming } from '../../src/features/inbound/answerer';
import { CallRepository } from '../../src/calls/repository';
import { RETELL_KEY } from '../support/bridge';
import { voiceParams } from '../support/twilio-signing';
import { FaultyRetell } from './support/faulty-retell';
import { sleep, waitFor } from './support/ports';
import { RedisServer } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { WebProcess } from './support/web-process';
import { dialedCallId, summarize, isCallTwiml, sendVoice, SteadyTraffic, type Answered } from './support/webhooks';

const RETELL_TIMEOUT_MS = 1000;
/** The bridge answers by its deadline whatever Redis does; storing the answer may add one command timeout. */
const ANSWER_BOUND_MS = answerTiming(RETELL_TIMEOUT_MS).deadlineMs + 1000;
const OUTAGE_MS = 2000;
const PREFIX = 'faults-outage';

let redis: RedisServer;
let proxy: TcpProxy;
let retell: FaultyRetell;
let web: WebProcess;
let direct: Redis;
let store: CallRepository;
let webPid: number | undefined;

beforeAll(async () => {
  redis = await RedisServer.start();
  proxy = await TcpProxy.start(redis.port);
  retell = await new FaultyRetell(RETELL_KEY).start();
  retell.behaviour = { kind: 'ok', delayMs: 100 };
  // The web process reaches Redis through the proxy, so the network can fail without touching Redis.
  web = await WebProcess.start({
    REDIS_URL: proxy.url,
    REDIS_PREFIX: PREFIX,
    RETELL_BASE_URL: retell.url,
    RETELL_TIMEOUT_MS: String(RETELL_TIMEOUT_MS),
  });
  webPid = web.pid;
  // The test reads records straight from Redis, never through the proxy.
  direct = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  direct.on('error', () => undefined);
  store = new CallRepository(direct, PREFIX);
});

afterAll(async () => {
  direct?.disconnect();
  await web?.dispose();
  await proxy?.close();
  await retell?.stop();
  await redis?.dispose();
});

const ready = async () => (await fetch(`${web.url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status === 200;

/** A new call is registered once and stored; repeats after its answer replay it byte for byte. */
async function expectDedupe(url: string): Promise<void> {
  const call = voiceParams();
  const first = await sendVoice(url, call);
  expect(summarize([first].filter((a) => !isCallTwiml(a) || dialedCallId(a.body) === undefined))).toBe('');
  expect(await store.get(call.CallSid!)).toMatchObject({ state: 'registered', twiml: first.body });
  const repeats = await Promise.all(Array.from({ length: 10 }, () => sendVoice(url, call)));
  expect(summarize(repeats.filter((a) => a.body !== first.body))).toBe('');
  expect(retell.registrationsFor(call.CallSid!)).toHaveLength(1);
}

interface Outage {
  fail(): void | Promise<void>;
  recover(): void | Promise<void>;
  /** Whether records written before the outage survive it (a restart without persistence loses them). */
  keepsData: boolean;
}

describe.each<[string, Outage]>([
  ['Redis is stopped, then started again (empty) on the same port', { fail: () => redis.stop(), recover: () => redis.start(), keepsData: false }],
  ['Redis is frozen (SIGSTOP), then resumed (SIGCONT)', { fail: () => redis.freeze(), recover: () => redis.thaw(), keepsData: true }],
  ['the network to Redis is cut (connections reset and refused), then restored', { fail: () => proxy.cut(), recover: () => proxy.restore(), keepsData: true }],
  ['the network to Redis blackholes (nothing passes, nothing is reset), then recovers', { fail: () => proxy.blackhole(), recover: () => proxy.restore(), keepsData: true }],
])('when %s during steady webhook traffic', (_what, outage) => {
  it('then every webhook answers TwiML that connects the caller in time, and dedupe resumes without a restart', async () => {
    await waitFor('the web process to reach Redis', ready, 15_000);
    const logMark = web.lines.length;

    // A call answered and stored while Redis is healthy.
    const before = voiceParams();
    const beforeAnswer = await sendVoice(web.url, before);
    expect(dialedCallId(beforeAnswer.body)).toBe(retell.registrationsFor(before.CallSid!)[0]);
    expect((await store.get(before.CallSid!))?.state).toBe('registered');

    const traffic = new SteadyTraffic(web.url, { intervalMs: 50, maxRequests: 400, repeatEvery: 4 }).start();
    // Enough calls answered before the outage that some are certain to have no repeat after it began,
    // however slowly a loaded machine answers.
    await waitFor('24 answers before the outage', () => traffic.answers.length >= 24, 15_000);
    const failedAt = Date.now();
    await outage.fail();
    await sleep(OUTAGE_MS);
    await outage.recover();
    await waitFor('the web process to reach Redis again', ready, 15_000);
    await sleep(500);
    const answers = await traffic.stop();

    // Nothing lost: every webhook, including those in flight when Redis went away, was answered in time
    // with TwiML dialing a call Retell registered for that same CallSid. Retell was healthy throughout,
    // so nobody got the fallback.
    expect(answers.length).toBe(traffic.count);
    expect(summarize(answers.filter((a) => !isCallTwiml(a) || a.elapsedMs >= ANSWER_BOUND_MS))).toBe('');
    const misdialed = answers.filter((a) => !retell.registrationsFor(a.callSid).includes(dialedCallId(a.body) ?? '-'));
    expect(summarize(misdialed)).toBe('');
    expect(answers.filter((a) => a.startedAt > failedAt && a.startedAt < failedAt + OUTAGE_MS).length).toBeGreaterThan(10);

    // The outage reached the request path, and the bridge connected callers without dedupe meanwhile.
    const logged = web.lines.slice(logMark).join('\n');
    expect(logged).toContain('answering without dedupe');

    // Nothing done twice while Redis was healthy: calls whose every webhook was answered before the
    // outage began registered exactly once.
    const byCall = new Map<string, Answered[]>();
    for (const a of answers) byCall.set(a.callSid, [...(byCall.get(a.callSid) ?? []), a]);
    const settledBefore = [...byCall].filter(([, mine]) => mine.every((a) => a.startedAt + a.elapsedMs < failedAt));
    expect(settledBefore.length).toBeGreaterThan(3);
    for (const [callSid, mine] of settledBefore) {
      expect({ callSid, registrations: retell.registrationsFor(callSid).length, answers: new Set(mine.map((a) => a.body)).size }).toEqual({
        callSid,
        registrations: 1,
        answers: 1,
      });
    }

    // Dedupe is back, in the same process: the answer to a new call is stored, and later repeats (which
    // only Redis can match to it) replay it instead of registering again.
    await expectDedupe(web.url);

    if (outage.keepsData) {
      // The answer stored before the outage is still the one every repeat gets.
      const again = await sendVoice(web.url, before);
      expect(again.body).toBe(beforeAnswer.body);
      expect(retell.registrationsFor(before.CallSid!)).toHaveLength(1);
    }

    expect(web.alive).toBe(true);
    expect(web.pid).toBe(webPid);
    expect(web.messages('error').filter((m) => m === 'request failed' || m.includes('unexpectedly'))).toEqual([]);
  });
});

describe.each<[string, (p: TcpProxy) => void | Promise<void>]>([
  ['refused', (p) => p.cut()],
  ['blackholed (its handshake gets no answer)', (p) => p.blackhole()],
])('when a web process starts while Redis is %s', (_what, fail) => {
  let late: WebProcess | undefined;
  let gate: TcpProxy | undefined;
  afterEach(async () => {
    await late?.dispose();
    await gate?.close();
  });

  it('then it answers calls without dedupe, and dedupe starts once Redis is reachable, without a restart', async () => {
    gate = await TcpProxy.start(redis.port);
    await fail(gate);
    late = await WebProcess.start({
      REDIS_URL: gate.url,
      REDIS_PREFIX: PREFIX,
      RETELL_BASE_URL: retell.url,
      RETELL_TIMEOUT_MS: String(RETELL_TIMEOUT_MS),
    });
    const lateUrl = late.url;
    const during = await Promise.all(Array.from({ length: 5 }, () => sendVoice(lateUrl, voiceParams())));
    expect(summarize(during.filter((a) => !isCallTwiml(a) || dialedCallId(a.body) === undefined || a.elapsedMs >= ANSWER_BOUND_MS))).toBe('');
    expect(late.lines.join('\n')).toContain('answering without dedupe');

    await gate.restore();
    await waitFor(
      'the late web process to reach Redis',
      async () => (await fetch(`${lateUrl}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status === 200,
      15_000,
    );
    await expectDedupe(lateUrl);
    expect(late.alive).toBe(true);
  });
});

describe.each<[string, () => void | Promise<void>, () => void | Promise<void>]>([
  ['frozen', () => redis.freeze(), () => redis.thaw()],
  ['cut off', () => proxy.cut(), () => proxy.restore()],
])('when Redis is %s and 100 repeats of one CallSid reach the web process at once', (_what, fail, recover) => {
  it('then the repeats share one registration inside the process and all get the same TwiML', async () => {
    await waitFor('the web process to reach Redis', ready, 15_000);
    retell.behaviour = { kind: 'ok', delayMs: 300 };
    const params = voiceParams();
    await fail();
    let answers: Answered[];
    try {
      answers = await Promise.all(Array.from({ length: 100 }, () => sendVoice(web.url, params)));
    } finally {
      await recover();
    }
    expect(summarize(answers.filter((a) => !isCallTwiml(a) || a.elapsedMs >= ANSWER_BOUND_MS))).toBe('');
    expect(retell.registrationsFor(params.CallSid!)).toHaveLength(1);
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    await waitFor('the web process to reach Redis again', ready, 15_000);
  });
});
