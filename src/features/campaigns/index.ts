/**
 * Campaigns: a list of numbers called from the user's own Twilio numbers, each in its own local calling
 * window, with retries per outcome, max_concurrency, pause/resume/cancel and do-not-call. The API and
 * its service (read methods for the console too) create and read campaigns; the worker's scheduler
 * places each attempt as a normal outbound call (paced by TWILIO_CPS with single calls) and follows it
 * to its end through the outbound hook.
 */
export { campaignRoutes } from './routes';
export { Campaigns, campaignIdFor, campaignView, type AddOutcome, type CreateOutcome, type DoNotCallCheck, type TaskRow } from './service';
export { CampaignRepository, campaignKeys, type CampaignRecord } from './repository';
export { CampaignScheduler, campaignOutboundHook, campaignStop, attemptKey, BACKLOG_SECONDS, STALE_AFTER_MS } from './scheduler';
export { addAttemptEnded, CAMPAIGNS_QUEUE, createCampaignQueue, scheduleTicks, TICK_EVERY_MS, type AttemptEndedJob, type CampaignQueue } from './jobs';
export {
  TASK_STATUSES,
  RETRY_CLASSES,
  retryClass,
  type CampaignCounts,
  type CampaignStatus,
  type CampaignView,
  type TaskStatus,
  type TaskView,
} from './model';
export { MAX_TASKS_PER_REQUEST, MAX_TASKS_BODY_BYTES, MAX_CONCURRENCY_LIMIT } from './input';
export { insideWindow, nextOpening, zoneOfNumber } from './windows';
