/**
 * Fault case: the Redis master is SIGKILLed while calls come in and agents ask for transfers and
 * hang-ups, and Redis fails over. With Sentinel, the sentinel promotes the master's replica; with Redis
 * Cluster, the replica of the master serving the job queue (and a third of the call records) takes
 * over its slots. Throughout, every call is answered with a dial to its Retell call, and every
 * function call, retried as Retell retries a 503, becomes exactly one request to Twilio: none lost,
 * none doubled. Neither the web nor the worker process is restarted.
 */
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';
import { RETELL_KEY } from '../support/bridge';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { ACCOUNT_SID, AUTH_TOKEN, voiceParams } from '../support/twilio-signing';
import { TRANSFER_ENV, type AgentFunction } from './support/call-actions';
import { FaultyRetell } from './support/faulty-retell';
import { sleep, waitFor } from './support/ports';
import { failoverTopologies, type RedisTopology } from './support/redis-topology';
import { WebProcess } from './support/web-process';
import { dialedCallId, isCallTwiml, sendVoice, summarize, type Answered } from './support/webhooks';
import { WorkerProcess } from './support/worker-process';

const PREFIX = 'faults-failover';
/** BullMQ's keys are tagged with the prefix: the master serving this key holds the whole queue. */
const QUEUE_KEY = `{${PREFIX}}`;
/** A new call every this many ms, each followed by one function call. */
const CALL_EVERY_MS = 60;
/** Traffic before the kill, and after the replica has taken over. */
const BEFORE_MS = 1500;
const AFTER_MS = 2500;
const FAILOVER_BOUND_MS = 20_000;
/** Retell retries a function call that failed; the test retries until accepted, for at most this long. */
const RETRY_EVERY_MS = 250;
const ACCEPT_BOUND_MS = 30_000;

/** One call of the traffic: its webhook's answer, and its function call until Retell's retry was answered. */
interface CallOutcome {
  answer: Answered;
  fn: AgentFunction;
  /** Function call attempts, each with its HTTP status (0: no answer). */
  attempts: number[];
}

/** The function call got its final answer: queued (200), or, for a hang-up, that the call has ended (410). */
const settled = (o: CallOutcome) => o.attempts.at(-1) === 200 || (o.fn === 'end_call' && o.attempts.at(-1) === 410);

/**
 * Calls at a steady rate: each is a signed voice webhook, then (if it was dialed) the call is made
 * live on the fake Twilio API and its agent calls transfer_call or end_call, with the metadata the
 * bridge registered, retried every RETRY_EVERY_MS while the answer is not 200, as Retell does.
 */
class CallTraffic {
  readonly outcomes: CallOutcome[] = [];
  private readonly running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly web: WebProcess,
    private readonly retell: FaultyRetell,
    private readonly twilio: FakeTwilioApi,
  ) {}

  start(): this {
    this.timer = setInterval(() => {
      const p = this.call(this.outcomes.length % 2 === 0 ? 'transfer_call' : 'end_call');
      this.running.add(p);
      void p.finally(() => this.running.delete(p));
    }, CALL_EVERY_MS);
    return this;
  }

  async stop(): Promise<CallOutcome[]> {
    clearInterval(this.timer);
    await Promise.all([...this.running]);
    return this.outcomes;
  }

  private async call(fn: AgentFunction): Promise<void> {
    const params = voiceParams();
    const outcome: CallOutcome = { answer: await sendVoice(this.web.url, params), fn, attempts: [] };
    this.outcomes.push(outcome);
    const callId = dialedCallId(outcome.answer.body);
    const registration = this.retell.fake.registrations.find((r) => r.callId === callId);
    if (!callId || !registration) return;
    this.twilio.addCall(params.CallSid!, params.From, params.To);
    const body = functionCallBody(fn, callId, fn === 'transfer_call' ? { destination: 'sales' } : {}, { metadata: registration.body.metadata });
    const until = Date.now() + ACCEPT_BOUND_MS;
    while (Date.now() < until) {
      const res = await postRetell(this.web.url, `/retell/functions/${fn}`, body).catch(() => undefined);
      await res?.text();
      outcome.attempts.push(res?.status ?? 0);
      // A hang-up may answer "already ended" (410): its add outlived the web's 2 s bound, and was done.
      if (settled(outcome)) return;
      await sleep(RETRY_EVERY_MS);
    }
  }
}

describe.each(failoverTopologies(QUEUE_KEY))('when %s, under traffic', (_what, startTopology) => {
  let topology: RedisTopology;
  let retell: FaultyRetell;
  let twilio: FakeTwilioApi;
  let web: WebProcess;
  let worker: WorkerProcess;

  beforeAll(async () => {
    topology = await startTopology();
    retell = await new FaultyRetell(RETELL_KEY).start();
    retell.behaviour = { kind: 'ok', delayMs: 50 };
    twilio = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
    web = await WebProcess.start({ ...topology.env, ...TRANSFER_ENV, REDIS_PREFIX: PREFIX, RETELL_BASE_URL: retell.url, RETELL_TIMEOUT_MS: '4000' });
    worker = await WorkerProcess.start({ ...topology.env, REDIS_PREFIX: PREFIX, TWILIO_API_BASE_URL: twilio.url });
  });
  afterAll(async () => {
    await worker?.dispose();
    await web?.dispose();
    await twilio?.stop();
    await retell?.stop();
    await topology?.dispose();
  });

  it('then every call is dialed, and every function call is performed exactly once', async () => {
    const pids = { web: web.pid, worker: worker.pid };
    const traffic = new CallTraffic(web, retell, twilio).start();
    await sleep(BEFORE_MS);
    const killedAt = Date.now();
    const { killed, promoted } = await topology.failOver(QUEUE_KEY, FAILOVER_BOUND_MS);
    const promotedAt = Date.now();
    await sleep(AFTER_MS);
    const outcomes = await traffic.stop();

    expect(promoted).not.toBe(killed);
    // The traffic spanned the failover: calls were answered before, during and after it.
    const started = (o: CallOutcome) => o.answer.startedAt;
    expect(outcomes.filter((o) => started(o) < killedAt).length).toBeGreaterThan(5);
    expect(outcomes.filter((o) => started(o) >= killedAt && started(o) < promotedAt).length).toBeGreaterThan(5);
    expect(outcomes.filter((o) => started(o) >= promotedAt).length).toBeGreaterThan(5);

    // 0 calls without a dial.
    expect(summarize(outcomes.map((o) => o.answer).filter((a) => !isCallTwiml(a) || dialedCallId(a.body) === undefined))).toBe('');
    // Every function call was answered in the end (the retries got 503 while Redis was away).
    expect(outcomes.filter((o) => !settled(o)).map((o) => `${o.answer.callSid}: ${o.attempts.join(',')}`)).toEqual([]);

    // 0 jobs lost: every call gets its Twilio request; 0 doubled: exactly one, even a while later.
    const sids = outcomes.map((o) => o.answer.callSid);
    const performed = () => sids.filter((sid) => twilio.callUpdates(sid).some((u) => u.answered === 200)).length;
    await waitFor('every accepted function call to reach Twilio', () => performed() === sids.length, 30_000, 100);
    await sleep(2000);
    const perCall = Object.fromEntries(sids.map((sid) => [sid, twilio.callUpdates(sid).filter((u) => u.answered === 200).length]));
    expect(perCall).toEqual(Object.fromEntries(sids.map((sid) => [sid, 1])));
    for (const o of outcomes) {
      const [update] = twilio.callUpdates(o.answer.callSid).filter((u) => u.answered === 200);
      if (o.fn === 'transfer_call') expect(update!.form.Twiml).toContain('<Number>+14155550101</Number>');
      else expect(update!.form).toEqual({ Status: 'completed' });
    }

    // After the failover, dedupe works again through the new master: repeats register once.
    const call = voiceParams();
    const repeats = await Promise.all(Array.from({ length: 10 }, () => sendVoice(web.url, call)));
    expect(new Set(repeats.map((a) => a.body)).size).toBe(1);
    expect(retell.registrationsFor(call.CallSid!)).toHaveLength(1);

    expect({ web: web.alive, worker: worker.alive }).toEqual({ web: true, worker: true });
    expect({ web: web.pid, worker: worker.pid }).toEqual(pids);
  });
});
