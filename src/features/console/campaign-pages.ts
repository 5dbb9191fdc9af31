/** The campaigns' pages: the list with progress bars, and one campaign with its counts, outcomes and tasks. */
import type { CampaignView, TaskView } from '../campaigns';
import { html, page, query, raw, type Html } from './html';
import { when, type PageContext } from './pages';

/** Tasks that will not be dialed again. */
const doneOf = (c: CampaignView) => c.counts.completed + c.counts.canceled + c.counts.skipped_dnc;

function progress(c: CampaignView): Html {
  const done = doneOf(c);
  const pct = c.counts.total ? Math.round((done / c.counts.total) * 100) : 0;
  return html`<progress max="${c.counts.total || 1}" value="${done}" aria-label="${c.name ?? c.id}: ${done} of ${c.counts.total} tasks done">${pct} %</progress> <span>${done} / ${c.counts.total}</span>`;
}

const statusTone = (s: string) => (s === 'running' ? 'ok' : s === 'canceled' ? 'bad' : s === 'paused' ? 'warn' : 'muted');

export function campaignsPage(ctx: PageContext, campaigns: CampaignView[], next: string | null, cursor: string | undefined): string {
  const rows = campaigns.map(
    (c) => html`<tr><td><a href="/admin/campaigns/${encodeURIComponent(c.id)}">${c.name ?? c.id}</a>${c.name ? html`<div class="muted"><code>${c.id}</code></div>` : ''}</td>
<td class="${statusTone(c.status)}">${c.status}</td><td>${when(c.created_at)}</td><td>${progress(c)}</td>
<td>${c.counts.dialing + c.counts.in_progress}</td></tr>`,
  );
  const body = html`<h1>Campaigns</h1>
<div class="scroll"><table><caption class="skip">Campaigns, newest first</caption>
<thead><tr><th scope="col">Campaign</th><th scope="col">Status</th><th scope="col">Created (UTC)</th><th scope="col">Progress (tasks done)</th><th scope="col">On the phone</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="5" class="muted">No campaigns yet (POST /campaigns or npm run campaign -- create).</td></tr>`}</tbody></table></div>
<nav class="pager" aria-label="Pages">${cursor ? html`<a href="/admin/campaigns">Newest</a>` : ''}${next ? html`<a href="/admin/campaigns${query({ cursor: next })}" rel="next">Older campaigns</a>` : ''}</nav>`;
  return page({ title: 'Campaigns', section: 'campaigns', campaigns: true }, body);
}

/** Outcomes as horizontal bars in SVG (no style attribute, no script), with the figures in a table beside it. */
function outcomesChart(outcomes: Record<string, number>): Html {
  const entries = Object.entries(outcomes).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return html`<p class="muted">No outcome yet.</p>`;
  const max = Math.max(...entries.map(([, n]) => n));
  const rowH = 26;
  const height = entries.length * rowH + 4;
  const bars = entries.map(([name, n], i) => {
    const w = Math.max(1, Math.round((n / max) * 300));
    const y = i * rowH + 2;
    return html`<text x="150" y="${y + 16}" text-anchor="end" font-size="13" fill="#1b1f24">${name}</text><rect x="158" y="${y + 3}" width="${w}" height="18" fill="#0b57b0"></rect><text x="${164 + w}" y="${y + 16}" font-size="13" fill="#1b1f24">${n}</text>`;
  });
  return html`<svg role="img" aria-labelledby="outcomes-title" viewBox="0 0 520 ${height}" width="100%" height="${height}" preserveAspectRatio="xMinYMin meet"><title id="outcomes-title">Outcomes: ${entries.map(([k, n]) => `${k} ${n}`).join(', ')}</title>${bars}</svg>`;
}

export interface CampaignPageQuery {
  status?: string;
  cursor?: string;
  /** The task to show first (a call page's link to its campaign attempt). */
  task?: string;
  flash?: { ok: boolean; text: string };
}

export function campaignPage(ctx: PageContext, c: CampaignView, tasks: { tasks: TaskView[]; next_cursor: string | null }, q: CampaignPageQuery, statuses: readonly string[]): string {
  const token = ctx.csrf();
  const n = ctx.numbers;
  const self = `/admin/campaigns/${encodeURIComponent(c.id)}`;
  const button = (action: 'pause' | 'resume' | 'cancel', label: string, secondary = false) =>
    html`<form method="post" action="${self}/${action}"><input type="hidden" name="csrf" value="${token}"><button type="submit"${secondary ? raw(' class="secondary"') : ''}>${label}</button></form>`;
  const controls = [
    ...(c.status === 'running' || c.status === 'scheduled' ? [button('pause', 'Pause')] : []),
    ...(c.status === 'paused' ? [button('resume', 'Resume')] : []),
    ...(c.status !== 'completed' && c.status !== 'canceled' ? [button('cancel', 'Cancel the campaign', true)] : []),
  ];
  const counts: Array<[string, number]> = [
    ['total', c.counts.total],
    ['pending', c.counts.pending],
    ['scheduled', c.counts.scheduled],
    ['dialing', c.counts.dialing],
    ['in progress', c.counts.in_progress],
    ['completed', c.counts.completed],
    ['canceled', c.counts.canceled],
    ['skipped (do not call)', c.counts.skipped_dnc],
  ];
  const rows = tasks.tasks.map(
    (t) => html`<tr${q.task === t.id ? raw(' class="ok" aria-current="true"') : ''} id="${t.id}"><td><code>${t.id}</code></td><td>${n.number(t.to)}</td><td>${t.status}</td><td>${t.outcome ?? ''}</td>
<td>${t.attempts.map(
      (a, i) => html`<div><a href="/admin/calls/${encodeURIComponent(a.outbound_id)}">attempt ${i + 1}</a>${a.outcome ? html`: ${a.outcome}` : ''}${a.answered_by ? html` <span class="muted">(${a.answered_by})</span>` : ''}</div>`,
    )}</td><td>${t.next_attempt_at ? when(t.next_attempt_at) : ''}</td></tr>`,
  );
  const body = html`<p><a href="/admin/campaigns">← Campaigns</a></p>
<h1>${c.name ?? 'Campaign'} <code>${c.id}</code></h1>
${q.flash ? html`<p class="${q.flash.ok ? 'ok' : 'bad'}" role="status">${q.flash.text}</p>` : ''}
<p>Status: <strong class="${statusTone(c.status)}">${c.status}</strong> · ${progress(c)}</p>
<div class="pager">${controls}<a href="${self}/results.csv" download>Results (CSV)</a></div>
<h2 id="counts">Tasks</h2>
<dl aria-labelledby="counts">${counts.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
<dl>${c.from ? html`<dt>from</dt><dd>${n.number(c.from)}</dd>` : ''}${c.agent_id ? html`<dt>agent</dt><dd>${c.agent_id}</dd>` : ''}
<dt>window</dt><dd>${c.window ? `${c.window.start}–${c.window.end}${c.window.days ? ` ${c.window.days.join(',')}` : ''}${c.window.timezone ? ` (${c.window.timezone})` : ''}` : 'any time'}</dd>
<dt>at most at once</dt><dd>${c.max_concurrency}</dd><dt>retries</dt><dd>${c.retry.on.length ? `${c.retry.on.join(', ')}: up to ${c.retry.max_attempts} dials, ${c.retry.delay_s} s apart` : 'none'}</dd>
<dt>created</dt><dd>${when(c.created_at)}</dd>${c.completed_at ? html`<dt>completed</dt><dd>${when(c.completed_at)}</dd>` : ''}</dl>
<h2 id="outcomes">Outcomes</h2>
${outcomesChart(c.outcomes)}
<h2 id="task-list">Task list</h2>
<form class="filters" method="get" action="${self}" aria-label="Filter tasks">
<label for="status">Status<select id="status" name="status"><option value="">any</option>${statuses.map((s) => html`<option value="${s}"${q.status === s ? raw(' selected') : ''}>${s}</option>`)}</select></label>
<button type="submit" class="secondary">Filter</button></form>
<div class="scroll"><table><caption class="skip">Tasks in the order added</caption>
<thead><tr><th scope="col">Task</th><th scope="col">To</th><th scope="col">Status</th><th scope="col">Outcome</th><th scope="col">Attempts</th><th scope="col">Next attempt (UTC)</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="6" class="muted">No tasks${q.status ? ' with this status' : ''} here.</td></tr>`}</tbody></table></div>
<nav class="pager" aria-label="Task pages">${q.cursor ? html`<a href="${self}${query({ status: q.status })}">First tasks</a>` : ''}${
    tasks.next_cursor ? html`<a href="${self}${query({ status: q.status, cursor: tasks.next_cursor })}" rel="next">More tasks</a>` : ''
  }</nav>`;
  return page({ title: c.name ?? c.id, section: 'campaigns', campaigns: true }, body);
}
