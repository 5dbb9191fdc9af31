/**
 * What the campaign API accepts: the campaign's settings (zod, 400 on the first problems) and tasks, each
 * checked on its own so that every bad one can be named (by index or CSV row) with its reason.
 */
import { z } from 'zod';
import { parse as parseCsv } from 'csv-parse/sync';
import { E164, nestedDeeperThan, speakable } from '../../formats';
import { dialOptions } from '../outbound';
import { RETRY_CLASSES } from './model';
import { isValidNumber, isValidZone, parseClock, WEEKDAYS } from './windows';

/** The most tasks one request may carry (POST /campaigns inline, or POST /campaigns/{id}/tasks). */
export const MAX_TASKS_PER_REQUEST = 10_000;
/** The largest body of a request with tasks (JSON or CSV). */
export const MAX_TASKS_BODY_BYTES = 10 * 1024 * 1024;
/** A campaign's calls in progress at once, at most. */
export const MAX_CONCURRENCY_LIMIT = 1000;
/** @defaultValue when a campaign does not say */
export const DEFAULT_MAX_CONCURRENCY = 5;
const MAX_METADATA_DEPTH = 16;
const MAX_METADATA_CHARS = 4096;
const MAX_VARIABLES = 100;

const e164 = (field: string) => z.string({ error: `${field} is required` }).regex(E164, `${field} must be an E.164 number such as +14155550100`);
const clock = (field: string) =>
  z.string({ error: `${field} must be a time "HH:MM"` }).refine((v) => parseClock(v) !== null, `${field} must be a time "HH:MM" (00:00 to 24:00)`);
const zone = (field: string) =>
  z.string({ error: `${field} must be an IANA time zone such as America/New_York` }).refine(isValidZone, {
    error: (iss) => `${field} "${String(iss.input).slice(0, 64)}" is not an IANA time zone (such as America/New_York)`,
  });

/** POST /campaigns. Unknown fields are refused, so a misspelt option is a 400 rather than silently ignored. */
export const campaignBody = z.strictObject({
  name: z.string({ error: 'name must be a string' }).trim().min(1, 'name must not be empty').max(200).optional(),
  from: e164('from').optional(),
  agent_id: z.string().trim().min(1, 'agent_id must not be empty').max(128).optional(),
  agent_version: z.number({ error: 'agent_version must be a whole number' }).int().min(0).optional(),
  tasks: z.array(z.unknown(), { error: 'tasks must be an array' }).max(MAX_TASKS_PER_REQUEST, `at most ${MAX_TASKS_PER_REQUEST} tasks a request; add more with POST /campaigns/{id}/tasks`).optional(),
  window: z
    .strictObject(
      {
        start: clock('window.start'),
        end: clock('window.end'),
        days: z
          .array(z.enum(WEEKDAYS, { error: `window.days must be among ${WEEKDAYS.join(', ')}` }))
          .min(1, 'window.days must name at least one day')
          .max(7)
          .optional(),
        timezone: zone('window.timezone').optional(),
      },
      { error: 'window must be an object {start, end, days?, timezone?}' },
    )
    .refine((w) => parseClock(w.end)! > parseClock(w.start)!, {
      message: 'window.end must be after window.start (a window that spans midnight is two campaigns, or a wider window)',
      abort: true,
    })
    .optional(),
  start_at: z.iso.datetime({ offset: true, error: 'start_at must be an ISO 8601 time such as 2026-12-01T09:00:00Z' }).optional(),
  paused: z.boolean({ error: 'paused must be true or false' }).optional(),
  max_concurrency: z
    .number({ error: 'max_concurrency must be a whole number' })
    .int('max_concurrency must be a whole number')
    .min(1, 'max_concurrency must be at least 1')
    .max(MAX_CONCURRENCY_LIMIT, `max_concurrency must be at most ${MAX_CONCURRENCY_LIMIT}`)
    .optional(),
  retry: z
    .strictObject(
      {
        on: z.array(z.enum(RETRY_CLASSES, { error: `retry.on must list outcomes among ${RETRY_CLASSES.join(', ')}` })).max(4).optional(),
        max_attempts: z
          .number({ error: 'retry.max_attempts must be a whole number from 1 to 10' })
          .int('retry.max_attempts must be a whole number from 1 to 10')
          .min(1, 'retry.max_attempts must be at least 1 (dials in all, the first included)')
          .max(10, 'retry.max_attempts must be at most 10'),
        delay_s: z
          .number({ error: 'retry.delay_s must be a number of seconds' })
          .positive('retry.delay_s must be a positive number of seconds')
          .max(30 * 24 * 3600, 'retry.delay_s must be at most 30 days')
          .optional(),
      },
      { error: 'retry must be an object {on, max_attempts, delay_s}' },
    )
    .optional(),
  ...dialOptions,
});

export type CampaignBody = z.output<typeof campaignBody>;

/** POST /campaigns/{id}/tasks as JSON. */
export const tasksBody = z.strictObject({
  tasks: z
    .array(z.unknown(), { error: 'tasks must be an array' })
    .max(MAX_TASKS_PER_REQUEST, `at most ${MAX_TASKS_PER_REQUEST} tasks a request: split the list`),
});

/** One task, valid. */
export interface TaskInput {
  to: string;
  timezone?: string;
  dynamic_variables?: Record<string, string>;
  metadata?: Record<string, unknown>;
}

const variables = z
  .record(z.string().min(1, 'variable names must not be empty').max(100), z.string({ error: 'dynamic_variables values must be strings' }).max(5000))
  .refine((v) => Object.keys(v).length <= MAX_VARIABLES, `dynamic_variables may have at most ${MAX_VARIABLES} entries`);

const taskSchema = z.strictObject({
  to: z
    .string({ error: 'to is required' })
    .regex(E164, 'to must be an E.164 number such as +14155550100')
    .refine(isValidNumber, { error: (iss) => `to ${String(iss.input)} is not a valid phone number` }),
  timezone: zone('timezone').optional(),
  dynamic_variables: variables.optional(),
  metadata: z
    .record(z.string(), z.unknown(), { error: 'metadata must be a JSON object' })
    .refine((v) => !nestedDeeperThan(v, MAX_METADATA_DEPTH), { message: `metadata may nest at most ${MAX_METADATA_DEPTH} levels deep`, abort: true })
    .refine((v) => JSON.stringify(v).length <= MAX_METADATA_CHARS, `metadata must be at most ${MAX_METADATA_CHARS} characters as JSON`)
    .optional(),
});

/** A task checked on its own: the task, or the reason it is refused. */
export function checkTask(raw: unknown): { task: TaskInput } | { reason: string } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { reason: 'a task must be an object {to, timezone?, dynamic_variables?, metadata?}' };
  const result = taskSchema.safeParse(raw);
  if (result.success) return { task: result.data };
  return {
    reason: result.error.issues
      .slice(0, 3)
      .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
      .join('; '),
  };
}

/** Tasks read from a CSV body: each with its line number in the file, or the reason the file is refused. */
export function tasksFromCsv(text: string): { rows: Array<{ row: number; raw: unknown }> } | { error: string } {
  let records: Array<{ record: Record<string, string>; info: { lines: number } }>;
  try {
    records = parseCsv(text, {
      bom: true,
      columns: (header: string[]) => header.map((h) => h.trim()),
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true,
      info: true,
      max_record_size: 64 * 1024,
    }) as Array<{ record: Record<string, string>; info: { lines: number } }>;
  } catch (err) {
    return { error: `the CSV could not be read: ${(err as Error).message.slice(0, 300)}` };
  }
  if (!records.length) {
    const header = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
    if (!header.split(',').map((h) => h.trim().replace(/^"|"$/g, '')).includes('to')) return { error: 'the CSV needs a header row with a "to" column' };
    return { rows: [] };
  }
  const columns = Object.keys(records[0]!.record);
  if (!columns.includes('to')) return { error: `the CSV needs a "to" column (its header row has: ${columns.join(', ').slice(0, 200)})` };
  if (records.length > MAX_TASKS_PER_REQUEST) return { error: `at most ${MAX_TASKS_PER_REQUEST} tasks a request: split the file` };
  const rows = records.map(({ record, info }) => {
    const vars: Record<string, string> = {};
    for (const [k, v] of Object.entries(record)) if (k !== 'to' && k !== 'timezone' && k !== '' && v !== undefined && v !== '') vars[k] = v;
    return {
      row: info.lines,
      raw: {
        to: record.to ?? '',
        ...(record.timezone ? { timezone: record.timezone } : {}),
        ...(Object.keys(vars).length ? { dynamic_variables: vars } : {}),
      },
    };
  });
  return { rows };
}
