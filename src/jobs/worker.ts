import { UnrecoverableError, Worker, type BackoffStrategy, type Job, type Queue } from 'bullmq';
import { settleWithin } from '../http/timeout';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { annotate, ATTR_CALL_SID, ATTR_RETELL_CALL_ID, tracingOn } from '../observability/tracing';
import { isUnreachableError, type RedisClient } from '../redis/connection';
import { forTwilioCall } from '../twilio/http-client';
import { queueBase } from './queues';

/**
 * Lock and stall timing, for every queue. Call actions take well under a second, and a caller is waiting, so a job
 * whose worker died must be taken over quickly, not after BullMQ's default 30-60 s. BullMQ's stall
 * check first marks an active job as suspect, then requeues it on a later pass if its lock has
 * expired, so the takeover comes within lockDuration + 2 × stalledInterval (≤ 12 s here). The lock
 * is renewed every 3 s while a job runs, so a live worker keeps it unless its event loop is starved
 * for 6 s; a shorter lock made a busy machine's healthy workers look dead.
 */
export const WORKER_TIMING = {
  /** @defaultValue 6000 (BullMQ: 30000) */
  lockDuration: 6000,
  /** @defaultValue 3000 (BullMQ: 30000) */
  stalledInterval: 3000,
  /** Jobs that stall this many times (crash loops) fail instead of running forever. @defaultValue 2 */
  maxStalledCount: 2,
} as const;

/** What a worker process runs for each kind of job on a queue (the job's name is its kind). */
export type JobHandlers = Readonly<Record<string, (job: Job) => Promise<unknown>>>;

export interface BridgeWorkerOptions {
  /** The queue's name. */
  queue: string;
  /** A blocking connection (`maxRetriesPerRequest: null`); BullMQ makes each worker a blocking copy of its own. */
  connection: RedisClient;
  redisPrefix: string;
  concurrency: number;
  /** Each kind's processor. A job of a kind no handler takes fails for good (a newer version queued it). */
  handlers: JobHandlers;
  /** BullMQ's global rate limiter, shared by every worker of the queue. @defaultValue none */
  limiter?: { max: number; duration: number };
  /** The strategy for jobs whose `backoff.type` is not one of BullMQ's own. @defaultValue none */
  backoffStrategy?: BackoffStrategy;
  logger: Logger;
  metrics: Metrics;
}

/** A worker of one of the bridge's queues, with its lock timing, counters and logs. */
export function createBridgeWorker(opts: BridgeWorkerOptions): Worker {
  const run = (job: Job) => {
    const handle = opts.handlers[job.name];
    if (!handle) throw new UnrecoverableError(`no processor for jobs of kind ${job.name}`);
    if (tracingOn()) annotate(jobAttributes(job));
    // A job about a call: its Twilio requests are logged on that call.
    const callSid = (job.data as { callSid?: unknown } | undefined)?.callSid;
    return typeof callSid === 'string' && callSid ? forTwilioCall(callSid, () => handle(job)) : handle(job);
  };
  // With tracing on, each job runs in BullMQ's `process` span, a child of the span that queued it.
  const worker = new Worker(opts.queue, run, {
    ...queueBase(opts.connection, opts.redisPrefix),
    concurrency: opts.concurrency,
    ...(opts.limiter ? { limiter: opts.limiter } : {}),
    ...(opts.backoffStrategy ? { settings: { backoffStrategy: opts.backoffStrategy } } : {}),
    ...WORKER_TIMING,
  });
  observeWorker(worker, opts.logger, opts.metrics);
  return worker;
}

/** The call a job is about, for its span: every call's job data names it `callSid` (and `callId`). */
function jobAttributes(job: Job): Record<string, string | number> {
  const data = job.data as { callSid?: unknown; callId?: unknown } | undefined;
  return {
    'bullmq.job.attempt': job.attemptsMade + 1,
    ...(typeof data?.callSid === 'string' ? { [ATTR_CALL_SID]: data.callSid } : {}),
    ...(typeof data?.callId === 'string' ? { [ATTR_RETELL_CALL_ID]: data.callId } : {}),
  };
}

/** Job counters and logs for any of the bridge's workers. */
export function observeWorker(worker: Worker, logger: Logger, metrics: Metrics): void {
  worker.on('completed', (job) => metrics.jobs.inc({ name: job.name, result: 'completed' }));
  worker.on('failed', (job, err) => {
    const final = !job || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    metrics.jobs.inc({ name: job?.name ?? 'unknown', result: final ? 'failed' : 'retried' });
  });
  worker.on('stalled', (jobId) => logger.warn({ jobId }, 'job stalled (its worker stopped): requeued'));
  // An unhandled 'error' event would crash the process; an unreachable Redis is reported by the connection.
  worker.on('error', (err) => isUnreachableError(err) || logger.error({ err }, 'worker error'));
}

/**
 * Stops taking jobs and lets running ones finish, for at most `deadlineMs`. Past that (or when Redis
 * is gone and BullMQ's close cannot complete), the worker is closed by force: its running jobs keep
 * their locks until they expire, then another worker takes them over, so none is lost.
 */
export async function closeWorker(worker: Worker, deadlineMs: number, logger: Logger): Promise<'drained' | 'forced'> {
  if (await settleWithin(worker.close(), deadlineMs)) return 'drained';
  logger.warn({ deadlineMs }, 'worker did not drain in time: closing by force; its jobs will be retried elsewhere');
  await settleWithin(worker.close(true), 1000);
  return 'forced';
}

/**
 * Jobs a worker should be taking: those waiting, plus a delayed one due more than 5 s ago (workers
 * promote delayed jobs as they fetch, so a stuck worker leaves them delayed, the campaign tick included).
 */
export async function jobsToTake(queue: Queue): Promise<number> {
  const waiting = await queue.getWaitingCount();
  if (waiting > 0) return waiting;
  const [next] = await queue.getDelayed(0, 0);
  return next && next.timestamp + (next.delay ?? 0) < Date.now() - 5000 ? 1 : 0;
}

/** A worker that fetched nothing for this long while its queue held waiting jobs is taken for stuck. @defaultValue 30000 ms */
export const STUCK_AFTER_MS = 30_000;
/** How often a supervised worker is checked. @defaultValue 10000 ms */
export const STUCK_CHECK_EVERY_MS = 10_000;

export interface SupervisedWorkerOptions {
  /** Builds the worker (again): a replacement gets a fresh blocking connection. */
  make: (restart: number) => Worker;
  /** Jobs of the queue waiting to be taken. */
  waiting: () => Promise<number>;
  concurrency: number;
  /** Told when the worker was replaced, with the new one. */
  replaced: (next: Worker, previous: Worker) => void;
  logger: Logger;
  /** @defaultValue STUCK_AFTER_MS */
  stuckAfterMs?: number;
  /** @defaultValue STUCK_CHECK_EVERY_MS */
  checkEveryMs?: number;
}

/**
 * Replaces a worker whose fetch loop is stuck. After a Redis Cluster failover, BullMQ's worker can stay
 * parked on its blocking connection (the reset of its abandoned BZPOPMIN never completes on a Cluster
 * client), fetching nothing for good while the process, its other connections and the queue are fine:
 * the campaign tick and everything else on the queue stops. A worker that took no job for
 * `stuckAfterMs` while it has free slots and its queue has had jobs waiting on two checks in a row is
 * closed by force (its running jobs, if any, are taken over when their locks lapse) and built again.
 */
export function superviseWorker(first: Worker, opts: SupervisedWorkerOptions): { stop(): void } {
  const stuckAfterMs = opts.stuckAfterMs ?? STUCK_AFTER_MS;
  let current = first;
  let restarts = 0;
  let lastFetch = Date.now();
  let running = 0;
  let waitingBefore = false;
  const watch = (w: Worker) => {
    w.on('active', () => {
      lastFetch = Date.now();
      running++;
    });
    const done = () => (running = Math.max(0, running - 1));
    w.on('completed', done);
    w.on('failed', done);
  };
  watch(current);
  let checking = false;
  const check = async () => {
    if (checking) return;
    checking = true;
    try {
      const idle = Date.now() - lastFetch >= stuckAfterMs && running < opts.concurrency;
      const waiting = idle ? (await opts.waiting()) > 0 : false;
      const stuck = idle && waiting && waitingBefore;
      waitingBefore = idle && waiting;
      if (!stuck) return;
      restarts++;
      opts.logger.error({ queue: current.name, idleMs: Date.now() - lastFetch, restarts }, 'worker took no job while jobs waited: replacing it');
      const previous = current;
      running = 0;
      lastFetch = Date.now();
      waitingBefore = false;
      current = opts.make(restarts);
      watch(current);
      opts.replaced(current, previous);
      void settleWithin(previous.close(true), 5000);
    } catch {
      // The queue could not be read (Redis away): nothing to conclude.
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), opts.checkEveryMs ?? STUCK_CHECK_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
