import { CALL_SID } from '../formats';
import { HttpError } from '../http/errors';

/** The voice webhook's parameters the bridge reads. Twilio adds parameters without notice; the rest pass by. */
export interface VoiceForm {
  CallSid: string;
  AccountSid: string;
  From: string;
  To: string;
  Direction?: string;
  CallerName?: string;
  CallStatus?: string;
  /** Only passed on to the lookup hook: an odd value is dropped rather than failing the call. */
  FromCity?: string;
  FromState?: string;
  FromCountry?: string;
  StirVerstat?: string;
  /**
   * Lets a call the bridge places for this one (a warm transfer's leg) show the caller's own number; an
   * odd value is dropped, and the leg shows the business number instead.
   */
  CallToken?: string;
}

type Fields = Record<string, string | string[] | undefined>;

/** Twilio's CallToken is an opaque token of a few hundred characters. */
const token = (v: string | string[] | undefined): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= 4096 && /^[\x21-\x7e]+$/.test(v) ? v : undefined);

/**
 * Checks a parsed voice webhook form by hand: it is read for every call, and a schema library costs more
 * than these few comparisons. Throws a 400 naming every problem (at most five), in the form
 * `Field: reason`.
 */
export function readVoiceForm(body: unknown): VoiceForm {
  const fields = (body ?? {}) as Fields;
  const problems: string[] = [];
  const required = (name: string, max: number, check?: (v: string) => string | undefined): string => {
    const v = fields[name];
    if (typeof v !== 'string') {
      problems.push(`${name}: ${name} must be present, once`);
      return '';
    }
    const problem = v === '' && name !== 'CallSid' && name !== 'AccountSid' ? `${name} must not be empty` : v.length > max ? `${name} must be at most ${max} characters` : check?.(v);
    if (problem) problems.push(`${name}: ${problem}`);
    return v;
  };
  const optional = (name: string, max: number): string | undefined => {
    const v = fields[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') problems.push(`${name}: ${name} must be given once`);
    else if (v.length > max) problems.push(`${name}: ${name} must be at most ${max} characters`);
    else return v;
    return undefined;
  };
  const detail = (name: string): string | undefined => {
    const v = fields[name];
    return typeof v === 'string' && v.length <= 256 ? v : undefined;
  };

  const form: VoiceForm = {
    CallSid: required('CallSid', 256, (v) => (CALL_SID.test(v) ? undefined : 'CallSid must be CA followed by 32 hex digits')),
    AccountSid: required('AccountSid', 256),
    From: required('From', 256),
    To: required('To', 256),
    Direction: optional('Direction', 32),
    CallerName: optional('CallerName', 256),
    CallStatus: optional('CallStatus', 32),
    FromCity: detail('FromCity'),
    FromState: detail('FromState'),
    FromCountry: detail('FromCountry'),
    StirVerstat: detail('StirVerstat'),
    CallToken: token(fields.CallToken),
  };
  if (problems.length) throw new HttpError(400, problems.slice(0, 5).join('; '));
  return form;
}
