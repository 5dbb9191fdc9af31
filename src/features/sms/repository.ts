import { createHash } from 'node:crypto';
import type { EffectLedger } from '../../jobs/effect';
import type { RedisClient } from '../../redis/connection';
import { ScriptedStore } from '../../redis/scripts';
import { callSidOfSms, type SmsMessage } from './record';
import * as scripts from './scripts';

/** The most texts the agent may send on one call: a loop in a prompt must not text someone a hundred times. */
export const MAX_TEXTS_PER_CALL = 10;

/** Kept as long as the call record: the call and its late events, then expired on their own. */
export const SMS_TTL_MS = 24 * 60 * 60 * 1000;

export function smsKeys(prefix: string) {
  return {
    /** A call's texts, hash-tagged with its CallSid (one slot on Redis Cluster, beside the call record). */
    texts: (callSid: string) => `${prefix}:sms:{${callSid}}`,
  };
}

export type ClaimTextResult =
  | { kind: 'created'; message: SmsMessage }
  /** The same text was asked for before: that one, whatever became of it (unless it failed). */
  | { kind: 'exists'; message: SmsMessage }
  /** The call has had MAX_TEXTS_PER_CALL texts already. */
  | { kind: 'limit' };

interface Commands {
  smsClaim(key: string, digest: string, draft: string, callSid: string, max: number, ttlMs: number): Promise<string[]>;
  smsUpdate(key: string, id: string, status: string, error: string, uncertain: string, takeovers: number, startedAt: string): Promise<number>;
  smsTwilio(key: string, id: string, messageSid: string, status: string, errorCode: string): Promise<string | null>;
}

const SCRIPTS: Record<keyof Commands, string> = { smsClaim: scripts.CLAIM, smsUpdate: scripts.UPDATE, smsTwilio: scripts.TWILIO };

/** What makes two requests the same text: the template, the number and the body. */
function digest(m: Pick<SmsMessage, 'template' | 'to' | 'body'>): string {
  return createHash('sha256').update(`${m.template}\n${m.to}\n${m.body}`).digest('hex').slice(0, 32);
}

/**
 * The one owner of a call's texts record (`sms:{CallSid}`): takes each text once, keeps the exactly-once
 * runner's ledger for it, and Twilio's SID and status. Every write is one script on that one key.
 */
export class SmsRepository extends ScriptedStore<ReturnType<typeof smsKeys>, Commands> {
  constructor(redis: RedisClient, prefix: string) {
    super(redis, smsKeys(prefix), SCRIPTS);
  }

  /** Takes a text for the call, once per template, number and body however often it is asked for. */
  async claim(draft: Omit<SmsMessage, 'id' | 'status' | 'requestedAt'>): Promise<ClaimTextResult> {
    const message = { ...draft, status: 'queued', requestedAt: new Date().toISOString() };
    const reply = await this.redis.smsClaim(this.keys.texts(draft.callSid), digest(draft), JSON.stringify(message), draft.callSid, MAX_TEXTS_PER_CALL, SMS_TTL_MS);
    if (reply[0] === 'limit') return { kind: 'limit' };
    return { kind: reply[0] === 'created' ? 'created' : 'exists', message: JSON.parse(reply[1]!) as SmsMessage };
  }

  async get(id: string): Promise<SmsMessage | null> {
    const callSid = callSidOfSms(id);
    if (!callSid) return null;
    const raw = await this.redis.hget(this.keys.texts(callSid), id);
    return raw ? (JSON.parse(raw) as SmsMessage) : null;
  }

  /** Every text of the call, in the order they were asked for. */
  async ofCall(callSid: string): Promise<SmsMessage[]> {
    const all = await this.redis.hgetall(this.keys.texts(callSid));
    return Object.entries(all)
      .filter(([field]) => field.startsWith('send_sms-'))
      .map(([, raw]) => JSON.parse(raw) as SmsMessage)
      .sort((a, b) => Number(a.id.split('-').at(-1)) - Number(b.id.split('-').at(-1)));
  }

  /** Twilio accepted the text (`status` empty) or reported on it; null when there is no such text. */
  async twilio(id: string, messageSid: string, status = '', errorCode = ''): Promise<SmsMessage | null> {
    const callSid = callSidOfSms(id);
    if (!callSid) return null;
    const raw = await this.redis.smsTwilio(this.keys.texts(callSid), id, messageSid, status, errorCode);
    return raw ? (JSON.parse(raw) as SmsMessage) : null;
  }

  /** Text `id` as the exactly-once runner sees it. */
  ledger(id: string): EffectLedger {
    const key = this.keys.texts(callSidOfSms(id) ?? '');
    const update = (change: { status?: 'done' | 'failed'; error?: string; uncertain?: boolean; takeovers?: number; startedAt?: string }) =>
      this.redis
        .smsUpdate(key, id, change.status ?? '', change.error ?? '', change.uncertain === undefined ? '' : change.uncertain ? '1' : '0', change.takeovers ?? 0, change.startedAt ?? '')
        .then((n) => n === 1);
    return {
      read: async () => (await this.get(id)) ?? 'superseded',
      sending: (window) => update({ uncertain: true, ...window }),
      refused: () => update({ uncertain: false }),
      settle: (status, error) => update({ status, error }),
      // A text does not need the call: the runner reports `gone` only for a call, never for a text.
      ended: (reason) => update({ status: 'failed', error: reason }),
    };
  }
}
