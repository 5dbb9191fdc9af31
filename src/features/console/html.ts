/**
 * HTML for the console, escaped by construction: `html` is a tagged template whose every interpolated
 * value is escaped unless it is itself `Html` made by `html` (or `raw` for the few constants). So a
 * caller name `<script>`, an agent's sentence or a variable's value can only ever show as text.
 */
import { createHash } from 'node:crypto';

/** Markup that is safe to insert as it is. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text for an element's content or an attribute's value (always quoted in the templates). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** A constant of ours, inserted as it is: never pass it anything that came from outside. */
export const raw = (markup: string): Html => new Html(markup);

/** A query string for a link, its values encoded (empty ones left out). */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

// --- Phone numbers -----------------------------------------------------------------------------------

/** A number with all but its last 4 digits hidden: `+14155550199` → `+•••••••0199`. */
export function maskNumber(value: string): string {
  const digits = value.replace(/\D/g, '');
  if (digits.length <= 4) return value;
  return `${value.startsWith('+') ? '+' : ''}${'•'.repeat(digits.length - 4)}${digits.slice(-4)}`;
}

/** E.164 numbers inside free text (a SIP URI, a TwiML answer, an event's JSON): `+` and 7 to 15 digits. */
const E164_IN_TEXT = /\+\d{7,15}(?!\d)/g;

/** How the pages show numbers: as they are, or masked (ADMIN_MASK_NUMBERS). */
export interface NumberView {
  /** A field that is a phone number. */
  number(value: string | undefined): string;
  /** Free text that may contain numbers. */
  text(value: string | undefined): string;
}

export function numberView(mask: boolean): NumberView {
  if (!mask) return { number: (v) => v ?? '', text: (v) => v ?? '' };
  return {
    number: (v) => (v ? (/^\+?[\d\s().-]{5,}$/.test(v) ? maskNumber(v) : v.replace(E164_IN_TEXT, maskNumber)) : ''),
    text: (v) => (v ? v.replace(E164_IN_TEXT, maskNumber) : ''),
  };
}

// --- The page around every page ------------------------------------------------------------------------

/**
 * One stylesheet, inline and allowed by its hash in the Content-Security-Policy (no inline script, no
 * style attribute: bars are <meter>/<progress> and SVG). Contrast ≥ 4.5:1, visible focus, one column on a
 * phone.
 */
const CSS = `
:root{color-scheme:light;--fg:#1b1f24;--muted:#4d5763;--line:#c9d1d9;--bg:#fff;--alt:#f3f5f7;--link:#0b57b0;--ok:#116329;--bad:#a40e26;--warn:#7a4d00}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible{outline:3px solid #f0b400;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:6px;z-index:2}
header{background:#0d2538;color:#fff;padding:8px 16px;display:flex;flex-wrap:wrap;gap:4px 18px;align-items:center}
header a{color:#fff;text-decoration:none;padding:6px 2px}header a[aria-current=page]{text-decoration:underline;text-underline-offset:4px}
header strong{margin-right:12px}
main{padding:12px 16px;max-width:1200px}
h1{font-size:1.35rem;margin:8px 0 12px}h2{font-size:1.1rem;margin:22px 0 8px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--alt);font-weight:600}
.scroll{overflow-x:auto}
form.filters{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:flex-end;margin:0 0 12px}
label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted);gap:2px}
input,select,button{font:inherit;padding:6px 8px;border:1px solid #6e7781;border-radius:4px;background:#fff;color:var(--fg)}
button{background:#0b57b0;color:#fff;border-color:#0b57b0;cursor:pointer}button.secondary{background:#fff;color:#0b57b0}
.muted{color:var(--muted)}.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
input,select,label{max-width:100%}h1,p,dl,ol.timeline{overflow-wrap:anywhere}pre{white-space:pre-wrap;word-break:break-all;background:var(--alt);padding:8px;margin:4px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}dt{color:var(--muted)}dd{margin:0;word-break:break-word}
ol.timeline{list-style:none;padding:0;margin:0}ol.timeline li{border-left:3px solid var(--line);padding:4px 0 10px 12px;margin-left:4px}
ol.timeline li.bad{border-left-color:var(--bad);color:var(--fg)}ol.timeline li.ok{border-left-color:var(--ok);color:var(--fg)}
.when{font:13px ui-monospace,monospace;color:var(--muted)}.kind{font-weight:600}
.pager{display:flex;gap:16px;margin:12px 0}
meter,progress{width:160px;height:14px}
@media (max-width:640px){main{padding:8px}th,td{padding:5px 4px}table.calls .wide{display:none}dl{grid-template-columns:1fr}}
`;

/** The stylesheet's CSP source. */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(CSS).digest('base64')}'`;

/** The Content-Security-Policy of every console page: nothing but our own style and forms to ourselves. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src ${STYLE_HASH}`,
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export type Section = 'calls' | 'events' | 'campaigns' | 'queues';

export interface PageOptions {
  title: string;
  section: Section;
  /** Seconds between reloads (a meta refresh: live without any script), none when unset. */
  refreshS?: number;
  /** Whether the campaigns' pages exist. */
  campaigns?: boolean;
}

export function page(opts: PageOptions, body: Html): string {
  const nav: Array<[Section, string, string]> = [
    ['calls', '/admin/calls', 'Calls'],
    ['events', '/admin/events', 'Events'],
    ...(opts.campaigns ? [['campaigns', '/admin/campaigns', 'Campaigns'] as [Section, string, string]] : []),
    ['queues', '/admin/queues', 'Queues'],
  ];
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin">${opts.refreshS ? html`<meta http-equiv="refresh" content="${opts.refreshS}">` : ''}
<title>${opts.title} · bridge console</title><style>${raw(CSS)}</style></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><strong>Bridge console</strong><nav aria-label="Sections">${nav.map(
    ([section, href, label]) => html`<a href="${href}"${section === opts.section ? raw(' aria-current="page"') : ''}>${label}</a> `,
  )}</nav></header>
<main id="main" tabindex="-1">${body}</main></body></html>`.value;
}
