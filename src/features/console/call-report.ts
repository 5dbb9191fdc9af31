import { CallRepository } from '../../calls/repository';
import { EventStore, type StoredEvent } from '../events';
import { OutboundStore, type OutboundRecord } from '../outbound';
import { SmsRepository, type SmsMessage } from '../sms';
import type { TwilioRequestEntry } from '../../twilio/http-client';
import type { CallAction, CallActionKind, CallRecord } from '../../calls/record';
import { CALL_SID } from '../../formats';
import type { RedisClient } from '../../redis/connection';
import type { CallActionJobData } from '../../jobs/queues';
import type { CallActionQueue } from '../../jobs/queues';

/** A call-action job as BullMQ holds it. */
export interface JobReport {
  id: string;
  name: string;
  /** completed, failed, delayed (waiting to retry), active, waiting, … */
  state: string;
  attemptsMade: number;
  attempts: number;
  /** What the job was asked to do (for a transfer, where to). */
  data: CallActionJobData & Record<string, unknown>;
  failedReason?: string;
  returnValue?: unknown;
  createdAt: string;
  processedAt?: string;
  finishedAt?: string;
  /** One stack per failed attempt, newest last. */
  stacktrace: string[];
}

/** One transfer or hang-up asked for on the call, and the job that performs it. */
export interface ActionReport {
  seq: number;
  kind: CallActionKind;
  jobId: string;
  /** The action as the call record holds it: only the latest one is kept there. */
  action?: CallAction;
  /** Undefined once BullMQ has removed the job (24 h after completing, 7 days after failing). */
  job?: JobReport;
}

/** A text the agent sent on the call, and the job that sends it. */
export interface TextReport {
  text: SmsMessage;
  /** Undefined once BullMQ has removed the job. */
  job?: JobReport;
}

/** Everything the bridge knows about one call. */
export interface CallReport {
  record: CallRecord;
  actions: ActionReport[];
  /** The agent's texts, in the order it asked for them. */
  texts: TextReport[];
  /** The job of the agent's last pause or resume of the recording, if it asked for one. */
  recordingJob?: JobReport;
  /** Each Twilio REST request the bridge made for the call, oldest first (the last 100). */
  twilioRequests: TwilioRequestEntry[];
  /** The call's events, oldest first, with their deliveries. */
  events: StoredEvent[];
  /** The bridge's id of the outbound call this Twilio call is (`out_…`), when it is one. */
  outboundId?: string;
  /** The campaign and task this call is an attempt of, when it is one. */
  campaign?: { id: string; taskId: string };
}

/** The campaign an outbound call's metadata names (a campaign's attempts carry `campaign_id` and `task_id`). */
function campaignOf(metadata: string | undefined): { id: string; taskId: string } | undefined {
  try {
    const m = JSON.parse(metadata ?? '{}') as { campaign_id?: unknown; task_id?: unknown };
    return typeof m.campaign_id === 'string' && typeof m.task_id === 'string' ? { id: m.campaign_id, taskId: m.task_id } : undefined;
  } catch {
    return undefined;
  }
}

/** An outbound call: the bridge's record of it and, once it is placed, its Twilio call's report. */
export interface OutboundReport {
  outbound: OutboundRecord;
  /** Null before the call is placed, or when the Twilio call's record has expired. */
  call: CallReport | null;
}

const KINDS: readonly CallActionKind[] = ['transfer', 'end_call'];
const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);

/** How long events are read back when the deployment's EVENTS_RETENTION_HOURS is not at hand (inspect). */
const EVENT_READ_RETENTION_MS = 7 * 24 * 3600 * 1000;

/** Reads call records with their actions' jobs, for the operator's tools. */
export class CallReports {
  private readonly calls: CallRepository;
  private readonly outbounds: OutboundStore;
  private readonly texts: SmsRepository;
  private readonly events: EventStore;

  constructor(
    redis: RedisClient,
    prefix: string,
    private readonly queue: CallActionQueue,
  ) {
    this.calls = new CallRepository(redis, prefix);
    this.outbounds = new OutboundStore(redis, prefix);
    this.texts = new SmsRepository(redis, prefix);
    this.events = new EventStore(redis, prefix, EVENT_READ_RETENTION_MS);
  }

  /** An outbound call by the bridge's id for it (`out_…`), or null when there is no such record. */
  async outbound(id: string): Promise<OutboundReport | null> {
    const outbound = await this.outbounds.get(id);
    if (!outbound) return null;
    return { outbound, call: outbound.callSid ? await this.read(outbound.callSid) : null };
  }

  /** The CallSid for a CallSid or a Retell call id, or null when the bridge has no such call. */
  async callSidFor(id: string): Promise<string | null> {
    if (CALL_SID.test(id)) return id;
    if (id.startsWith('out_')) return (await this.outbounds.get(id))?.callSid ?? null;
    return this.calls.callSidForRetellCall(id);
  }

  async read(id: string): Promise<CallReport | null> {
    const callSid = await this.callSidFor(id);
    const record = callSid ? await this.calls.get(callSid) : null;
    if (!record) return null;
    const current = record.action ? (JSON.parse(record.action) as CallAction) : undefined;
    const actions: ActionReport[] = [];
    // Earlier actions were replaced on the record when they failed; their jobs are found by their ids.
    for (let seq = 1; seq < (current?.seq ?? 1); seq++) {
      for (const kind of KINDS) {
        const jobId = `${kind}-${record.callSid}-${seq}`;
        const job = await this.job(jobId);
        if (job) actions.push({ seq, kind, jobId, job });
      }
    }
    if (current) actions.push({ seq: current.seq, kind: current.kind, jobId: current.jobId, action: current, job: await this.job(current.jobId) });
    const texts: TextReport[] = [];
    for (const text of await this.texts.ofCall(record.callSid)) texts.push({ text, job: await this.job(text.id) });
    const control = record.recordingControl ? (JSON.parse(record.recordingControl) as { jobId: string }) : undefined;
    const recordingJob = control ? await this.job(control.jobId) : undefined;
    const [twilioRequests, events, outboundId] = await Promise.all([
      this.calls.twilioRequests(record.callSid),
      this.events.forCall(record.callSid),
      record.direction === 'outbound' ? this.outbounds.idForCallSid(record.callSid) : Promise.resolve(null),
    ]);
    const campaign = outboundId ? campaignOf((await this.outbounds.get(outboundId))?.metadata) : undefined;
    return { record, actions, texts, ...(recordingJob ? { recordingJob } : {}), twilioRequests, events, ...(outboundId ? { outboundId } : {}), ...(campaign ? { campaign } : {}) };
  }

  async job(jobId: string): Promise<JobReport | undefined> {
    // The state first, then the job's fields: read the other way round, a job finishing in between
    // would show as completed with the attempts and return value of before.
    const state = await this.queue.getJobState(jobId);
    const job = await this.queue.getJob(jobId);
    if (!job) return undefined;
    return {
      id: jobId,
      name: job.name,
      state,
      attemptsMade: job.attemptsMade,
      attempts: job.opts.attempts ?? 1,
      data: job.data as CallActionJobData & Record<string, unknown>,
      failedReason: job.failedReason || undefined,
      returnValue: job.returnvalue ?? undefined,
      createdAt: iso(job.timestamp) ?? '',
      processedAt: iso(job.processedOn),
      finishedAt: iso(job.finishedOn),
      stacktrace: job.stacktrace ?? [],
    };
  }
}
