import type { Router, Response } from 'express';
import { z } from 'zod';
import { E164, nestedDeeperThan } from '../../formats';
import { apiRouter, idempotencyKey, jsonBody, notFound } from '../../http/api';
import { parseOr400 } from '../../http/validate';
import type { Metrics } from '../../observability/metrics';
import { dialOptions } from './input';
import type { CancelOutcome, OutboundCalls, PlaceOutcome } from './service';

const e164 = (field: string) => z.string({ error: `${field} is required` }).regex(E164, `${field} must be an E.164 number such as +14155550100`);

/**
 * Bounds on `metadata`, which is stored with the call and sent to Retell, which echoes it on every
 * function call and event. The body as a whole is held within MAX_JSON_DEPTH when it is parsed.
 */
const MAX_METADATA_DEPTH = 16;
const MAX_METADATA_CHARS = 16_384;

/** Unknown fields are refused, so a misspelt option is a 400 rather than silently ignored. */
const placeBody = z.strictObject({
  to: e164('to'),
  from: e164('from').optional(),
  agent_id: z.string().trim().min(1, 'agent_id must not be empty').max(128).optional(),
  agent_version: z.number({ error: 'agent_version must be a whole number' }).int().min(0).optional(),
  dynamic_variables: z
    .record(z.string().min(1).max(100), z.string({ error: 'dynamic_variables values must be strings' }).max(5000))
    .refine((v) => Object.keys(v).length <= 100, 'dynamic_variables may have at most 100 entries')
    .optional(),
  metadata: z
    .record(z.string(), z.unknown(), { error: 'metadata must be a JSON object' })
    // Depth first, and `abort` so that nothing runs after it fails (zod runs every refine otherwise):
    // serialising, to measure and to store, recurses, and a deep enough value overflows the stack.
    .refine((v) => !nestedDeeperThan(v, MAX_METADATA_DEPTH), { message: `metadata may nest at most ${MAX_METADATA_DEPTH} levels deep`, abort: true })
    .refine((v) => JSON.stringify(v).length <= MAX_METADATA_CHARS, 'metadata must be at most 16 KiB as JSON')
    .optional(),
  ...dialOptions,
});

const PLACE_STATUS: Readonly<Record<PlaceOutcome['kind'], number>> = {
  queued: 202,
  repeat: 202,
  invalid: 400,
  not_allowed: 422,
  do_not_call: 422,
  key_reused: 422,
  unavailable: 503,
};

export interface CallsRoutesDeps {
  apiToken: string;
  calls: OutboundCalls;
  metrics: Metrics;
}

/**
 * The outbound-call API. Mounted only when API_TOKEN is set; until then the paths answer 404 like any
 * unknown path. The token is checked before the body is read.
 */
export function callsRoutes(deps: CallsRoutesDeps): Router {
  const { calls, metrics } = deps;
  const { router, auth } = apiRouter('/calls', deps.apiToken);
  const json = jsonBody(64 * 1024);

  router.post('/calls', auth, json, async (req, res) => {
    let key, body;
    try {
      key = idempotencyKey(req);
      body = parseOr400(placeBody, req.body);
    } catch (err) {
      metrics.outboundRequests.inc({ outcome: 'invalid' });
      throw err;
    }
    const outcome = await calls.place(body, key);
    metrics.outboundRequests.inc({ outcome: outcome.kind });
    if (outcome.kind === 'queued' || outcome.kind === 'repeat') {
      res.status(202).location(`/calls/${outcome.id}`).json({ id: outcome.id, status: 'queued' });
      return;
    }
    res.status(PLACE_STATUS[outcome.kind]).json({ error: outcome.kind, reason: outcome.reason });
  });

  router.get('/calls/:id', auth, async (req, res) => {
    const view = await calls.get(String(req.params.id));
    if (!view) return callNotFound(res);
    res.json(view);
  });

  router.delete('/calls/:id', auth, async (req, res) => {
    const outcome: CancelOutcome = await calls.cancel(String(req.params.id));
    if (outcome.kind === 'unknown') return callNotFound(res);
    if (outcome.kind === 'unavailable') {
      res.status(503).json({ error: 'unavailable', reason: outcome.reason });
      return;
    }
    if (outcome.kind === 'too_late') {
      res.status(409).json({ error: 'too_late', reason: outcome.reason, call: outcome.call });
      return;
    }
    res.status(outcome.kind === 'canceled' ? 200 : 202).json(outcome.call);
  });

  return router;
}

function callNotFound(res: Response): void {
  notFound(res, 'no outbound call with this id (records expire a day after their last change)');
}
