/**
 * A call's timeline: everything its report holds (what `npm run inspect` prints), as entries in the
 * order they happened. Values stay plain strings here; the page escapes and masks them.
 */
import { actionOf, recordingControlOf, warmTransferOf, type CallRecord } from '../../calls/record';
import type { TwilioRequestEntry } from '../../twilio/http-client';
import type { CallReport, JobReport } from './call-report';

/** One line of an entry: a label and a value, shown as a number (maskable), text, code, or a block. */
export interface Detail {
  label: string;
  value: string;
  as?: 'number' | 'code' | 'pre';
  /** A console page the value links to (another call, an outbound call). */
  href?: string;
}

export interface TimelineEntry {
  /** ISO 8601; entries without a time come last, in the order made. */
  at?: string;
  kind: string;
  title: string;
  tone?: 'ok' | 'bad';
  details: Detail[];
}

const callHref = (id: string) => `/admin/calls/${encodeURIComponent(id)}`;

function d(label: string, value: string | number | boolean | undefined, opts: Omit<Detail, 'label' | 'value'> = {}): Detail[] {
  return value === undefined || value === '' ? [] : [{ label, value: String(value), ...opts }];
}

function jobDetails(jobId: string, job: JobReport | undefined): Detail[] {
  if (!job) return d('job', `${jobId}: no longer in the queue (removed after its retention period)`, { as: 'code' });
  return [
    ...d('job', `${job.id}: ${job.state}, ${job.attemptsMade} of ${job.attempts} attempts`, { as: 'code' }),
    ...d('queued', job.createdAt),
    ...d('started', job.processedAt),
    ...d('finished', job.finishedAt),
    ...d('failed because', job.failedReason),
    ...(job.returnValue !== undefined ? d('returned', JSON.stringify(job.returnValue), { as: 'code' }) : []),
    ...job.stacktrace.flatMap((stack, i) => d(`attempt ${i + 1} failed`, stack.split('\n')[0])),
  ];
}

function registration(r: CallRecord): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  if (r.lookup) out.push({ at: r.createdAt, kind: 'lookup', title: `Lookup hook answered: ${r.lookup}`, tone: r.lookup === 'ok' ? 'ok' : 'bad', details: [] });
  if (r.state === 'rejected') out.push({ at: r.createdAt, kind: 'answer', title: 'Rejected (the lookup hook refused the call)', tone: 'bad', details: d('answer (TwiML)', r.twiml, { as: 'pre' }) });
  else if (r.callId || r.twiml) {
    const fallback = !r.callId;
    out.push({
      at: r.createdAt,
      kind: 'registration',
      title: fallback ? `Fallback answer${r.error ? `: ${r.error}` : ''}` : 'Registered with Retell, dialed to it over SIP',
      tone: fallback ? 'bad' : 'ok',
      details: [...d('agent', r.agentId), ...d('Retell call_id', r.callId, { as: 'code' }), ...d('answer (TwiML)', r.twiml, { as: 'pre' })],
    });
  }
  return out;
}

function twilioStatuses(r: CallRecord): TimelineEntry[] {
  const steps: Array<[string | undefined, string]> = [
    [r.queuedAt, 'queued'],
    [r.initiatedAt, 'initiated'],
    [r.ringingAt, 'ringing'],
    [r.answeredAt, 'answered (in-progress)'],
  ];
  const out: TimelineEntry[] = steps.filter(([at]) => at).map(([at, what]) => ({ at, kind: 'twilio status', title: `Twilio: ${what}`, details: [] }));
  if (r.endedAt) {
    out.push({
      at: r.endedAt,
      kind: 'twilio status',
      title: `Twilio: call over (${r.endReason ?? r.twilioStatus ?? 'ended'})`,
      tone: r.endReason === 'completed' ? 'ok' : undefined,
      details: [...d('duration (s)', r.duration), ...d('SIP dial to Retell', r.dialStatus)],
    });
  } else if (r.dialStatus) out.push({ kind: 'sip', title: `SIP dial to Retell ended: ${r.dialStatus}`, details: [] });
  return out;
}

function retellEvents(r: CallRecord): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  if (r.agentStartedAt) out.push({ at: r.agentStartedAt, kind: 'retell', title: 'Retell: call_started (the agent is on the line)', details: [] });
  if (r.agentEndedAt) {
    out.push({
      at: r.agentEndedAt,
      kind: 'retell',
      title: `Retell: call_ended${r.disconnectionReason ? ` (${r.disconnectionReason})` : ''}`,
      details: d('agent on the call (ms)', r.agentDurationMs),
    });
  }
  if (r.analyzedAt) {
    out.push({
      at: r.analyzedAt,
      kind: 'retell',
      title: 'Retell: call_analyzed',
      details: [...d('sentiment', r.userSentiment), ...d('successful', r.callSuccessful), ...d('summary', r.summary)],
    });
  }
  return out;
}

function actions(report: CallReport): TimelineEntry[] {
  return report.actions.map((a) => {
    const target = a.action?.target ?? (typeof a.job?.data.target === 'string' ? a.job.data.target : undefined);
    const status = a.action ? a.action.status : 'replaced by a later action';
    return {
      at: a.action?.requestedAt ?? a.job?.createdAt,
      kind: 'function call',
      title: `Function call #${a.seq}: ${a.kind}${target ? ' to ' : ''}${target ?? ''}, ${status}`,
      tone: a.action?.status === 'done' ? 'ok' : a.action?.status === 'failed' ? 'bad' : undefined,
      details: [
        ...d('destination', target, { as: 'number' }),
        ...d('told the agent', a.action?.answer),
        ...d('error', a.action?.error),
        ...(a.action?.uncertain ? d('outcome', 'uncertain: sent, no answer yet') : []),
        ...jobDetails(a.jobId, a.job),
      ],
    };
  });
}

function warmTransfer(r: CallRecord): TimelineEntry[] {
  const t = warmTransferOf(r);
  if (!t) return [];
  const leg = t.legSid ? d("person's leg", t.legSid, { as: 'code', href: callHref(t.legSid) }) : [];
  const out: TimelineEntry[] = [
    {
      at: t.placedAt,
      kind: 'warm transfer',
      title: `Warm transfer: ringing ${t.label}`,
      details: [...d('to', t.target, { as: 'number' }), ...d('caller ID', t.from, { as: 'number' }), ...leg, ...d('summary for the person', t.summary), ...d('id', t.id, { as: 'code' })],
    },
  ];
  if (t.acceptedAt) out.push({ at: t.acceptedAt, kind: 'warm transfer', title: `Warm transfer accepted by ${t.label}`, tone: 'ok', details: leg });
  if (t.failedAt || t.status === 'transfer_failed') out.push({ at: t.failedAt, kind: 'warm transfer', title: `Warm transfer failed: ${t.reason ?? 'unknown'}`, tone: 'bad', details: leg });
  return out;
}

function recording(report: CallReport): TimelineEntry[] {
  const r = report.record;
  if (!r.recording && !r.recordingSid) return [];
  const out: TimelineEntry[] = [
    {
      at: r.recordingConsentAt ?? r.createdAt,
      kind: 'recording',
      title: `Recording (${r.recording ?? 'unknown'}): consent ${r.recordingConsent ?? 'unknown'}`,
      details: [
        ...d("Twilio's recording", r.recordingSid, { as: 'code' }),
        ...d('status', r.recordingStatus),
        ...d('duration (s)', r.recordingDuration),
        ...d('channels', r.recordingChannels),
        ...d('url', r.recordingUrl, { as: 'code' }),
      ],
    },
  ];
  const control = recordingControlOf(r);
  if (control) {
    out.push({
      at: control.requestedAt,
      kind: 'function call',
      title: `Function call: ${control.want === 'paused' ? 'pause' : 'resume'} the recording, ${control.status}`,
      tone: control.status === 'failed' ? 'bad' : control.status === 'done' ? 'ok' : undefined,
      details: [...d('told the agent', control.answer), ...d('error', control.error), ...jobDetails(control.jobId, report.recordingJob)],
    });
  }
  return out;
}

function texts(report: CallReport): TimelineEntry[] {
  return report.texts.map(({ text, job }, i) => ({
    at: text.requestedAt,
    kind: 'text',
    title: `Text #${i + 1} (${text.template}): ${text.status}${text.twilioStatus ? `, Twilio: ${text.twilioStatus}` : ''}`,
    tone: text.status === 'failed' || text.errorCode ? 'bad' : undefined,
    details: [
      ...d('to', text.to, { as: 'number' }),
      ...d('from', text.messagingServiceSid ?? text.from, { as: 'number' }),
      ...d('message', text.messageSid, { as: 'code' }),
      ...d('body', text.body),
      ...d('segments', `${text.segments} (${text.encoding})`),
      ...d('error code', text.errorCode),
      ...d('error', text.error),
      ...jobDetails(text.id, job),
    ],
  }));
}

function events(report: CallReport): TimelineEntry[] {
  return report.events.map((e) => {
    const deliveries = Object.entries(e.deliveries);
    const failed = deliveries.some(([, x]) => x.status === 'failed');
    return {
      at: new Date(e.at).toISOString(),
      kind: 'event',
      title: `Event ${e.type}`,
      tone: failed ? 'bad' : undefined,
      details: [
        ...d('id', e.id, { as: 'code', href: `/admin/events?id=${encodeURIComponent(e.id)}` }),
        ...deliveries.flatMap(([endpoint, x]) =>
          d(`delivery (${endpoint})`, `${x.status}, ${x.attempts} attempt${x.attempts === 1 ? '' : 's'}${x.last ? `, last answer ${x.last}` : ''}${x.lastAt ? ` at ${x.lastAt}` : ''}`),
        ),
        ...d('data', JSON.stringify((JSON.parse(e.body) as { data: unknown }).data), { as: 'pre' }),
      ],
    };
  });
}

/** Each Twilio request as an entry: method, path, answer, time taken, Twilio's error code. */
export function twilioRequestEntries(requests: readonly TwilioRequestEntry[]): TimelineEntry[] {
  return requests.map((r) => ({
    at: r.at,
    kind: 'twilio request',
    title: `Twilio ${r.method} ${r.path.replace(/^\/2010-04-01\/Accounts\/AC[0-9a-fA-F]{32}/, '…')} → ${r.status ?? `no answer (${r.error ?? 'unknown'})`}`,
    tone: r.status !== undefined && r.status < 400 ? 'ok' : 'bad',
    details: [...d('took (ms)', r.durationMs), ...d("Twilio's error code", r.errorCode), ...d('path', r.path, { as: 'code' })],
  }));
}

/** The call's entries, oldest first. */
export function timelineOf(report: CallReport): TimelineEntry[] {
  const r = report.record;
  const first: TimelineEntry = {
    at: r.createdAt,
    kind: 'voice webhook',
    title: r.direction === 'outbound' ? 'Outbound call answered: its voice webhook' : 'Voice webhook: a call came in',
    details: [
      ...d('from', r.from, { as: 'number' }),
      ...d('to', r.to, { as: 'number' }),
      ...d('CallSid', r.callSid, { as: 'code' }),
      ...d('outbound call', report.outboundId, { as: 'code', href: report.outboundId ? callHref(report.outboundId) : undefined }),
      ...(report.campaign
        ? d('campaign attempt', `${report.campaign.id}, task ${report.campaign.taskId}`, { as: 'code', href: `/admin/campaigns/${encodeURIComponent(report.campaign.id)}?task=${encodeURIComponent(report.campaign.taskId)}` })
        : []),
    ],
  };
  const entries = [
    first,
    ...registration(r),
    ...twilioStatuses(r),
    ...retellEvents(r),
    ...actions(report),
    ...warmTransfer(r),
    ...recording(report),
    ...texts(report),
    ...events(report),
    ...twilioRequestEntries(report.twilioRequests),
  ];
  // Stable: entries at the same time keep the order above (the webhook before its registration).
  const timed = entries.map((e, i) => ({ e, i, t: e.at ? Date.parse(e.at) : Number.POSITIVE_INFINITY }));
  timed.sort((a, b) => a.t - b.t || a.i - b.i);
  return timed.map((x) => x.e);
}

/** How a call's transfer went, in a few words for the list (none when it had none). */
export function transferOutcome(r: Pick<CallRecord, 'action' | 'warmTransfer'>): string | undefined {
  const warm = warmTransferOf(r);
  const action = actionOf(r);
  if (warm && action?.kind === 'warm_transfer') {
    const status = warm.status.replace('transfer_', '');
    return `warm: ${status}${warm.reason ? ` (${warm.reason})` : ''}`;
  }
  if (!action) return undefined;
  if (action.kind === 'end_call') return `hang-up: ${action.status}`;
  return `${action.kind === 'transfer' ? 'cold' : 'warm'}: ${action.status}`;
}
