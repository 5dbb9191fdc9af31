/**
 * A campaign's CSV file cut into uploads: the bridge takes at most 10,000 tasks a request
 * (`POST /campaigns/{id}/tasks`), so a larger list goes up in parts, each a CSV of its own with the
 * file's header row.
 *
 * The file is parsed here (BOM, quoted commas and line breaks, CRLF, empty lines) and each part written
 * out again in plain form, so the bridge sees the same rows whatever the file's dialect, and a row's
 * number in the bridge's answer maps back to the file's row.
 */
import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';

/** The bridge's limit on tasks per request. */
export const MAX_ROWS_PER_UPLOAD = 10_000;
/** Kept well under the bridge's request size limit; a part that is still refused as too large is halved. */
export const MAX_BYTES_PER_UPLOAD = 4 * 1024 * 1024;

/** One upload: rows `first`…`last` of the file (1 = the first row after the header). */
export interface CsvPart {
  first: number;
  last: number;
  /** The header row and these rows, as CSV. */
  csv: string;
  /** A digest of `csv`, for the upload's Idempotency-Key. */
  digest: string;
  /** The line of `csv` each row ends on (the bridge names a skipped row by it), in row order. */
  endLines: number[];
}

export interface ParsedCsv {
  header: string[];
  rows: string[][];
  /** A digest of the whole file, for the campaign's Idempotency-Key. */
  digest: string;
}

/** What is wrong with a campaign file, said so a person can fix it. */
export class CsvFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvFileError';
  }
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** Parses a campaign file; throws CsvFileError when it cannot be a task list (no `to` column, no rows, broken quoting). */
export function parseCampaignCsv(text: string): ParsedCsv {
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: true, trim: false }) as string[][];
  } catch (err) {
    throw new CsvFileError(`it is not readable as CSV: ${(err as Error).message}`);
  }
  const [header, ...rows] = records;
  if (!header) throw new CsvFileError('it is empty: the first row names the columns (to, then any variables), one task a row after it');
  const names = header.map((h) => h.trim());
  if (!names.includes('to')) {
    throw new CsvFileError(`its header row has no "to" column (found: ${names.map((n) => `"${n}"`).join(', ')}); the first row names the columns, e.g. to,timezone,first_name`);
  }
  if (rows.length === 0) throw new CsvFileError('it has a header row but no tasks');
  return { header: names, rows, digest: sha(text) };
}

function field(value: string): string {
  return /[",\r\n]/.test(value) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value;
}

const line = (cells: readonly string[]) => cells.map(field).join(',');

/** Rows `first`…`last` (1-based, inclusive) as one CSV part. */
export function csvPart(file: ParsedCsv, first: number, last: number): CsvPart {
  const lines = [line(file.header), ...file.rows.slice(first - 1, last).map(line)];
  const endLines: number[] = [];
  let at = 1;
  for (const text of lines.slice(1)) {
    at += 1 + (text.match(/\n/g)?.length ?? 0);
    endLines.push(at);
  }
  const csv = lines.join('\n') + '\n';
  return { first, last, csv, digest: sha(csv).slice(0, 16), endLines };
}

/** The file's row (1 = the first after the header) of the part's line `line`, as the bridge numbers rows; undefined if no row ends there. */
export function rowOfLine(part: CsvPart, line: number): number | undefined {
  const index = part.endLines.indexOf(line);
  return index < 0 ? undefined : part.first + index;
}

/** The file in parts of at most `maxRows` rows and about `maxBytes` bytes (a single longer row still goes alone). */
export function splitCampaignCsv(file: ParsedCsv, maxRows = MAX_ROWS_PER_UPLOAD, maxBytes = MAX_BYTES_PER_UPLOAD): CsvPart[] {
  const parts: CsvPart[] = [];
  const headerBytes = Buffer.byteLength(line(file.header)) + 1;
  let first = 1;
  let bytes = headerBytes;
  for (let i = 1; i <= file.rows.length; i++) {
    const size = Buffer.byteLength(line(file.rows[i - 1]!)) + 1;
    const count = i - first;
    if (count > 0 && (count >= maxRows || bytes + size > maxBytes)) {
      parts.push(csvPart(file, first, i - 1));
      first = i;
      bytes = headerBytes;
    }
    bytes += size;
  }
  parts.push(csvPart(file, first, file.rows.length));
  return parts;
}
