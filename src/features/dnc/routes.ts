import type { Router, Response } from 'express';
import { z } from 'zod';
import { orStoreUnavailable } from '../../calls/errors';
import { apiRouter, jsonBody } from '../../http/api';
import { HttpError } from '../../http/errors';
import { parseOr400 } from '../../http/validate';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { normalizeNumber } from './number';
import { MAX_SOURCE_CHARS, type DoNotCallList } from './repository';

/** The most numbers one POST /dnc takes: an import of a large list is split into requests of this size. */
export const MAX_NUMBERS_PER_REQUEST = 10_000;

/** 10,000 numbers of up to 64 characters as JSON, with room to spare. */
export const DNC_BODY_LIMIT_BYTES = 1024 * 1024;

const addBody = z.strictObject({
  numbers: z
    .array(z.unknown(), { error: 'numbers must be an array of phone numbers in E.164 (+14155550100)' })
    .min(1, 'numbers must not be empty')
    .max(MAX_NUMBERS_PER_REQUEST, `numbers may hold at most ${MAX_NUMBERS_PER_REQUEST} numbers a request`),
  source: z
    .string({ error: 'source must be a string' })
    .regex(/^[A-Za-z0-9_.:-]+$/, 'source must be letters, digits and _ . : - only')
    .max(MAX_SOURCE_CHARS, `source must be at most ${MAX_SOURCE_CHARS} characters`)
    .optional(),
});

/** How an entry that is not a phone number is reported: where it was, and what it was (cut short). */
interface InvalidEntry {
  index: number;
  value: unknown;
  reason: string;
}

function invalidEntry(index: number, value: unknown): InvalidEntry {
  if (typeof value !== 'string') return { index, value: null, reason: `a ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}, not a phone number string` };
  return { index, value: value.slice(0, 64), reason: 'not a possible phone number in international form (+ and the country code)' };
}

/**
 * A number in a path, as it arrives after decoding: `%2B14155550100` is `+14155550100`, and a `+` that
 * some client encoded as a space (`%20`, form style) is taken for the `+` it was.
 */
function pathNumber(raw: string): string | null {
  return normalizeNumber(/^ \d/.test(raw) ? `+${raw.slice(1)}` : raw);
}

export interface DoNotCallRoutesDeps {
  apiToken: string;
  list: DoNotCallList;
  logger: Logger;
  metrics: Metrics;
}

/**
 * The do-not-call list's API, behind `Authorization: Bearer <API_TOKEN>` (mounted with API_TOKEN only):
 * `POST /dnc` lists numbers, `GET /dnc/{number}` shows one, `DELETE /dnc/{number}` takes it off.
 */
export function doNotCallRoutes(deps: DoNotCallRoutesDeps): Router {
  const { list, logger, metrics } = deps;
  const { router, auth } = apiRouter('/dnc', deps.apiToken);

  router.post('/dnc', auth, jsonBody(DNC_BODY_LIMIT_BYTES), async (req, res) => {
    const body = parseOr400(addBody, req.body);
    const valid: string[] = [];
    const invalid: InvalidEntry[] = [];
    body.numbers.forEach((value, index) => {
      const number = normalizeNumber(value);
      if (number) valid.push(number);
      else invalid.push(invalidEntry(index, value));
    });
    if (!valid.length) {
      res.status(400).json({ error: 'invalid', reason: 'no entry of numbers is a phone number in international form (+14155550100)', invalid });
      return;
    }
    const source = body.source ?? 'api';
    const { added } = await orStoreUnavailable(() => list.add(valid, source));
    if (added) metrics.doNotCallAdded.inc({ source }, added);
    logger.info({ added, listed: valid.length, invalid: invalid.length, source }, 'numbers put on the do-not-call list');
    res.status(200).json({ added, already_listed: new Set(valid).size - added, invalid });
  });

  router.get('/dnc/:number', auth, async (req, res) => {
    const number = pathNumber(String(req.params.number));
    if (!number) throw new HttpError(400, 'the path must end with a phone number in E.164, its + encoded as %2B: /dnc/%2B14155550100');
    const entry = await orStoreUnavailable(() => list.get(number));
    if (!entry) return notListed(res, number);
    res.json(entry);
  });

  router.delete('/dnc/:number', auth, async (req, res) => {
    const number = pathNumber(String(req.params.number));
    if (!number) throw new HttpError(400, 'the path must end with a phone number in E.164, its + encoded as %2B: /dnc/%2B14155550100');
    const removed = await orStoreUnavailable(() => list.remove(number));
    if (!removed) return notListed(res, number);
    logger.info({ number }, 'number taken off the do-not-call list');
    res.status(200).json({ number, removed: true });
  });

  return router;
}

function notListed(res: Response, number: string): void {
  res.status(404).json({ error: 'not_found', reason: `${number} is not on the do-not-call list`, number });
}
