import type { CallRepository, CallSummary } from '../../calls/repository';
import type { CallState } from '../../calls/record';
import type { Campaigns } from '../campaigns';
import { EVENT_TYPES, redeliverEvent, typesOf, type RedeliverDeps, type RedeliverResult, type StoredEvent } from '../events';
import { CALL_SID } from '../../formats';
import type { TwilioRequestEntry } from '../../twilio/http-client';
import type { CallReports, CallReport, OutboundReport } from './call-report';

/** A leg without a record of its own, as far as the bridge's requests about it tell. */
export interface LegReport {
  callSid: string;
  /** The call it was placed or changed for. */
  forCall?: string;
  requests: TwilioRequestEntry[];
}

/** The states the list filters by; `live` is every call not over. */
export const STATE_FILTERS = ['live', 'registering', 'registered', 'in-progress', 'transferred', 'ended', 'fallback', 'rejected'] as const;
export type StateFilter = (typeof STATE_FILTERS)[number];

const LIVE: ReadonlySet<CallState> = new Set(['registering', 'registered', 'in-progress', 'transferred']);

export interface CallListQuery {
  state?: StateFilter;
  /** Digits a caller's or called number contains. */
  number?: string;
  /** Where the previous page stopped (`next` of its answer). */
  cursor?: string;
  /** @defaultValue 50 */
  limit?: number;
}

export interface CallListPage {
  calls: CallSummary[];
  /** The next page's cursor, when there may be more. */
  next?: string;
  /** With a filter: how many of the newest calls were looked through and the search stopped early. */
  scanLimited?: number;
  /** How many calls the index holds. */
  total: number;
}

/** The most calls a filtered list looks through for one page: filters read records, the index alone cannot answer them. */
export const FILTER_SCAN_MAX = 3000;
const SCAN_BATCH = 1000;
const FILTER_FIELDS = ['state', 'from', 'to'] as const;

/** `<ms>_<skip>`: the page starts at calls created at or before `ms`, skipping the first `skip` of those at exactly `ms`. */
function parseCursor(cursor: string | undefined): { before?: number; skip: number } {
  const m = /^(\d{1,15})_(\d{1,6})$/.exec(cursor ?? '');
  return m ? { before: Number(m[1]), skip: Number(m[2]) } : { skip: 0 };
}

function matches(call: Partial<Pick<CallSummary, 'state' | 'from' | 'to'>>, q: CallListQuery): boolean {
  if (q.state === 'live' && !(call.state && LIVE.has(call.state))) return false;
  if (q.state && q.state !== 'live' && call.state !== q.state) return false;
  if (q.number) {
    const digits = q.number.replace(/\D/g, '');
    if (digits && !call.from?.replace(/\D/g, '').includes(digits) && !call.to?.replace(/\D/g, '').includes(digits)) return false;
  }
  return true;
}

export interface ConsoleServiceDeps {
  calls: CallRepository;
  reports: CallReports;
  redelivery: RedeliverDeps;
  /** The campaigns' service (its read methods and controls); none while API_TOKEN is unset. */
  campaigns?: Campaigns;
}

/**
 * What the console's pages read and do, over the same repositories and services the API uses: the
 * recent-calls index, a call's report (what `npm run inspect` prints), the events and their redelivery.
 */
export class ConsoleService {
  constructor(private readonly deps: ConsoleServiceDeps) {}

  /** The newest calls first, filtered; a filtered page looks through at most FILTER_SCAN_MAX calls. */
  async listCalls(q: CallListQuery): Promise<CallListPage> {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 200);
    const filtered = Boolean(q.state || q.number);
    let { before, skip } = parseCursor(q.cursor);
    const found: string[] = [];
    let scanned = 0;
    let last: { at: number; skip: number } | undefined;
    let exhausted = false;
    const total = this.deps.calls.recentCount();
    // A filter that matches often fills the page from a small batch; one that rarely matches gets larger ones.
    let batchSize = Math.max(limit * 2, 100);
    while (found.length < limit) {
      const wanted = filtered ? Math.min(batchSize, SCAN_BATCH, FILTER_SCAN_MAX - scanned) : limit - found.length;
      batchSize *= 4;
      const batch = await this.deps.calls.recentCalls({ before, skip, limit: wanted });
      if (batch.length === 0) {
        exhausted = true;
        break;
      }
      // A filter reads only the fields it tests; the page's rows are read once chosen.
      const tested = filtered ? await this.deps.calls.fieldsOf(batch.map((b) => b.callSid), FILTER_FIELDS) : undefined;
      let i = 0;
      for (; i < batch.length && found.length < limit; i++) {
        const entry = batch[i]!;
        // The position after this entry: the next page starts there.
        last = { at: entry.at, skip: last && last.at === entry.at ? last.skip + 1 : entry.at === before ? skip + 1 : 1 };
        const t = tested?.[i];
        if (!tested || (t && matches(t, q))) found.push(entry.callSid);
      }
      scanned += i;
      before = last?.at;
      skip = last?.skip ?? 0;
      if (i === batch.length && batch.length < wanted) {
        exhausted = true;
        break;
      }
      if (filtered && scanned >= FILTER_SCAN_MAX) break;
    }
    const calls = (await this.deps.calls.summaries(found)).filter((c): c is CallSummary => c !== null);
    const next = !exhausted && last ? `${last.at}_${last.skip}` : undefined;
    return { calls, ...(next ? { next } : {}), ...(filtered && scanned >= FILTER_SCAN_MAX ? { scanLimited: scanned } : {}), total: await total };
  }

  /** One call by its CallSid, Retell call id or outbound id, with everything the bridge knows of it. */
  call(id: string): Promise<CallReport | null> {
    return this.deps.reports.read(id);
  }

  /**
   * A leg the bridge placed or changed for another call (a warm transfer's person), which has no record
   * of its own: the Twilio requests about it, and the call it was for. Null when there were none.
   */
  async leg(callSid: string): Promise<LegReport | null> {
    if (!CALL_SID.test(callSid)) return null;
    const requests = await this.deps.calls.twilioRequests(callSid);
    if (requests.length === 0) return null;
    const forCall = requests.find((r) => r.forCall)?.forCall;
    return { callSid, requests, ...(forCall ? { forCall } : {}) };
  }

  /**
   * An outbound call (`out_…`) that has no Twilio call record to show (never answered, or not placed
   * yet): its outbound record, and the Twilio requests about its call.
   */
  async outboundOnly(id: string): Promise<{ report: OutboundReport; requests: TwilioRequestEntry[] } | null> {
    if (!id.startsWith('out_')) return null;
    const report = await this.deps.reports.outbound(id);
    if (!report) return null;
    const requests = report.outbound.callSid ? await this.deps.calls.twilioRequests(report.outbound.callSid) : [];
    return { report, requests };
  }

  /** The CallSid an id names (a CallSid, a Retell call id, an outbound id), if the bridge knows it. */
  callSidFor(id: string): Promise<string | null> {
    return this.deps.reports.callSidFor(id);
  }

  /** The newest events first; `type` a type or a prefix ending in `*`. */
  events(q: { type?: string; limit?: number }): Promise<StoredEvent[]> {
    const type = q.type && typesOf(q.type).length ? q.type : undefined;
    return this.deps.redelivery.store.list({ type, limit: q.limit ?? 100 });
  }

  get eventTypes(): readonly string[] {
    return EVENT_TYPES;
  }

  /** Whether a redelivery can be asked for at all (an endpoint is configured). */
  get canRedeliver(): boolean {
    return Boolean(this.deps.redelivery.queue) && this.deps.redelivery.endpoints.length > 0;
  }

  redeliver(id: string): Promise<RedeliverResult> {
    return redeliverEvent(this.deps.redelivery, id);
  }

  /** The campaigns' service, when campaigns are on (API_TOKEN set). */
  get campaigns(): Campaigns | undefined {
    return this.deps.campaigns;
  }
}
