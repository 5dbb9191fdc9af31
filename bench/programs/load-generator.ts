/**
 * Load generator process: drives `POST /twilio/voice` with autocannon, each request a Twilio voice
 * webhook with a real `X-Twilio-Signature`. Signed bodies are made before the clock starts, so
 * signing does not compete with sending; should a run outlast its pool, the rest are signed live
 * (and counted, so it shows).
 *
 * IPC: `{ type: 'run', spec }` → `{ type: 'result', result }`; `{ type: 'progress' }` →
 * `{ type: 'progress', progress }` while a run is under way.
 */
import { randomBytes } from 'node:crypto';
import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { getExpectedTwilioSignature } from 'twilio';
import { voiceParams } from '../../tests/support/twilio-signing';

export interface LoadSpec {
  /** Where to send, e.g. http://127.0.0.1:3000 */
  target: string;
  connections: number;
  durationSec: number;
  /** `unique`: a new CallSid per call. `same`: every request repeats `sameCallSid`. */
  callSids: 'unique' | 'same';
  sameCallSid?: string;
  /** How many times each call's webhook is sent (Twilio repeats a webhook it did not get an answer to). */
  sendsPerCall?: number;
  /** Overall request rate cap, requests per second; unlimited when absent. */
  rate?: number;
  /** How many calls to sign in advance. */
  poolSize: number;
  /** The URL Twilio signs: PUBLIC_URL + /twilio/voice. */
  signingUrl: string;
  authToken: string;
  accountSid: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  /** Latency percentiles of every answered request, ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** 200 answers that dial Retell's SIP URI. */
  sip: number;
  /** 200 answers with the fallback (or anything else without a <Sip>). */
  fallback: number;
  /** Distinct CallSids sent. */
  calls: number;
  /** Bodies that had to be signed during the run. */
  signedLive: number;
  /** CPU time of this process during the run, ms. */
  cpuMs: number;
}

export interface LoadProgress {
  sent: number;
  answered: number;
  sip: number;
  calls: number;
}

interface Signed {
  body: Buffer;
  signature: string;
}

const processTag = randomBytes(4).toString('hex');
let sidCounter = 0;

/** A CallSid no earlier run of this process has used: CA + 8 hex of process tag + 24 hex counter. */
function nextCallSid(): string {
  sidCounter += 1;
  return `CA${processTag}${sidCounter.toString(16).padStart(24, '0')}`;
}

function sign(spec: LoadSpec, callSid: string): Signed {
  const params = voiceParams({ CallSid: callSid, AccountSid: spec.accountSid });
  return {
    body: Buffer.from(new URLSearchParams(params).toString()),
    signature: getExpectedTwilioSignature(spec.authToken, spec.signingUrl, params),
  };
}

let progress: LoadProgress | undefined;

async function run(spec: LoadSpec): Promise<LoadResult> {
  const sends = Math.max(1, spec.sendsPerCall ?? 1);
  let pool: Signed[];
  if (spec.callSids === 'same') {
    if (!spec.sameCallSid) throw new Error('sameCallSid is required with callSids=same');
    pool = [sign(spec, spec.sameCallSid)];
  } else {
    pool = [];
    for (let i = 0; i < spec.poolSize; i++) pool.push(sign(spec, nextCallSid()));
  }

  let taken = 0;
  let signedLive = 0;
  let current: Signed = pool[0]!;
  const next = (): Signed => {
    if (spec.callSids === 'same') return pool[0]!;
    const i = taken++;
    if (i % sends === 0) {
      const callIndex = i / sends;
      if (callIndex < pool.length) current = pool[callIndex]!;
      else {
        current = sign(spec, nextCallSid());
        signedLive += 1;
      }
    }
    return current;
  };

  const latency = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
  const result = { non2xx: 0, sip: 0, fallback: 0, answered: 0 };
  progress = { sent: 0, answered: 0, sip: 0, calls: 0 };
  const live = progress;

  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const final = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.target,
        connections: spec.connections,
        duration: spec.durationSec,
        pipelining: 1,
        timeout: 15,
        ...(spec.rate ? { overallRate: spec.rate } : {}),
        requests: [
          {
            method: 'POST',
            path: '/twilio/voice',
            setupRequest: (req) => {
              const signed = next();
              live.sent += 1;
              req.body = signed.body as unknown as string;
              req.headers = {
                'Content-Type': 'application/x-www-form-urlencoded',
                'X-Twilio-Signature': signed.signature,
              };
              return req;
            },
            onResponse: (status, body) => {
              live.answered += 1;
              if (status < 200 || status > 299) {
                result.non2xx += 1;
                return;
              }
              if (body.includes('<Sip>')) {
                result.sip += 1;
                live.sip += 1;
              } else result.fallback += 1;
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
      latency.record(Math.max(1, Math.round(ms * 1000)));
    });
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  progress = undefined;

  const requests = live.answered;
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    requests,
    seconds: final.duration || seconds,
    rps: requests / (final.duration || seconds),
    p50: ms(latency.percentile(50)),
    p90: ms(latency.percentile(90)),
    p99: ms(latency.percentile(99)),
    max: ms(latency.max),
    non2xx: result.non2xx,
    errors: final.errors,
    timeouts: final.timeouts,
    sip: result.sip,
    fallback: result.fallback,
    calls: spec.callSids === 'same' ? 1 : Math.ceil(taken / sends),
    signedLive,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

process.on('message', (m: { type?: string; spec?: LoadSpec }) => {
  if (m?.type === 'run' && m.spec) {
    run(m.spec).then(
      (result) => process.send?.({ type: 'result', result }),
      (err: Error) => process.send?.({ type: 'result', error: err.message }),
    );
  } else if (m?.type === 'progress') {
    process.send?.({ type: 'progress', progress: progress ? { ...progress } : undefined });
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
