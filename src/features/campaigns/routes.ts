import { createHash } from 'node:crypto';
import type { Router, Request, RequestHandler, Response } from 'express';
import { orStoreUnavailable } from '../../calls/errors';
import { apiRouter, idempotencyKey, notFound } from '../../http/api';
import { HttpError } from '../../http/errors';
import { parseJsonBody, readBody } from '../../http/read-body';
import { parseOr400 } from '../../http/validate';
import type { Logger } from '../../observability/logger';
import { campaignBody, MAX_TASKS_BODY_BYTES, tasksBody, tasksFromCsv } from './input';
import { TASK_STATUSES, type TaskStatus } from './model';
import type { Campaigns, TaskRow } from './service';

export interface CampaignRoutesDeps {
  apiToken: string;
  campaigns: Campaigns;
  logger: Logger;
}

/** The raw body (10 MB at most: 413 beyond), kept for CSV and for hashing. */
function rawBody(): RequestHandler {
  return (req, _res, next) => {
    readBody(req, { limitBytes: MAX_TASKS_BODY_BYTES }).then((raw) => {
      (req as Request & { raw?: Buffer }).raw = raw;
    }).then(() => next(), next);
  };
}

const isCsv = (req: Request) => /^text\/csv\b/i.test(req.get('content-type') ?? '');

/**
 * The campaign API (bearer API_TOKEN), mounted only when API_TOKEN is set. Bad input is a 400 with its
 * reason, never a 5xx; the token is checked before any body is read.
 */
export function campaignRoutes(deps: CampaignRoutesDeps): Router {
  const { campaigns } = deps;
  const { router, auth } = apiRouter('/campaigns', deps.apiToken);
  const body = rawBody();

  router.post('/campaigns', auth, body, async (req, res) => {
    const key = idempotencyKey(req);
    const parsed = parseOr400(campaignBody, parseJsonBody((req as Request & { raw: Buffer }).raw));
    const outcome = await orStoreUnavailable(() => campaigns.create(parsed, key));
    if (outcome.kind === 'invalid') {
      res.status(400).json({ error: 'invalid', reason: outcome.reason, ...(outcome.tasks ? { tasks: outcome.tasks } : {}) });
      return;
    }
    if (outcome.kind === 'key_reused') {
      res.status(422).json({ error: 'key_reused', reason: outcome.reason });
      return;
    }
    const c = outcome.campaign;
    res.status(201).location(`/campaigns/${c.id}`).json({ id: c.id, status: c.status, counts: c.counts });
  });

  router.post('/campaigns/:id/tasks', auth, body, async (req, res) => {
    const key = idempotencyKey(req);
    const raw = (req as Request & { raw: Buffer }).raw;
    let rows: TaskRow[];
    if (isCsv(req)) {
      const csv = tasksFromCsv(raw.toString('utf8'));
      if ('error' in csv) throw new HttpError(400, csv.error);
      rows = csv.rows;
    } else {
      const parsed = parseOr400(tasksBody, parseJsonBody(raw));
      rows = parsed.tasks.map((t, row) => ({ row, raw: t }));
    }
    const hash = createHash('sha256').update(isCsv(req) ? 'csv\n' : 'json\n').update(raw).digest('hex');
    const outcome = await orStoreUnavailable(() => campaigns.addTasks(String(req.params.id), rows, key, hash));
    if (outcome.kind === 'unknown') return campaignNotFound(res);
    if (outcome.kind === 'closed') {
      res.status(409).json({ error: 'closed', reason: outcome.reason });
      return;
    }
    if (outcome.kind === 'key_reused') {
      res.status(422).json({ error: 'key_reused', reason: outcome.reason });
      return;
    }
    res.status(200).json({ added: outcome.added, skipped: outcome.skipped });
  });

  router.get('/campaigns', auth, async (req, res) => {
    const limit = req.query.limit === undefined ? undefined : Number(req.query.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 200)) throw new HttpError(400, 'limit must be a whole number from 1 to 200');
    const cursor = typeof req.query.cursor === 'string' ? req.query.cursor : undefined;
    res.json(await orStoreUnavailable(() => campaigns.list({ ...(limit ? { limit } : {}), ...(cursor ? { cursor } : {}) })));
  });

  router.get('/campaigns/:id', auth, async (req, res) => {
    const view = await orStoreUnavailable(() => campaigns.get(String(req.params.id)));
    if (!view) return campaignNotFound(res);
    res.json(view);
  });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    router.post(`/campaigns/:id/${action}`, auth, async (req, res) => {
      const outcome = await orStoreUnavailable(() => campaigns.control(String(req.params.id), action));
      if (outcome.kind === 'unknown') return campaignNotFound(res);
      if (outcome.kind === 'conflict') {
        res.status(409).json({ error: 'conflict', reason: `the campaign is ${outcome.status}: it cannot be ${action === 'pause' ? 'paused' : action === 'resume' ? 'resumed' : 'canceled'}` });
        return;
      }
      res.json(outcome.campaign);
    });
  }

  router.get('/campaigns/:id/tasks', auth, async (req, res) => {
    const status = typeof req.query.status === 'string' && req.query.status !== '' ? req.query.status : undefined;
    if (status !== undefined && !TASK_STATUSES.includes(status as TaskStatus)) throw new HttpError(400, `status must be one of ${TASK_STATUSES.join(', ')}`);
    const limit = req.query.limit === undefined ? undefined : Number(req.query.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 1000)) throw new HttpError(400, 'limit must be a whole number from 1 to 1000');
    const cursor = typeof req.query.cursor === 'string' ? req.query.cursor : undefined;
    if (cursor !== undefined && !/^\d{1,9}$/.test(cursor)) throw new HttpError(400, 'cursor must be a next_cursor from an earlier page');
    const page = await orStoreUnavailable(() =>
      campaigns.tasks(String(req.params.id), { ...(status ? { status: status as TaskStatus } : {}), ...(cursor ? { cursor } : {}), ...(limit ? { limit } : {}) }),
    );
    if (!page) return campaignNotFound(res);
    res.json(page);
  });

  router.get('/campaigns/:id/results.csv', auth, async (req, res) => {
    const id = String(req.params.id);
    if (!(await orStoreUnavailable(() => campaigns.get(id)))) return campaignNotFound(res);
    res.status(200).type('text/csv; charset=utf-8').set('content-disposition', `attachment; filename="${id}.csv"`);
    try {
      for await (const chunk of campaigns.results(id)) {
        if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve));
        if (res.destroyed) return;
      }
      res.end();
    } catch (err) {
      // The header is sent: the only way left to say the file is incomplete is to cut it.
      deps.logger.error({ campaignId: id, err: (err as Error).message }, 'results.csv cut short');
      res.destroy();
    }
  });

  return router;
}

function campaignNotFound(res: Response): void {
  notFound(res, 'no campaign with this id');
}
