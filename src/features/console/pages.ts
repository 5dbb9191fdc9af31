/** The console's pages, rendered on the server from what the service read. */
import type { CallSummary } from '../../calls/repository';
import type { StoredEvent } from '../events';
import type { TwilioRequestEntry } from '../../twilio/http-client';
import type { CallReport, OutboundReport } from './call-report';
import { html, page, query, raw, type Html, type NumberView } from './html';
import { STATE_FILTERS, type CallListPage, type CallListQuery, type LegReport } from './service';
import { timelineOf, transferOutcome, twilioRequestEntries, type Detail } from './timeline';

export interface PageContext {
  numbers: NumberView;
  /** A fresh CSRF token for the page's forms. */
  csrf: () => string;
  campaigns: boolean;
}

/** `2026-12-07 12:34:56` (UTC), in a <time> element. */
export function when(iso: string | number | undefined): Html {
  if (iso === undefined || iso === '') return html`<span class="muted">–</span>`;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return html`${String(iso)}`;
  const s = date.toISOString();
  return html`<time datetime="${s}">${s.slice(0, 10)} ${s.slice(11, 19)}</time>`;
}

function duration(c: Pick<CallSummary, 'duration' | 'answeredAt' | 'endedAt' | 'state'>): string {
  let seconds = c.duration !== undefined ? Number(c.duration) : undefined;
  if (seconds === undefined && c.answeredAt && c.endedAt) seconds = Math.round((Date.parse(c.endedAt) - Date.parse(c.answeredAt)) / 1000);
  if (seconds === undefined || Number.isNaN(seconds)) return c.state === 'ended' ? '–' : 'live';
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

const stateTone = (state: string) => (state === 'fallback' || state === 'rejected' ? 'bad' : state === 'ended' ? 'muted' : 'ok');

export function callsPage(ctx: PageContext, q: CallListQuery & { refresh?: number; notFound?: string }, result: CallListPage): string {
  const n = ctx.numbers;
  const rows = result.calls.map(
    (c) => html`<tr>
<td><a href="/admin/calls/${encodeURIComponent(c.callSid)}">${when(c.createdAt)}</a></td>
<td>${c.direction}</td><td>${n.number(c.from)}</td><td>${n.number(c.to)}</td>
<td class="wide">${c.agentId ?? ''}</td>
<td class="${stateTone(c.state)}">${c.state}</td>
<td>${transferOutcome(c) ?? ''}</td><td>${duration(c)}</td></tr>`,
  );
  const nextHref = result.next ? `/admin/calls${query({ state: q.state, number: q.number, cursor: result.next, refresh: q.refresh })}` : undefined;
  const refreshToggle = q.refresh
    ? html`<a href="/admin/calls${query({ state: q.state, number: q.number })}">Stop refreshing</a>`
    : html`<a href="/admin/calls${query({ state: q.state, number: q.number, refresh: 10 })}">Refresh every 10 s</a>`;
  const body = html`<h1>Calls</h1>
<form class="filters" method="get" action="/admin/calls" role="search" aria-label="Find a call">
<label for="q">CallSid, Retell call_id or out_… id<input id="q" name="q" size="36" autocomplete="off" spellcheck="false"></label>
<button type="submit">Open</button></form>
${q.notFound ? html`<p class="bad" role="alert">No call ${q.notFound} is known (records are kept 24 hours).</p>` : ''}
<form class="filters" method="get" action="/admin/calls" aria-label="Filter calls">
<label for="state">State<select id="state" name="state"><option value="">any</option>${STATE_FILTERS.map(
    (s) => html`<option value="${s}"${q.state === s ? raw(' selected') : ''}>${s}</option>`,
  )}</select></label>
<label for="number">Number contains<input id="number" name="number" inputmode="tel" size="16" value="${q.number ?? ''}"></label>
<button type="submit" class="secondary">Filter</button></form>
<p class="muted">${result.total} calls in the last 24 hours, newest first. ${refreshToggle}${
    result.scanLimited ? html` · this page looked through ${result.scanLimited} calls for the filter; “Older calls” goes on from there` : ''
  }</p>
<div class="scroll"><table class="calls"><caption class="skip">Recent calls</caption>
<thead><tr><th scope="col">Time (UTC)</th><th scope="col">Direction</th><th scope="col">From</th><th scope="col">To</th><th scope="col" class="wide">Agent</th><th scope="col">State</th><th scope="col">Transfer</th><th scope="col">Duration</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="8" class="muted">No calls${q.state || q.number ? ' match' : ' yet'}.</td></tr>`}</tbody></table></div>
<nav class="pager" aria-label="Pages">${q.cursor ? html`<a href="/admin/calls${query({ state: q.state, number: q.number, refresh: q.refresh })}">Newest</a>` : ''}${
    nextHref ? html`<a href="${nextHref}" rel="next">Older calls</a>` : ''
  }</nav>`;
  return page({ title: 'Calls', section: 'calls', refreshS: q.refresh, campaigns: ctx.campaigns }, body);
}

function detailValue(ctx: PageContext, x: Detail): Html {
  const value = x.as === 'number' ? ctx.numbers.number(x.value) : ctx.numbers.text(x.value);
  const shown = x.as === 'pre' ? html`<pre>${value}</pre>` : x.as === 'code' || x.as === 'number' ? html`<code>${value}</code>` : html`${value}`;
  return x.href ? html`<a href="${x.href}">${shown}</a>` : shown;
}

function details(ctx: PageContext, list: readonly Detail[]): Html {
  if (list.length === 0) return html``;
  return html`<dl>${list.map((x) => html`<dt>${x.label}</dt><dd>${detailValue(ctx, x)}</dd>`)}</dl>`;
}

/** Record fields never shown: the CallToken lets a call show the caller's number; the claim is internal. */
const HIDDEN_FIELDS = new Set(['callToken', 'claim_owner', 'claim_until', 'twiml', 'action', 'warmTransfer', 'recordingControl']);
const NUMBER_FIELDS = new Set(['from', 'to']);

export function callPage(ctx: PageContext, report: CallReport, refresh?: number): string {
  const r = report.record;
  const n = ctx.numbers;
  const entries = timelineOf(report);
  const live = r.state !== 'ended' && r.state !== 'rejected' && r.state !== 'fallback';
  const self = `/admin/calls/${encodeURIComponent(r.callSid)}`;
  const summary: Detail[] = [
    { label: 'direction', value: r.direction },
    { label: 'from', value: r.from, as: 'number' },
    { label: 'to', value: r.to, as: 'number' },
    { label: 'state', value: r.state },
    ...(r.agentId ? [{ label: 'agent', value: r.agentId }] : []),
    ...(r.callId ? [{ label: 'Retell call_id', value: r.callId, as: 'code' as const }] : []),
    ...(report.outboundId ? [{ label: 'outbound call', value: report.outboundId, as: 'code' as const }] : []),
    ...(transferOutcome(r) ? [{ label: 'transfer', value: transferOutcome(r)! }] : []),
  ];
  const fields = Object.entries(r)
    .filter(([k, v]) => !HIDDEN_FIELDS.has(k) && v !== undefined && v !== '')
    .map(([k, v]) => ({ label: k, value: String(v), ...(NUMBER_FIELDS.has(k) ? { as: 'number' as const } : {}) }));
  const body = html`<p><a href="/admin/calls">← Calls</a></p>
<h1>Call <code>${r.callSid}</code></h1>
${details(ctx, summary)}
<p class="muted">${live ? html`The call is live. ${refresh ? html`<a href="${self}">Stop refreshing</a>` : html`<a href="${self}?refresh=5">Refresh every 5 s</a>`}` : ''}</p>
<h2 id="timeline">Timeline</h2>
<ol class="timeline" aria-labelledby="timeline">${entries.map(
    (e) => html`<li${e.tone ? html` class="${e.tone}"` : ''}><div><span class="when">${e.at ? when(e.at) : '–'}</span> · <span class="muted">${e.kind}</span></div>
<div class="kind">${n.text(e.title)}</div>${details(ctx, e.details)}</li>`,
  )}</ol>
<h2 id="record">The call record</h2>
<details><summary>All ${fields.length} fields</summary>${details(ctx, fields)}</details>`;
  return page({ title: `Call ${r.callSid}`, section: 'calls', refreshS: live ? refresh : undefined, campaigns: ctx.campaigns }, body);
}

export function legPage(ctx: PageContext, leg: LegReport): string {
  const body = html`<p><a href="/admin/calls">← Calls</a></p>
<h1>Call leg <code>${leg.callSid}</code></h1>
<p>A leg the bridge placed or changed${leg.forCall ? html` for call <a href="/admin/calls/${encodeURIComponent(leg.forCall)}"><code>${leg.forCall}</code></a> (a warm transfer's person)` : ''}: it has no call record of its own, only the bridge's Twilio requests about it.</p>
<h2 id="requests">Twilio requests</h2>
<ol class="timeline" aria-labelledby="requests">${twilioRequestEntries(leg.requests).map(
    (e) => html`<li${e.tone ? html` class="${e.tone}"` : ''}><div><span class="when">${e.at ? when(e.at) : '–'}</span></div><div class="kind">${e.title}</div>${details(ctx, e.details)}</li>`,
  )}</ol>`;
  return page({ title: `Call leg ${leg.callSid}`, section: 'calls', campaigns: ctx.campaigns }, body);
}

/** The outbound record's fields shown, in reading order (the request hash and uncertain marks are internal). */
const OUTBOUND_SHOWN = ['status', 'outcome', 'to', 'from', 'agentId', 'callSid', 'twilioStatus', 'answeredBy', 'errorCode', 'errorMessage', 'voicemail', 'createdAt', 'dialingAt', 'ringingAt', 'answeredAt', 'endedAt', 'duration', 'placements', 'dynamicVariables', 'metadata'] as const;

export function outboundPage(ctx: PageContext, report: OutboundReport, requests: readonly TwilioRequestEntry[]): string {
  const o = report.outbound;
  let campaign: { id: string; task: string } | undefined;
  try {
    const m = JSON.parse(o.metadata) as { campaign_id?: unknown; task_id?: unknown };
    if (typeof m.campaign_id === 'string' && typeof m.task_id === 'string') campaign = { id: m.campaign_id, task: m.task_id };
  } catch {
    campaign = undefined;
  }
  const fields: Detail[] = OUTBOUND_SHOWN.filter((k) => o[k] !== undefined && o[k] !== '' && o[k] !== '{}').map((k) => ({
    label: k,
    value: String(o[k]),
    ...(k === 'to' || k === 'from' ? { as: 'number' as const } : k === 'callSid' ? { as: 'code' as const } : {}),
  }));
  const body = html`<p><a href="/admin/calls">← Calls</a></p>
<h1>Outbound call <code>${o.id}</code></h1>
<p>${o.callSid ? 'Its Twilio call was never answered, so the bridge has no call record of it: here is the outbound record.' : 'Not placed yet: there is no Twilio call.'}${
    campaign ? html` An attempt of campaign <a href="/admin/campaigns/${encodeURIComponent(campaign.id)}?task=${encodeURIComponent(campaign.task)}"><code>${campaign.id}</code>, task ${campaign.task}</a>.` : ''
  }</p>
${details(ctx, fields)}
<h2 id="requests">Twilio requests</h2>
${requests.length ? html`<ol class="timeline" aria-labelledby="requests">${twilioRequestEntries(requests).map(
    (e) => html`<li${e.tone ? html` class="${e.tone}"` : ''}><div><span class="when">${e.at ? when(e.at) : '–'}</span></div><div class="kind">${e.title}</div>${details(ctx, e.details)}</li>`,
  )}</ol>` : html`<p class="muted">None.</p>`}`;
  return page({ title: `Outbound call ${o.id}`, section: 'calls', campaigns: ctx.campaigns }, body);
}

export interface EventsPageQuery {
  type?: string;
  id?: string;
  /** The outcome of a redelivery just asked for. */
  flash?: { ok: boolean; text: string };
}

export function eventsPage(ctx: PageContext, q: EventsPageQuery, events: StoredEvent[], types: readonly string[], canRedeliver: boolean): string {
  const token = ctx.csrf();
  const rows = events.map((e) => {
    const data = (JSON.parse(e.body) as { data?: { call_sid?: unknown } }).data;
    const callSid = typeof data?.call_sid === 'string' ? data.call_sid : undefined;
    const deliveries = Object.entries(e.deliveries);
    return html`<tr${q.id === e.id ? raw(' class="ok"') : ''} id="${e.id}">
<td>${when(e.at)}</td><td>${e.type}</td>
<td>${callSid ? html`<a href="/admin/calls/${encodeURIComponent(callSid)}"><code>${callSid}</code></a>` : html`<span class="muted">–</span>`}</td>
<td>${deliveries.length ? deliveries.map(([name, d]) => html`<div><span class="${d.status === 'delivered' ? 'ok' : d.status === 'failed' ? 'bad' : 'warn'}">${d.status}</span> <span class="muted">(${name})</span></div>`) : html`<span class="muted">not recorded yet</span>`}</td>
<td>${deliveries.map(([, d]) => html`<div>${d.attempts}</div>`)}</td>
<td>${deliveries.map(([, d]) => html`<div>${d.last ?? ''}${d.lastAt ? html` <span class="muted">${when(d.lastAt)}</span>` : ''}</div>`)}</td>
<td>${canRedeliver
      ? html`<form method="post" action="/admin/events/${encodeURIComponent(e.id)}/redeliver"><input type="hidden" name="csrf" value="${token}"><button type="submit" aria-label="Redeliver ${e.type} event ${e.id}">Redeliver</button></form>`
      : ''}</td></tr>`;
  });
  const body = html`<h1>Events</h1>
${q.flash ? html`<p class="${q.flash.ok ? 'ok' : 'bad'}" role="status">${q.flash.text}</p>` : ''}
<form class="filters" method="get" action="/admin/events" aria-label="Filter events">
<label for="type">Type<select id="type" name="type"><option value="">any</option>${types.map((t) => html`<option value="${t}"${q.type === t ? raw(' selected') : ''}>${t}</option>`)}</select></label>
<button type="submit" class="secondary">Filter</button></form>
${canRedeliver ? '' : html`<p class="muted">No events endpoint is configured (EVENTS_WEBHOOK_URL): nothing can be redelivered.</p>`}
<div class="scroll"><table><caption class="skip">Recent events</caption>
<thead><tr><th scope="col">Time (UTC)</th><th scope="col">Type</th><th scope="col">Call</th><th scope="col">Delivery</th><th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col"><span class="skip">Actions</span></th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="7" class="muted">No events.</td></tr>`}</tbody></table></div>`;
  return page({ title: 'Events', section: 'events', campaigns: ctx.campaigns }, body);
}

export function messagePage(ctx: PageContext, title: string, text: string): string {
  return page({ title, section: 'calls', campaigns: ctx.campaigns }, html`<h1>${title}</h1><p>${text}</p><p><a href="/admin/calls">Calls</a></p>`);
}
