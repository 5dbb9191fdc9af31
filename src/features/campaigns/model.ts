/**
 * A campaign and its tasks as stored and as the API shows them. A campaign's settings are one JSON
 * field of its hash; each task is one compact JSON value in the campaign's task hash (≈ 300-600 bytes).
 */
import type { CallWindow } from './windows';

export type CampaignStatus = 'scheduled' | 'running' | 'paused' | 'completed' | 'canceled';

/**
 * Where a task stands: `pending` (never dialed), `scheduled` (waiting for a retry), `dialing` (an
 * attempt is being placed or rings), `in_progress` (answered), then one of the final ones.
 */
export type TaskStatus = 'pending' | 'scheduled' | 'dialing' | 'in_progress' | 'completed' | 'canceled' | 'skipped_dnc';

export const TASK_STATUSES: readonly TaskStatus[] = ['pending', 'scheduled', 'dialing', 'in_progress', 'completed', 'canceled', 'skipped_dnc'];

/** The outcome classes `retry.on` names, and the outbound outcomes each covers. */
export const RETRY_CLASSES = ['no_answer', 'busy', 'voicemail', 'failed'] as const;
export type RetryClass = (typeof RETRY_CLASSES)[number];

/**
 * The retry class of an attempt's outcome (outbound names), or undefined for one never retried (a
 * conversation, a cancel, a refusal by do-not-call or the pre-dial hook). A machine that the agent
 * talked to (`voicemail: continue`) counts as a voicemail.
 */
export function retryClass(outcome: string, answeredBy?: string): RetryClass | undefined {
  if (outcome === 'dial_no_answer') return 'no_answer';
  if (outcome === 'dial_busy') return 'busy';
  if (outcome === 'dial_failed') return 'failed';
  if (outcome === 'voicemail_hangup' || outcome === 'voicemail_message_left') return 'voicemail';
  if (outcome === 'completed' && answeredBy?.startsWith('machine')) return 'voicemail';
  return undefined;
}

/** Outcomes that end a task at once, whatever `retry.on` says. */
export const NEVER_RETRIED: ReadonlySet<string> = new Set(['do_not_call', 'predial_refused', 'canceled', 'not_allowed', 'invalid']);

/** What a campaign dials with, as validated at creation. */
export interface CampaignSettings {
  name?: string;
  from?: string;
  agent_id?: string;
  agent_version?: number;
  window?: { start: string; end: string; days?: string[]; timezone?: string };
  start_at?: string;
  max_concurrency: number;
  retry: { on: RetryClass[]; max_attempts: number; delay_s: number };
  voicemail?: 'hangup' | 'message' | 'continue';
  voicemail_message?: string;
  ring_timeout_s?: number;
  record?: boolean;
}

/** A task as stored (short keys: 100,000 of them per campaign). */
export interface StoredTask {
  /** Number to call. */
  to: string;
  /** Resolved IANA zone the window is read in. */
  z: string;
  /** Dynamic variables. */
  v?: Record<string, string>;
  /** Metadata. */
  m?: Record<string, unknown>;
  /** Status. */
  s: TaskStatus;
  /** Final outcome. */
  o?: string;
  /** Attempts begun (claimed for dialing). */
  k?: number;
  /** Attempts: outbound id, CallSid, outcome, answered_by, Retell call id. */
  a?: Array<{ i: string; c?: string; o?: string; b?: string; r?: string }> | Record<string, never>;
  /** Next eligible time (ms). */
  n?: number;
}

/** The calling window, resolved. */
export interface ResolvedWindow extends CallWindow {
  timezone?: string;
}

export interface CampaignCounts {
  total: number;
  pending: number;
  scheduled: number;
  dialing: number;
  in_progress: number;
  completed: number;
  canceled: number;
  skipped_dnc: number;
}

/** GET /campaigns/{id}. */
export interface CampaignView {
  id: string;
  name?: string;
  status: CampaignStatus;
  created_at: string;
  updated_at: string;
  start_at?: string;
  completed_at?: string;
  /** When it ended: completed, or canceled and its last call over. */
  ended_at?: string;
  /** When its records expire (ended_at + CAMPAIGN_RETENTION_DAYS). */
  expires_at?: string;
  from?: string;
  agent_id?: string;
  window?: CampaignSettings['window'];
  max_concurrency: number;
  retry: CampaignSettings['retry'];
  counts: CampaignCounts;
  outcomes: Record<string, number>;
}

export interface TaskView {
  id: string;
  to: string;
  status: TaskStatus;
  timezone: string;
  outcome?: string;
  attempts: Array<{ outbound_id: string; call_sid?: string; outcome?: string; answered_by?: string }>;
  next_attempt_at?: string;
  dynamic_variables?: Record<string, string>;
}

export const CAMPAIGN_ID = /^cmp_[0-9a-f]{32}$/;
export const TASK_ID = /^tsk_\d{1,9}$/;

export const taskId = (seq: number) => `tsk_${seq}`;
export const taskSeq = (id: string) => Number(id.slice(4));

export function attemptsOf(t: StoredTask): Array<{ i: string; c?: string; o?: string; b?: string; r?: string }> {
  return Array.isArray(t.a) ? t.a : [];
}

/** A task's status as shown: a canceled campaign's tasks that were still waiting are canceled. */
export function effectiveStatus(t: StoredTask, campaign: CampaignStatus): TaskStatus {
  if (campaign === 'canceled' && (t.s === 'pending' || t.s === 'scheduled')) return 'canceled';
  return t.s;
}

export function taskView(id: string, t: StoredTask, campaign: CampaignStatus): TaskView {
  const status = effectiveStatus(t, campaign);
  return {
    id,
    to: t.to,
    status,
    timezone: t.z,
    ...(t.o ? { outcome: t.o } : status === 'canceled' ? { outcome: 'canceled' } : {}),
    attempts: attemptsOf(t).map((a) => ({
      outbound_id: a.i,
      ...(a.c ? { call_sid: a.c } : {}),
      ...(a.o ? { outcome: a.o } : {}),
      ...(a.b ? { answered_by: a.b } : {}),
    })),
    ...((status === 'pending' || status === 'scheduled') && t.n !== undefined ? { next_attempt_at: new Date(t.n).toISOString() } : {}),
    ...(t.v && Object.keys(t.v).length ? { dynamic_variables: t.v } : {}),
  };
}
