/**
 * Fault case 1: Twilio repeats one CallSid hundreds of times at the same instant (its retries, a
 * fallback URL, a replaying proxy) while Retell is slow. Exactly one Retell registration, and every
 * repeat gets byte-identical TwiML, whether the repeats land on one web process or are spread over two.
 */
import { startBridge, RETELL_KEY, type TestBridge } from '../support/bridge';
import { waitReady } from '../support/redis';
import { voiceParams } from '../support/twilio-signing';
import { FaultyRetell } from './support/faulty-retell';
import { RedisServer } from './support/redis-server';
import { WebProcess } from './support/web-process';
import { dialedCallId, summarize, isCallTwiml, sendVoice } from './support/webhooks';

const RETELL_TIMEOUT_MS = 2000;
/**
 * Retell is slow, so the repeats pile up behind the first request, yet well inside the budget even when
 * the machine is busy serving 200 requests at once: this case is about dedupe, not timeouts.
 */
const SLOW_RETELL_MS = 800;
/** What the bridge promises: an answer soon after the Retell budget, whatever happens. */
const ANSWER_BOUND_MS = RETELL_TIMEOUT_MS + 2000;

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.dispose();
});

describe('when 200 repeats of one CallSid reach one web process at once while Retell is slow', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startBridge({ RETELL_TIMEOUT_MS: String(RETELL_TIMEOUT_MS) }, { redisUrl: redis.url });
    await waitReady(bridge.redis);
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it('then Retell sees one registration and all 200 get the same TwiML dialing it, in time', async () => {
    bridge.retell.behaviour = { kind: 'ok', delayMs: SLOW_RETELL_MS };
    const params = voiceParams();
    const answers = await Promise.all(Array.from({ length: 200 }, () => sendVoice(bridge.url, params)));

    const bad = answers.filter((a) => !isCallTwiml(a));
    expect(summarize(bad)).toBe('');
    expect(bridge.retell.registrations).toHaveLength(1);
    const { callId } = bridge.retell.registrations[0]!;
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(dialedCallId(answers[0]!.body)).toBe(callId);
    expect(Math.max(...answers.map((a) => a.elapsedMs))).toBeLessThan(ANSWER_BOUND_MS);

    const record = await bridge.calls.get(params.CallSid!);
    expect(record).toMatchObject({ state: 'registered', callId, twiml: answers[0]!.body });
    expect(record?.claim_owner).toBeUndefined();
  });

  it('then a later repeat replays the stored answer without asking Retell again', async () => {
    bridge.retell.behaviour = { kind: 'ok', delayMs: SLOW_RETELL_MS };
    const params = voiceParams();
    const first = await sendVoice(bridge.url, params);
    const later = await Promise.all(Array.from({ length: 50 }, () => sendVoice(bridge.url, params)));
    expect(later.every((a) => a.status === 200 && a.body === first.body)).toBe(true);
    expect(bridge.retell.registrations.filter((r) => dialedCallId(first.body) === r.callId)).toHaveLength(1);
    expect(bridge.retell.registrations).toHaveLength(2);
  });
});

describe('when repeats of one CallSid are spread over two web processes sharing Redis while Retell is slow', () => {
  let retell: FaultyRetell;
  let webs: WebProcess[] = [];
  beforeAll(async () => {
    retell = await new FaultyRetell(RETELL_KEY).start();
    const env = {
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'faults-repeats',
      RETELL_BASE_URL: retell.url,
      RETELL_TIMEOUT_MS: String(RETELL_TIMEOUT_MS),
    };
    webs = await Promise.all([WebProcess.start(env), WebProcess.start(env)]);
  });
  afterAll(async () => {
    await Promise.all(webs.map((w) => w.dispose()));
    await retell?.stop();
  });

  it('then 200 simultaneous repeats, alternating between the processes, register once and get one answer', async () => {
    retell.behaviour = { kind: 'ok', delayMs: SLOW_RETELL_MS };
    const params = voiceParams();
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => sendVoice(webs[i % 2]!.url, params)));

    expect(summarize(answers.filter((a) => !isCallTwiml(a)))).toBe('');
    expect(retell.attemptsFor(params.CallSid!)).toHaveLength(1);
    const registered = retell.registrationsFor(params.CallSid!);
    expect(registered).toHaveLength(1);
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(dialedCallId(answers[0]!.body)).toBe(registered[0]);
    expect(Math.max(...answers.map((a) => a.elapsedMs))).toBeLessThan(ANSWER_BOUND_MS);
  });

  it('then 20 calls repeated 10 times each, interleaved over both processes, each register once', async () => {
    retell.behaviour = { kind: 'ok', delayMs: SLOW_RETELL_MS };
    const calls = Array.from({ length: 20 }, () => voiceParams());
    const requests = Array.from({ length: 200 }, (_, i) => ({ params: calls[i % 20]!, web: webs[Math.floor(i / 20) % 2]! }));
    const answers = await Promise.all(requests.map(({ params, web }) => sendVoice(web.url, params)));

    expect(summarize(answers.filter((a) => !isCallTwiml(a)))).toBe('');
    for (const call of calls) {
      const mine = answers.filter((a) => a.callSid === call.CallSid);
      const registered = retell.registrationsFor(call.CallSid!);
      expect({ call: call.CallSid, registrations: registered.length, answers: new Set(mine.map((a) => a.body)).size }).toEqual({
        call: call.CallSid,
        registrations: 1,
        answers: 1,
      });
      expect(dialedCallId(mine[0]!.body)).toBe(registered[0]);
    }
    expect(Math.max(...answers.map((a) => a.elapsedMs))).toBeLessThan(ANSWER_BOUND_MS);
    expect(webs.every((w) => w.alive)).toBe(true);
  });
});
