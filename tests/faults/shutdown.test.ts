/**
 * Fault case 7 (web part): the platform sends SIGTERM (deploy, restart, scale-down) while voice
 * webhooks are in flight. Every in-flight webhook is still answered with its call's TwiML and its
 * answer is stored before Redis is closed; the process then exits on its own, well before the
 * platform's SIGKILL.
 */
import { Redis } from 'ioredis';
import { answerTiming } from '../../src/features/inbound/answerer';
import { CallRepository } from '../../src/calls/repository';
import { RETELL_KEY } from '../support/bridge';
import { voiceParams } from '../support/twilio-signing';
import { FaultyRetell } from './support/faulty-retell';
import { waitFor } from './support/ports';
import { RedisServer } from './support/redis-server';
import { WebProcess } from './support/web-process';
import { dialedCallId, summarize, isCallTwiml, isFallback, sendVoice } from './support/webhooks';

// Generous, so sixty simultaneous registrations on a busy machine stay inside it; the point here is the signal.
const RETELL_TIMEOUT_MS = 2000;
const ANSWER_BOUND_MS = RETELL_TIMEOUT_MS + 2000;
/** Exits once in-flight requests are answered: within the bridge's answer deadline, plus start-to-exit slack. */
const EXIT_BOUND_MS = answerTiming(RETELL_TIMEOUT_MS).deadlineMs + 3000;
const PREFIX = 'faults-shutdown';

let redis: RedisServer;
let retell: FaultyRetell;
let direct: Redis;
let store: CallRepository;
let web: WebProcess | undefined;

beforeAll(async () => {
  redis = await RedisServer.start();
  retell = await new FaultyRetell(RETELL_KEY).start();
  direct = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  direct.on('error', () => undefined);
  store = new CallRepository(direct, PREFIX);
});
afterEach(async () => {
  await web?.dispose();
});
afterAll(async () => {
  direct?.disconnect();
  await retell?.stop();
  await redis?.dispose();
});

const startWeb = () =>
  WebProcess.start({ REDIS_URL: redis.url, REDIS_PREFIX: PREFIX, RETELL_BASE_URL: retell.url, RETELL_TIMEOUT_MS: String(RETELL_TIMEOUT_MS) });

describe('when the web process gets SIGTERM while voice webhooks wait on a slow Retell', () => {
  it('then every webhook in the app gets its call\'s TwiML, every answer is stored, and the process exits 0', async () => {
    web = await startWeb();
    retell.behaviour = { kind: 'ok', delayMs: 800 };
    const attemptsBefore = retell.attempts.length;
    const calls = Array.from({ length: 40 }, () => voiceParams());
    const firsts = calls.map((params) => sendVoice(web!.url, params));
    // Every call's first webhook is inside the app once its registration has reached Retell.
    await waitFor('every registration to be in flight at Retell', () => retell.attempts.length - attemptsBefore >= calls.length, 5000, 10);
    // Repeats of half the calls race the signal: some are inside the app, some still in the kernel's
    // accept queue when the listening socket closes.
    const repeats = calls.filter((_, i) => i % 2 === 0).map((params) => sendVoice(web!.url, params));

    const terminatedAt = Date.now();
    web.terminate();
    const answers = await Promise.all(firsts);
    const repeated = await Promise.all(repeats);
    const exit = await web.exited(EXIT_BOUND_MS);

    expect(summarize(answers.filter((a) => !isCallTwiml(a) || dialedCallId(a.body) === undefined || a.elapsedMs >= ANSWER_BOUND_MS))).toBe('');
    for (const [i, call] of calls.entries()) {
      const registered = retell.registrationsFor(call.CallSid!);
      expect(registered).toHaveLength(1);
      expect(dialedCallId(answers[i]!.body)).toBe(registered[0]);
      // Stored before the process closed its Redis connection, so a repeat on another process replays it.
      expect(await store.get(call.CallSid!)).toMatchObject({ state: 'registered', callId: registered[0], twiml: answers[i]!.body });
    }
    // A repeat is answered with its call's TwiML, or refused before any HTTP exchange (Twilio then
    // retries the fallback URL); it is never failed with an HTTP error or answered differently.
    const wrong = repeated.filter((r) => !(r.status === 0 || r.body === answers.find((a) => a.callSid === r.callSid)?.body));
    expect(summarize(wrong)).toBe('');

    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - terminatedAt).toBeLessThan(EXIT_BOUND_MS);
    const messages = web.messages();
    expect(messages).toContain('shutting down web: finishing in-flight requests');
    expect(messages).toContain('web stopped');
    expect(web.messages('error')).toEqual([]);
  });

  it('then a webhook arriving after the signal is refused at the door or answered, never failed', async () => {
    web = await startWeb();
    retell.behaviour = { kind: 'ok', delayMs: 800 };
    const early = sendVoice(web.url, voiceParams());
    await waitFor('the first registration to reach Retell', () => retell.open > 0, 5000, 10);
    web.terminate();
    await waitFor('the web process to start shutting down', () => web!.lines.some((l) => l.includes('shutting down web')), 5000, 10);
    const late = await Promise.all(Array.from({ length: 10 }, () => sendVoice(web!.url, voiceParams(), 5000)));

    expect(isCallTwiml(await early)).toBe(true);
    // Refused connections (status 0) send Twilio to the number's fallback URL or another process.
    expect(summarize(late.filter((a) => a.status !== 0 && !isCallTwiml(a)))).toBe('');
    expect(await web.exited(EXIT_BOUND_MS)).toEqual({ code: 0, signal: null });
  });
});

describe('when the web process gets SIGTERM while Retell hangs', () => {
  it('then webhooks in the app still get the fallback by the Retell timeout, and the process exits 0', async () => {
    web = await startWeb();
    retell.behaviour = { kind: 'hang' };
    const calls = Array.from({ length: 10 }, () => voiceParams());
    const firsts = calls.map((params) => sendVoice(web!.url, params));
    await waitFor('every registration to hang at Retell', () => retell.open >= calls.length, 5000, 10);
    const repeats = calls.map((params) => sendVoice(web!.url, params));

    web.terminate();
    const answers = await Promise.all(firsts);
    const repeated = await Promise.all(repeats);
    const exit = await web.exited(EXIT_BOUND_MS);

    expect(summarize(answers.filter((a) => !isCallTwiml(a) || !isFallback(a.body) || a.elapsedMs >= ANSWER_BOUND_MS))).toBe('');
    expect(summarize(repeated.filter((r) => r.status !== 0 && r.body !== answers[0]!.body))).toBe('');
    for (const call of calls) {
      expect(retell.attemptsFor(call.CallSid!)).toHaveLength(1);
      expect((await store.get(call.CallSid!))?.state).toBe('fallback');
    }
    expect(exit).toEqual({ code: 0, signal: null });
    // The bridge abandoned every hanging registration rather than leaving it open.
    expect(retell.open).toBe(0);
  });
});

describe.each<[string, (r: RedisServer) => void | Promise<void>, (r: RedisServer) => void | Promise<void>]>([
  ['stopped', (r) => r.stop(), (r) => r.start()],
  ['frozen', (r) => r.freeze(), (r) => r.thaw()],
])('when the web process gets SIGTERM while Redis is %s', (_what, fail, recover) => {
  it('then webhooks in the app are still answered and the process exits by itself, well before the platform\'s SIGKILL', async () => {
    web = await startWeb();
    retell.behaviour = { kind: 'ok', delayMs: 300 };
    try {
      await fail(redis);
      const calls = Array.from({ length: 10 }, () => voiceParams());
      const attemptsBefore = retell.attempts.length;
      const inflight = calls.map((params) => sendVoice(web!.url, params));
      await waitFor('every registration to reach Retell', () => retell.attempts.length - attemptsBefore >= calls.length, 5000, 10);

      const terminatedAt = Date.now();
      web.terminate();
      const answers = await Promise.all(inflight);
      const exit = await web.exited(EXIT_BOUND_MS);

      expect(summarize(answers.filter((a) => !isCallTwiml(a) || dialedCallId(a.body) === undefined || a.elapsedMs >= ANSWER_BOUND_MS))).toBe('');
      expect(exit).not.toBeNull();
      expect(Date.now() - terminatedAt).toBeLessThan(EXIT_BOUND_MS);
      expect(exit).toEqual({ code: 0, signal: null });
    } finally {
      await recover(redis);
    }
  });
});
