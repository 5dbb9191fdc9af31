/**
 * Fault case 5: Retell errors, resets, answers garbage, hangs, or is slower than RETELL_TIMEOUT_MS.
 * The caller hears the fallback within the bound; the bridge makes one attempt per call (a retried
 * registration could create a second, orphaned Retell call), abandons a request it stopped waiting for,
 * and stores the fallback so repeats replay it instead of registering again.
 */
import { Redis } from 'ioredis';
import { CallRepository } from '../../src/calls/repository';
import { RETELL_KEY } from '../support/bridge';
import { voiceParams } from '../support/twilio-signing';
import { FaultyRetell, type RetellFault } from './support/faulty-retell';
import { freePort, sleep } from './support/ports';
import { RedisServer } from './support/redis-server';
import { WebProcess } from './support/web-process';
import { dialedCallId, summarize, isCallTwiml, isFallback, sendVoice, SteadyTraffic } from './support/webhooks';

const RETELL_TIMEOUT_MS = 1000;
const ANSWER_BOUND_MS = RETELL_TIMEOUT_MS + 2000;
const PREFIX = 'faults-retell';

// The production entry point in its own process: Retell's client (undici pool, SDK timeout) behaves
// there exactly as deployed, which a VM-sandboxed in-process app does not guarantee for abort errors.
let redis: RedisServer;
let retell: FaultyRetell;
let web: WebProcess;
let client: Redis;
let store: CallRepository;
beforeAll(async () => {
  redis = await RedisServer.start();
  retell = await new FaultyRetell(RETELL_KEY).start();
  web = await WebProcess.start({
    REDIS_URL: redis.url,
    REDIS_PREFIX: PREFIX,
    RETELL_BASE_URL: retell.url,
    RETELL_TIMEOUT_MS: String(RETELL_TIMEOUT_MS),
  });
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  store = new CallRepository(client, PREFIX);
});
afterAll(async () => {
  client?.disconnect();
  await web?.dispose();
  await retell?.stop();
  await redis?.dispose();
});

afterEach(() => {
  // Whatever Retell did, the web process kept running and never logged an unexpected failure.
  expect(web.alive).toBe(true);
  expect(web.messages('error').filter((m) => m === 'request failed' || m.includes('unexpectedly'))).toEqual([]);
});

describe.each<[string, RetellFault, string | RegExp]>([
  ['answers 500', { kind: 'status', status: 500 }, 'retell_rejected'],
  ['answers 429 (concurrency limit)', { kind: 'status', status: 429 }, 'retell_rejected'],
  ['answers 503 slowly, inside the budget', { kind: 'status', status: 503, delayMs: 300 }, 'retell_rejected'],
  ['resets the connection', { kind: 'reset' }, 'retell_unreachable'],
  ['answers 201 with a body that is not JSON', { kind: 'garbage' }, 'retell_error'],
  ['answers 201 without a call_id', { kind: 'status', status: 201 }, 'retell_error'],
  // Whether the SDK reports a body cut short as a connection or a parse failure is its choice.
  ['cuts its answer off halfway through the body', { kind: 'truncated' }, /^retell_(error|unreachable)$/],
  ['hangs', { kind: 'hang' }, 'retell_timeout'],
  ['is slower than the budget', { kind: 'ok', delayMs: RETELL_TIMEOUT_MS + 1200 }, 'retell_timeout'],
])('when Retell %s', (_what, fault, reason) => {
  it('then the caller gets the fallback in time, after one attempt, and a repeat replays it without a new attempt', async () => {
    retell.behaviour = fault;
    const params = voiceParams();
    const registeredBefore = retell.fake.registrations.length;

    const first = await sendVoice(web.url, params);
    expect(isCallTwiml(first)).toBe(true);
    expect(isFallback(first.body)).toBe(true);
    expect(first.elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
    expect(retell.attemptsFor(params.CallSid!)).toHaveLength(1);

    const record = await store.get(params.CallSid!);
    expect(record).toMatchObject({ state: 'fallback', error: typeof reason === 'string' ? reason : expect.stringMatching(reason), twiml: first.body });
    expect(record?.claim_owner).toBeUndefined();
    expect(record?.callId).toBeUndefined();

    // Retell heals; the call already has its answer, so a repeat must not register it now.
    retell.behaviour = { kind: 'ok' };
    const repeat = await sendVoice(web.url, params);
    expect(repeat.body).toBe(first.body);
    expect(repeat.elapsedMs).toBeLessThan(RETELL_TIMEOUT_MS);
    expect(retell.attemptsFor(params.CallSid!)).toHaveLength(1);

    if (fault.kind === 'hang' || (fault.kind === 'ok' && (fault.delayMs ?? 0) > RETELL_TIMEOUT_MS)) {
      // The bridge closed the request it gave up on, rather than leaving it open on Retell's side.
      const [attempt] = retell.attemptsFor(params.CallSid!);
      expect(attempt?.abandoned).toBe(true);
      expect(attempt!.closedAt! - attempt!.receivedAt).toBeLessThan(ANSWER_BOUND_MS);
    }
    if (fault.kind === 'ok') {
      // Retell created the call after the bridge stopped waiting; nobody was ever told to dial it.
      await sleep((fault.delayMs ?? 0) + 200);
      const late = retell.registrationsFor(params.CallSid!);
      expect(late).toHaveLength(1);
      expect(first.body).not.toContain(late[0]);
      expect((await store.get(params.CallSid!))?.callId).toBeUndefined();
    } else {
      expect(retell.fake.registrations.length).toBe(registeredBefore);
    }
  });
});

describe('when Retell hangs while 200 repeats of one CallSid arrive at once', () => {
  it('then Retell sees one attempt and all 200 get the same fallback within the bound', async () => {
    retell.behaviour = { kind: 'hang' };
    const params = voiceParams();
    const answers = await Promise.all(Array.from({ length: 200 }, () => sendVoice(web.url, params)));

    expect(summarize(answers.filter((a) => !isCallTwiml(a) || !isFallback(a.body)))).toBe('');
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(retell.attemptsFor(params.CallSid!)).toHaveLength(1);
    expect(Math.max(...answers.map((a) => a.elapsedMs))).toBeLessThan(ANSWER_BOUND_MS);
    expect(retell.open).toBe(0);
  });
});

describe('when Retell fails in bursts (errors, hangs, resets between healthy stretches) during steady traffic', () => {
  it('then every webhook answers in time, each call is attempted once, and repeats replay their call\'s answer', async () => {
    const cycle: RetellFault[] = [
      { kind: 'ok', delayMs: 50 },
      { kind: 'ok', delayMs: 50 },
      { kind: 'ok', delayMs: 50 },
      { kind: 'ok', delayMs: 50 },
      { kind: 'status', status: 500 },
      { kind: 'status', status: 429 },
      { kind: 'hang' },
      { kind: 'reset' },
      { kind: 'ok', delayMs: RETELL_TIMEOUT_MS + 500 },
      { kind: 'ok', delayMs: 50 },
    ];
    // Bursts of three attempts share a fault, so failures arrive back to back.
    retell.behaviour = (n) => cycle[Math.floor(n / 3) % cycle.length]!;
    const traffic = new SteadyTraffic(web.url, { intervalMs: 40, maxRequests: 120, repeatEvery: 3 }).start();
    const answers = await traffic.finished(20_000);
    await sleep(RETELL_TIMEOUT_MS + 700);

    expect(answers).toHaveLength(120);
    expect(summarize(answers.filter((a) => !isCallTwiml(a) || a.elapsedMs >= ANSWER_BOUND_MS))).toBe('');
    const calls = new Set(answers.map((a) => a.callSid));
    let fallbacks = 0;
    for (const callSid of calls) {
      const mine = answers.filter((a) => a.callSid === callSid);
      expect({ callSid, attempts: retell.attemptsFor(callSid).length, answers: new Set(mine.map((a) => a.body)).size }).toEqual({
        callSid,
        attempts: 1,
        answers: 1,
      });
      const dialed = dialedCallId(mine[0]!.body);
      if (dialed) expect(retell.registrationsFor(callSid)).toEqual([dialed]);
      else fallbacks += 1;
    }
    // The cycle really did fail some calls and connect others.
    expect(fallbacks).toBeGreaterThan(5);
    expect(calls.size - fallbacks).toBeGreaterThan(5);
    expect(retell.open).toBe(0);
  });
});

describe('when Retell cannot be reached at all (connection refused)', () => {
  let lonely: WebProcess | undefined;
  afterAll(async () => {
    await lonely?.dispose();
  });

  it('then the caller gets the fallback at once, and a repeat replays it', async () => {
    lonely = await WebProcess.start({
      REDIS_URL: redis.url,
      REDIS_PREFIX: PREFIX,
      RETELL_BASE_URL: `http://127.0.0.1:${await freePort()}`,
      RETELL_TIMEOUT_MS: String(RETELL_TIMEOUT_MS),
    });
    const params = voiceParams();
    const first = await sendVoice(lonely.url, params);
    expect(isFallback(first.body)).toBe(true);
    expect(first.elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
    expect(await store.get(params.CallSid!)).toMatchObject({ state: 'fallback', error: 'retell_unreachable' });
    expect((await sendVoice(lonely.url, params)).body).toBe(first.body);
  });
});
