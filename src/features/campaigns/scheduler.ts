import type { CallRepository } from '../../calls/repository';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import type { EventSink } from '../events';
import { outboundIdFor, type OutboundCalls, type OutboundChangeHook, type OutboundRecord, type OutboundRequest, type OutboundStore } from '../outbound';
import { addAttemptEnded, type AttemptEndedJob, type CampaignQueue } from './jobs';
import { attemptsOf, NEVER_RETRIED, retryClass, type CampaignSettings, type StoredTask } from './model';
import type { CampaignRecord, CampaignRepository } from './repository';
import { emitCampaignEnded, parseSettings, resolvedWindow, type DoNotCallCheck } from './service';
import { insideWindow, nextOpening } from './windows';

export interface CampaignSchedulerDeps {
  repository: CampaignRepository;
  outbound: Pick<OutboundCalls, 'place' | 'cancel'>;
  outboundStore: Pick<OutboundStore, 'get'>;
  calls: Pick<CallRepository, 'get'>;
  isDoNotCall: DoNotCallCheck;
  events: EventSink;
  /** Outbound calls queued and not yet taken by a worker (single calls and campaigns' together). */
  outboundBacklog: () => Promise<number>;
  /**
   * Looks at an attempt's call at Twilio and, when it is over, ends it as its final status callback would
   * have (which queues the attempt's end). @defaultValue none (an attempt waits for its callback)
   */
  lookAtCall?: (outboundId: string) => Promise<string>;
  /** TWILIO_CPS. */
  cps: number;
  /** @defaultValue Date.now */
  now?: () => number;
  logger: Logger;
  metrics: Metrics;
}

/**
 * How many seconds of placements the outbound queue may hold. The scheduler only tops the queue up to
 * this, round robin over the running campaigns, so a campaign of 100,000 tasks never fills it ahead of
 * another campaign or of single calls: each waits at most this long behind the others.
 */
export const BACKLOG_SECONDS = 2;
/** A task in flight nothing was heard of for this long is looked at again (lost callback, killed worker). */
export const STALE_AFTER_MS = 120_000;
/** A listed campaign without a record for this long is taken off the scheduler's list (its create never finished). */
const ORPHAN_AFTER_MS = 60_000;
/** How many such tasks one tick looks at per campaign. */
const STALE_PER_TICK = 20;

/** The idempotency key of attempt `attempt` of a task: a repeated tick or a taken-over job never places two calls. */
export const attemptKey = (campaignId: string, taskId: string, attempt: number) => `campaign:${campaignId}:${taskId}:${attempt}`;

/** The outbound request of a task's attempt: the same every time it is built, so a repeat is recognised. */
export function attemptRequest(campaignId: string, taskId: string, settings: CampaignSettings, task: StoredTask, data: { v?: Record<string, string>; m?: Record<string, unknown> }): OutboundRequest {
  return {
    to: task.to,
    ...(settings.from ? { from: settings.from } : {}),
    ...(settings.agent_id ? { agent_id: settings.agent_id } : {}),
    ...(settings.agent_version !== undefined ? { agent_version: settings.agent_version } : {}),
    ...(data.v ? { dynamic_variables: data.v } : {}),
    metadata: { ...(data.m ?? {}), campaign_id: campaignId, task_id: taskId },
    ...(settings.voicemail ? { voicemail: settings.voicemail } : {}),
    ...(settings.voicemail_message !== undefined ? { voicemail_message: settings.voicemail_message } : {}),
    ...(settings.ring_timeout_s !== undefined ? { ring_timeout_s: settings.ring_timeout_s } : {}),
    ...(settings.record !== undefined ? { record: settings.record } : {}),
  };
}

/** The campaign and task an outbound call is an attempt of, from its metadata. */
function campaignOf(metadataJson: string): { campaignId: string; taskId: string } | null {
  try {
    const m = JSON.parse(metadataJson) as Record<string, unknown>;
    return typeof m.campaign_id === 'string' && typeof m.task_id === 'string' ? { campaignId: m.campaign_id, taskId: m.task_id } : null;
  } catch {
    return null;
  }
}

/**
 * The outbound side's hook: an answered attempt moves its task to in_progress (one script), an ended one
 * queues its processing for the worker (one job add). Nothing for a call that is no campaign's.
 */
export function campaignOutboundHook(repository: CampaignRepository, queue: CampaignQueue): OutboundChangeHook {
  return async (record, status) => {
    const ids = campaignOf(record.metadata);
    if (!ids) return;
    if (status === 'in-progress') await repository.answered(ids.campaignId, ids.taskId, record.id);
    else await addAttemptEnded(queue, { ...ids, outboundId: record.id });
  };
}

/**
 * The placer's check before an attempt is dialed: a paused campaign holds its queued attempts until it is
 * resumed, a canceled one cancels them (even those a cancel could not reach). Other calls go on.
 */
export function campaignStop(repository: Pick<CampaignRepository, 'status'>): (record: OutboundRecord) => Promise<'paused' | 'canceled' | undefined> {
  return async (record) => {
    const ids = campaignOf(record.metadata);
    const status = ids ? await repository.status(ids.campaignId) : null;
    return status === 'paused' || status === 'canceled' ? status : undefined;
  };
}

/**
 * The worker's side of campaigns: each tick takes due tasks of the running campaigns, round robin, as
 * far as the outbound queue's backlog and each campaign's max_concurrency allow, and places each as a
 * normal outbound call (so TWILIO_CPS paces them together with single calls); each attempt's end is
 * recorded, then retried after delay_s (at the next opening of the window) or final.
 */
export class CampaignScheduler {
  private readonly now: () => number;
  /** The campaign served last: the next tick starts after it, so each gets its turn. */
  private lastServed: string | undefined;

  constructor(private readonly deps: CampaignSchedulerDeps) {
    this.now = deps.now ?? Date.now;
  }

  private ticking: Promise<{ dialed: number }> | undefined;

  /**
   * One pass over the active campaigns; a tick that comes while one runs in this process is skipped.
   * Ticks of two workers may overlap: claims are atomic and placements idempotent.
   */
  async tick(): Promise<{ dialed: number }> {
    if (this.ticking) return { dialed: 0 };
    this.ticking = this.pass();
    try {
      return await this.ticking;
    } finally {
      this.ticking = undefined;
    }
  }

  private async pass(): Promise<{ dialed: number }> {
    const { repository, metrics } = this.deps;
    const now = this.now();
    const ids = await repository.active();
    if (!ids.length) {
      metrics.campaignTasksDue.set(0);
      return { dialed: 0 };
    }
    const records = await repository.getMany(ids);
    const live: Array<{ record: CampaignRecord; settings: CampaignSettings }> = [];
    // Canceled campaigns whose calls under way are not over yet: nothing is dialed, but their tasks in
    // flight are looked after, and they end (campaign.completed) when the last one does.
    const draining: Array<{ record: CampaignRecord; settings: CampaignSettings }> = [];
    for (let i = 0; i < ids.length; i++) {
      const record = records[i];
      if (!record) {
        // Listed just before its hash is written (a create under way), or gone (expired, or a create that
        // never finished): only the latter leaves the list.
        const listed = await repository.listedAt(ids[i]!);
        if (listed === null || listed < now - ORPHAN_AFTER_MS) await repository.retire(ids[i]!);
      } else if (record.status === 'completed' || (record.status === 'canceled' && record.endedAt)) await repository.retire(ids[i]!);
      else if (record.status === 'canceled') draining.push({ record, settings: parseSettings(record) });
      else live.push({ record, settings: parseSettings(record) });
    }
    for (const c of draining) await this.claimAndDial(c.record.id, c.settings, 0, now);
    // Round robin: each tick starts with the campaign after the one served last.
    live.sort((a, b) => a.record.id.localeCompare(b.record.id));
    const after = this.lastServed === undefined ? 0 : live.findIndex((c) => c.record.id > this.lastServed!);
    const turn = after < 0 ? 0 : after;
    const order = [...live.slice(turn), ...live.slice(0, turn)];

    let budget = Math.max(0, BACKLOG_SECONDS * this.deps.cps - (await this.deps.outboundBacklog()));
    let dialed = 0;
    let hungry = order;
    while (budget > 0 && hungry.length) {
      const share = Math.max(1, Math.floor(budget / hungry.length));
      const still: typeof hungry = [];
      for (const c of hungry) {
        if (budget <= 0) break;
        const want = Math.min(share, budget);
        const taken = await this.claimAndDial(c.record.id, c.settings, want, now);
        budget -= taken;
        dialed += taken;
        if (taken > 0) this.lastServed = c.record.id;
        if (taken >= want) still.push(c);
      }
      hungry = still;
    }
    // Claims also start scheduled campaigns and complete finished ones; look at those with no budget too.
    if (budget <= 0) for (const c of order) if (c.record.status === 'scheduled') await this.claimAndDial(c.record.id, c.settings, 0, now);

    let due = 0;
    for (const c of [...live, ...draining]) {
      if (c.record.status === 'running') due += await repository.dueCount(c.record.id, now);
      for (const taskId of await repository.stale(c.record.id, now - STALE_AFTER_MS, now, STALE_PER_TICK)) {
        await this.reconcile(c.record.id, c.settings, taskId, now).catch((err: Error) =>
          this.deps.logger.error({ campaignId: c.record.id, taskId, err: err.message }, 'could not look at a task in flight'),
        );
      }
    }
    metrics.campaignTasksDue.set(due);
    return { dialed };
  }

  /** Claims up to `max` due tasks of one campaign and dials them; returns how many were claimed. */
  private async claimAndDial(campaignId: string, settings: CampaignSettings, max: number, now: number): Promise<number> {
    const { repository } = this.deps;
    const claim = await repository.claim(campaignId, now, max, settings.max_concurrency);
    if (claim.kind === 'completed' || claim.kind === 'ended') {
      await this.campaignCompleted(campaignId);
      return 0;
    }
    if (claim.kind === 'unknown') {
      await repository.retire(campaignId);
      return 0;
    }
    if (claim.kind !== 'ok' || !claim.tasks.length) return 0;
    const window = resolvedWindow(settings);
    const inside = claim.tasks.filter(({ task }) => insideWindow(now, task.z, window));
    for (const { id, task } of claim.tasks) {
      if (inside.some((t) => t.id === id)) continue;
      // Its window closed since it became due (or the clock moved): back to wait for the next opening.
      await repository.release(campaignId, id, nextOpening(now, task.z, window), now);
      this.deps.metrics.campaignDeferred.inc({ reason: 'outside_window' });
    }
    if (!inside.length) return claim.tasks.length;
    const listed = await this.deps.isDoNotCall(inside.map((t) => t.task.to));
    const data = await repository.tasks(
      campaignId,
      inside.map((t) => t.id),
    );
    await Promise.all(
      inside.map(async ({ id, task }, i) => {
        const log = this.deps.logger.child({ campaignId, taskId: id });
        try {
          if (listed[i]) return await this.finishWithout(campaignId, id, task, 'do_not_call', 'skipped_dnc', log);
          await this.place(campaignId, id, settings, task, data[i]?.data ?? {}, now, log);
        } catch (err) {
          // The task stays in flight; the reconciler looks at it again.
          log.error({ err: (err as Error).message }, 'campaign dial failed');
          this.deps.metrics.campaignDials.inc({ result: 'failed' });
        }
      }),
    );
    return claim.tasks.length;
  }

  /** Records the attempt (if the campaign still runs) and places its call, idempotently. */
  private async place(campaignId: string, taskId: string, settings: CampaignSettings, task: StoredTask, data: { v?: Record<string, string>; m?: Record<string, unknown> }, now: number, log: Logger): Promise<void> {
    const { repository, metrics } = this.deps;
    const attempt = task.k ?? 1;
    const key = attemptKey(campaignId, taskId, attempt);
    const outboundId = outboundIdFor(key);
    const begun = await repository.begin(campaignId, taskId, attempt, outboundId, now);
    if (begun.kind === 'stopped') {
      // Paused or canceled between the claim and now: the task is given back (canceled with its campaign).
      const released = await repository.release(campaignId, taskId, now, now);
      if (released.completed) await this.campaignCompleted(campaignId);
      metrics.campaignDeferred.inc({ reason: begun.status === 'paused' ? 'paused' : 'canceled' });
      return;
    }
    if (begun.kind !== 'ok') return;
    const outcome = await this.deps.outbound.place(attemptRequest(campaignId, taskId, settings, task, data), key);
    const kind = outcome.kind as string;
    if (kind === 'queued' || kind === 'repeat') {
      metrics.campaignDials.inc({ result: 'placed' });
      log.info({ outboundId, attempt, to: task.to }, 'campaign attempt queued');
      // A cancel that came between recording the attempt and queueing its call did not see the call:
      // stop it here (the outbound cancel ends it once, whoever asks).
      if ((await repository.get(campaignId))?.status === 'canceled' && (await this.deps.outboundStore.get(outboundId))?.status === 'queued') {
        await this.deps.outbound.cancel(outboundId);
        log.info({ outboundId }, 'campaign canceled while its attempt was queued: call canceled');
      }
      return;
    }
    if (kind === 'unavailable') {
      // Stays in flight: the reconciler places it again (same key) once the store answers.
      metrics.campaignDials.inc({ result: 'failed' });
      log.warn({ outboundId }, 'outbound store unavailable: the attempt will be placed again');
      return;
    }
    // Refused before any call: do-not-call (POST /calls' 422) or a request the outbound rules refuse.
    const reason = 'reason' in outcome ? outcome.reason : undefined;
    const dnc = kind === 'do_not_call';
    log.warn({ outboundId, refusal: kind, reason }, 'campaign attempt refused before placing');
    metrics.campaignDials.inc({ result: dnc ? 'skipped_dnc' : 'refused' });
    const result = await repository.finish(campaignId, taskId, { outboundId, outcome: dnc ? 'do_not_call' : kind, final: dnc ? 'skipped_dnc' : 'completed', now });
    if (result.kind === 'final') await this.finalEvents(campaignId, taskId, task.to, dnc ? 'do_not_call' : kind, result.attempts, result.campaignCompleted);
  }

  /** A task ended before any attempt was placed (do-not-call). */
  private async finishWithout(campaignId: string, taskId: string, task: StoredTask, outcome: string, final: 'skipped_dnc' | 'completed', log: Logger): Promise<void> {
    const result = await this.deps.repository.finish(campaignId, taskId, { outcome, final, now: this.now() });
    this.deps.metrics.campaignDials.inc({ result: final === 'skipped_dnc' ? 'skipped_dnc' : 'refused' });
    log.info({ to: task.to, outcome }, 'campaign task ended without a dial');
    if (result.kind === 'final') await this.finalEvents(campaignId, taskId, task.to, outcome, result.attempts, result.campaignCompleted);
  }

  /** An attempt's call ended: its outcome recorded, then the task retried or final. */
  async attemptEnded(job: AttemptEndedJob): Promise<'retry' | 'final' | 'dup' | 'pending' | 'unknown'> {
    const { repository } = this.deps;
    const { campaignId, taskId, outboundId } = job;
    const log = this.deps.logger.child({ campaignId, taskId, outboundId });
    const [record, campaign, task] = await Promise.all([this.deps.outboundStore.get(outboundId), repository.get(campaignId), repository.task(campaignId, taskId)]);
    if (!campaign || !task) return 'unknown';
    if (!record) {
      log.warn('the attempt\'s outbound record is gone: ended as failed');
    } else if (record.status !== 'ended') {
      return 'pending';
    }
    const settings = parseSettings(campaign);
    const now = this.now();
    const outcome: string = record?.outcome ?? 'dial_failed';
    const cls = retryClass(outcome, record?.answeredBy);
    const made = attemptsOf(task).length;
    const retry = !NEVER_RETRIED.has(outcome) && cls !== undefined && settings.retry.on.includes(cls) && made < settings.retry.max_attempts;
    const retryAt = retry ? nextOpening(now + settings.retry.delay_s * 1000, task.z, resolvedWindow(settings)) : undefined;
    const retellCallId = record?.callSid ? (await this.deps.calls.get(record.callSid))?.callId : undefined;
    // A call canceled before it was dialed (its campaign's cancel stopped it in the queue) leaves its task canceled.
    const final = outcome === 'do_not_call' ? 'skipped_dnc' : outcome === 'canceled' && !record?.callSid ? 'canceled' : 'completed';
    const result = await repository.finish(campaignId, taskId, {
      outboundId,
      ...(record?.callSid ? { callSid: record.callSid } : {}),
      outcome,
      ...(record?.answeredBy ? { answeredBy: record.answeredBy } : {}),
      ...(retellCallId ? { retellCallId } : {}),
      ...(retryAt !== undefined ? { retryAt } : {}),
      final,
      now,
    });
    if (result.kind === 'retry') {
      log.info({ outcome, attempts: made, retryAt: new Date(retryAt!).toISOString() }, 'campaign attempt ended: retry scheduled');
      this.deps.metrics.campaignAttempts.inc({ outcome, next: 'retry' });
      return 'retry';
    }
    if (result.kind !== 'final') return result.kind;
    this.deps.metrics.campaignAttempts.inc({ outcome, next: 'final' });
    log.info({ outcome, attempts: result.attempts }, 'campaign task completed');
    await this.finalEvents(campaignId, taskId, task.to, outcome, result.attempts, result.campaignCompleted);
    return 'final';
  }

  /**
   * A task in flight that nothing was heard of: claimed but never begun (the worker died), begun but its
   * call never created (placed again, same key), or ended without its end being processed.
   */
  private async reconcile(campaignId: string, settings: CampaignSettings, taskId: string, now: number): Promise<void> {
    const { repository } = this.deps;
    const task = await repository.task(campaignId, taskId);
    if (!task || (task.s !== 'dialing' && task.s !== 'in_progress')) return;
    const attempts = attemptsOf(task);
    const log = this.deps.logger.child({ campaignId, taskId });
    if (attempts.length < (task.k ?? 0)) {
      log.warn('task claimed but never dialed (a worker stopped): back to wait');
      const released = await repository.release(campaignId, taskId, now, now);
      if (released.completed) await this.campaignCompleted(campaignId);
      return;
    }
    const last = attempts[attempts.length - 1];
    if (!last || last.o) return;
    const record = await this.deps.outboundStore.get(last.i);
    if (!record) {
      log.warn({ outboundId: last.i }, 'attempt begun but its call was never queued: placing it again');
      const [row] = await repository.tasks(campaignId, [taskId]);
      await this.place(campaignId, taskId, settings, { ...task, k: attempts.length }, row?.data ?? {}, now, log);
      return;
    }
    if (record.status !== 'ended') {
      // Nothing heard of the call for STALE_AFTER_MS: its final status callback may have been lost (Twilio
      // does not retry one the bridge refused). Twilio's record of the call says whether it is over; if it
      // is, it ends as the callback would have ended it, the attempt's end queued by the outbound hook.
      if (!this.deps.lookAtCall || (await this.deps.lookAtCall(last.i)) !== 'ended') return;
      log.warn({ outboundId: last.i }, 'attempt found over at Twilio: processing its end now');
    } else {
      log.warn({ outboundId: last.i }, 'attempt ended without its end processed: processing it now');
    }
    await this.attemptEnded({ campaignId, taskId, outboundId: last.i });
  }

  private async finalEvents(campaignId: string, taskId: string, to: string, outcome: string, attempts: number, campaignCompleted: boolean): Promise<void> {
    this.deps.metrics.campaignTasksCompleted.inc({ outcome });
    await this.deps.events.emit('campaign.task.completed', { campaign_id: campaignId, task_id: taskId, to, outcome, attempts }, { key: `${campaignId}:${taskId}` });
    if (campaignCompleted) await this.campaignCompleted(campaignId);
  }

  /** The campaign ended (completed, or canceled with its last call over): called once, by the script's caller that ended it. */
  private async campaignCompleted(campaignId: string): Promise<void> {
    const record = await this.deps.repository.get(campaignId);
    await this.deps.repository.retire(campaignId);
    if (record) await emitCampaignEnded(this.deps.events, this.deps.logger, record);
  }
}
