import { Router, type Request, type Response } from 'express';
import { orStoreUnavailable } from '../../calls/errors';
import { formParser } from '../../http/form';
import { CsrfTokens, sameOrigin, securityHeaders } from './guard';
import { numberView } from './html';
import { TASK_STATUSES, type TaskStatus } from '../campaigns';
import { campaignPage, campaignsPage } from './campaign-pages';
import { callPage, callsPage, eventsPage, legPage, messagePage, outboundPage, type PageContext } from './pages';
import { STATE_FILTERS, type CallListQuery, type ConsoleService, type StateFilter } from './service';

export interface ConsoleRoutesDeps {
  service: ConsoleService;
  /** ADMIN_PASSWORD: the routes are mounted only with one (the app's admin guard asks for it). */
  adminPassword: string;
  /** ADMIN_MASK_NUMBERS. @defaultValue false */
  maskNumbers?: boolean;
}

/** An id as the search box and the call page take it: a CallSid, a Retell call id, an outbound id. */
const CALL_ID = /^[A-Za-z0-9_-]{1,128}$/;
const CURSOR = /^\d{1,15}_\d{1,6}$/;
const NUMBER_FILTER = /^[+\d\s().-]{1,24}$/;
const REFRESH = new Set(['5', '10', '30']);

class BadQuery extends Error {}

/** A query parameter given at most once, matching `ok`; absent or empty is undefined; anything else a 400. */
function param(req: Request, name: string, ok: (v: string) => boolean): string | undefined {
  const v = req.query[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !ok(v)) throw new BadQuery(`${name} is not valid`);
  return v;
}

function send(res: Response, status: number, body: string): void {
  res.status(status).type('html').send(body);
}

/**
 * The operator's console under /admin: the calls, one call's timeline, the events with their redelivery.
 * Every path here is behind the app's admin guard (basic auth with ADMIN_PASSWORD, whatever the path's
 * spelling); every page gets a strict Content-Security-Policy; every POST wants a CSRF token.
 */
export function consoleRoutes(deps: ConsoleRoutesDeps): Router {
  const { service } = deps;
  const router = Router({ caseSensitive: true, strict: false });
  const csrf = new CsrfTokens(deps.adminPassword);
  const ctx: PageContext = { numbers: numberView(deps.maskNumbers ?? false), csrf: () => csrf.issue(), campaigns: Boolean(service.campaigns) };
  const form = formParser({ limitBytes: 4096, parameterLimit: 10 });

  // Headers per route, not for the whole mount: Bull Board at /admin/queues brings scripts of its own.
  const pages = Router({ caseSensitive: true });

  pages.get('/', securityHeaders, (_req, res) => res.redirect(303, '/admin/calls'));

  pages.get('/calls', securityHeaders, async (req, res) => {
    let q: CallListQuery & { refresh?: number; notFound?: string } = {};
    try {
      const search = param(req, 'q', () => true);
      if (search !== undefined) {
        const id = search.trim();
        const sid = CALL_ID.test(id) ? await orStoreUnavailable(() => service.callSidFor(id)) : null;
        if (sid) return res.redirect(303, `/admin/calls/${encodeURIComponent(id)}`);
        q = { notFound: id.slice(0, 128) };
      }
      q = {
        ...q,
        state: param(req, 'state', (v) => (STATE_FILTERS as readonly string[]).includes(v)) as StateFilter | undefined,
        number: param(req, 'number', (v) => NUMBER_FILTER.test(v)),
        cursor: param(req, 'cursor', (v) => CURSOR.test(v)),
        refresh: Number(param(req, 'refresh', (v) => REFRESH.has(v)) ?? 0) || undefined,
      };
    } catch (err) {
      if (err instanceof BadQuery) return send(res, 400, messagePage(ctx, 'Bad request', err.message));
      throw err;
    }
    const result = await orStoreUnavailable(() => service.listCalls(q));
    send(res, 200, callsPage(ctx, q, result));
  });

  pages.get('/calls/:id', securityHeaders, async (req, res) => {
    const id = String(req.params.id);
    const refresh = typeof req.query.refresh === 'string' && REFRESH.has(req.query.refresh) ? Number(req.query.refresh) : undefined;
    if (!CALL_ID.test(id)) return send(res, 404, messagePage(ctx, 'No such call', 'That is not a CallSid, a Retell call_id or an outbound id.'));
    const report = await orStoreUnavailable(() => service.call(id));
    const leg = report ? null : await orStoreUnavailable(() => service.leg(id));
    if (leg) return send(res, 200, legPage(ctx, leg));
    const outbound = report ? null : await orStoreUnavailable(() => service.outboundOnly(id));
    if (outbound) return send(res, 200, outboundPage(ctx, outbound.report, outbound.requests));
    if (!report) return send(res, 404, messagePage(ctx, 'No such call', `No call ${id} is known: records are kept 24 hours, and an outbound call has no Twilio call until it is placed.`));
    send(res, 200, callPage(ctx, report, refresh));
  });

  pages.get('/events', securityHeaders, async (req, res) => {
    const type = typeof req.query.type === 'string' && service.eventTypes.includes(req.query.type) ? req.query.type : undefined;
    const id = typeof req.query.id === 'string' && CALL_ID.test(req.query.id) ? req.query.id : undefined;
    const flash = flashOf(req);
    const events = await orStoreUnavailable(() => service.events({ type, limit: 100 }));
    send(res, 200, eventsPage(ctx, { type, id, flash }, events, service.eventTypes, service.canRedeliver));
  });

  pages.post('/events/:id/redeliver', securityHeaders, form, async (req, res) => {
    const token = (req.body as Record<string, unknown> | undefined)?.csrf;
    if (!sameOrigin(req) || !csrf.valid(token)) {
      return send(res, 403, messagePage(ctx, 'Refused', 'This button\'s form is out of date or did not come from this console: reload the page and try again.'));
    }
    const id = String(req.params.id);
    const result = await service.redeliver(id);
    const back = (params: Record<string, string>) => res.redirect(303, `/admin/events?${new URLSearchParams(params).toString()}`);
    if (result.kind === 'queued') return back({ redelivered: id, n: String(result.redelivery) });
    return back({ failed: id, why: result.kind });
  });

  // --- Campaigns (with API_TOKEN, which turns campaigns on) -------------------------------------------

  const campaignsOr404 = (res: Response) => {
    if (service.campaigns) return service.campaigns;
    send(res, 404, messagePage(ctx, 'No campaigns', 'Campaigns are off: they need API_TOKEN.'));
    return undefined;
  };

  pages.get('/campaigns', securityHeaders, async (req, res) => {
    const campaigns = campaignsOr404(res);
    if (!campaigns) return;
    const cursor = typeof req.query.cursor === 'string' && /^\d{1,15}$/.test(req.query.cursor) ? req.query.cursor : undefined;
    const list = await orStoreUnavailable(() => campaigns.list({ limit: 50, cursor }));
    send(res, 200, campaignsPage(ctx, list.campaigns, list.next_cursor, cursor));
  });

  pages.get('/campaigns/:id', securityHeaders, async (req, res) => {
    const campaigns = campaignsOr404(res);
    if (!campaigns) return;
    const id = String(req.params.id);
    const status = typeof req.query.status === 'string' && (TASK_STATUSES as readonly string[]).includes(req.query.status) ? (req.query.status as TaskStatus) : undefined;
    const task = typeof req.query.task === 'string' && /^tsk_\d{1,9}$/.test(req.query.task) ? req.query.task : undefined;
    const cursor = task ? task.slice(4) : typeof req.query.cursor === 'string' && /^\d{1,9}$/.test(req.query.cursor) ? req.query.cursor : undefined;
    const [view, tasks] = await orStoreUnavailable(() => Promise.all([campaigns.get(id), campaigns.tasks(id, { status, cursor, limit: 50 })]));
    if (!view || !tasks) return send(res, 404, messagePage(ctx, 'No such campaign', `No campaign ${id}.`));
    send(res, 200, campaignPage(ctx, view, tasks, { status, cursor, task, flash: controlFlash(req) }, TASK_STATUSES));
  });

  pages.post('/campaigns/:id/:action', securityHeaders, form, async (req, res) => {
    const campaigns = campaignsOr404(res);
    if (!campaigns) return;
    const token = (req.body as Record<string, unknown> | undefined)?.csrf;
    if (!sameOrigin(req) || !csrf.valid(token)) {
      return send(res, 403, messagePage(ctx, 'Refused', 'This button\'s form is out of date or did not come from this console: reload the page and try again.'));
    }
    const action = String(req.params.action);
    if (action !== 'pause' && action !== 'resume' && action !== 'cancel') return send(res, 404, messagePage(ctx, 'Not found', 'No such action.'));
    const id = String(req.params.id);
    const outcome = await orStoreUnavailable(() => campaigns.control(id, action));
    if (outcome.kind === 'unknown') return send(res, 404, messagePage(ctx, 'No such campaign', `No campaign ${id}.`));
    const params: Record<string, string> = outcome.kind === 'ok' ? { done: action } : { refused: action, status: outcome.status };
    res.redirect(303, `/admin/campaigns/${encodeURIComponent(id)}?${new URLSearchParams(params).toString()}`);
  });

  pages.get('/campaigns/:id/results.csv', async (req, res) => {
    const campaigns = campaignsOr404(res);
    if (!campaigns) return;
    const id = String(req.params.id);
    if (!(await orStoreUnavailable(() => campaigns.get(id)))) return send(res, 404, messagePage(ctx, 'No such campaign', `No campaign ${id}.`));
    res.status(200).type('text/csv; charset=utf-8').set({ 'content-disposition': `attachment; filename="${id}.csv"`, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    try {
      // Masked like the pages when ADMIN_MASK_NUMBERS is on: the file is downloaded from the console.
      for await (const chunk of campaigns.results(id)) {
        if (!res.write(ctx.numbers.text(chunk))) await new Promise<void>((resolve) => res.once('drain', resolve));
        if (res.destroyed) return;
      }
      res.end();
    } catch {
      res.destroy();
    }
  });

  router.use('/admin', pages);
  return router;
}

const CONTROLS: Record<string, [string, string]> = { pause: ['paused', 'paused'], resume: ['resumed', 'resumed'], cancel: ['canceled', 'canceled'] };

function controlFlash(req: Request): { ok: boolean; text: string } | undefined {
  const { done, refused, status } = req.query;
  if (typeof done === 'string' && CONTROLS[done]) return { ok: true, text: `The campaign is ${CONTROLS[done][0]}.` };
  if (typeof refused === 'string' && CONTROLS[refused]) {
    return { ok: false, text: `The campaign could not be ${CONTROLS[refused][1]}${typeof status === 'string' && /^[a-z]{1,20}$/.test(status) ? `: it is ${status}` : ''}.` };
  }
  return undefined;
}

const FAILURES: Record<string, string> = {
  not_found: 'no such event (events are kept for EVENTS_RETENTION_HOURS)',
  no_endpoint: 'no configured endpoint takes events of its type',
  unavailable: 'the queue did not take it; try again',
};

function flashOf(req: Request): { ok: boolean; text: string } | undefined {
  const { redelivered, n, failed, why } = req.query;
  if (typeof redelivered === 'string' && CALL_ID.test(redelivered)) {
    return { ok: true, text: `Event ${redelivered} is being delivered again${typeof n === 'string' && /^\d{1,6}$/.test(n) ? ` (redelivery ${n})` : ''}.` };
  }
  if (typeof failed === 'string' && CALL_ID.test(failed)) {
    return { ok: false, text: `Event ${failed} was not redelivered: ${FAILURES[typeof why === 'string' ? why : ''] ?? 'it could not be'}.` };
  }
  return undefined;
}
