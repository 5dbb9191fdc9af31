/**
 * What stands in front of /admin: basic auth on every spelling of the path, security headers, and the
 * CSRF token every button's form carries.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { basicPasswordMatches } from '../../http/auth';
import { CONTENT_SECURITY_POLICY } from './html';

export const ADMIN_REALM = 'twilio-retell-bridge admin';

/**
 * Whether a request's path, however spelled, is under /admin: percent-decoded (twice, for `%252f`),
 * backslashes as slashes, repeated slashes as one, dot segments resolved, trailing dots and case
 * ignored. Express matches routes case-insensitively and some proxies normalise paths before passing
 * them on, so anything that could reach an /admin route must meet the password first.
 */
export function isAdminPath(rawPath: string): boolean {
  let p = rawPath;
  for (let i = 0; i < 3; i++) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(p);
    } catch {
      decoded = p.replace(/%2f/gi, '/').replace(/%2e/gi, '.').replace(/%5c/gi, '\\');
    }
    if (decoded === p) break;
    p = decoded;
  }
  const segments: string[] = [];
  for (const raw of p.replace(/\\/g, '/').split('/')) {
    const trimmed = raw.trim();
    if (trimmed === '..') {
      segments.pop();
      continue;
    }
    const seg = trimmed.replace(/[.\s]+$/, '').toLowerCase();
    if (seg !== '') segments.push(seg);
  }
  return segments[0] === 'admin' || /^\/*admin/i.test(p.replace(/\\/g, '/').replace(/^[/.\s]+/, '/'));
}

const MAYBE_ADMIN = /admin|%|\\/i;

/**
 * In front of every route: a path that is /admin in any spelling needs the password (401 without it);
 * with no password set, nothing is there (404), whatever the spelling.
 */
export function adminGuard(password: string | undefined): RequestHandler {
  return (req, res, next) => {
    // originalUrl: before any router stripped a mount path from it.
    const path = req.originalUrl.split('?')[0] ?? '/';
    // Most paths show at a glance they cannot be /admin in any spelling.
    if (!MAYBE_ADMIN.test(path) || !isAdminPath(path)) return next();
    res.set('Cache-Control', 'no-store');
    if (!password) return void res.status(404).type('text/plain').send('not found');
    if (basicPasswordMatches(req.get('authorization'), password)) {
      // A browser sends remembered basic credentials with a cross-site form too: anything that changes
      // something (the console's buttons, Bull Board's retry and remove) must come from our own pages.
      if (req.method !== 'GET' && req.method !== 'HEAD' && !sameOrigin(req)) {
        return void res.status(403).type('text/plain').send('cross-site request refused');
      }
      return next();
    }
    res.status(401).set('www-authenticate', `Basic realm="${ADMIN_REALM}", charset="UTF-8"`).type('text/plain').send('password required');
  };
}

/** Headers of every console page. */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    // same-origin, not no-referrer: with no-referrer, Chromium sends a form's Origin as "null".
    'Referrer-Policy': 'same-origin',
    'Cache-Control': 'no-store',
    'Cross-Origin-Opener-Policy': 'same-origin',
  });
  next();
};

/** How long a page's buttons work after it was shown. */
export const CSRF_TOKEN_TTL_MS = 8 * 3600 * 1000;

/**
 * CSRF tokens: `<time>.<HMAC(key, time)>`, the key derived from ADMIN_PASSWORD (never shown, never sent)
 * rather than made at random per process, so every web process of a deployment accepts the others'
 * tokens (a page served by one dyno, its button handled by another), and changing the password voids
 * them all. A token proves the form came from one of our pages; the Origin and Sec-Fetch-Site checks
 * refuse a cross-site post before the token is even looked at.
 */
export class CsrfTokens {
  private readonly key: Buffer;

  constructor(password: string) {
    this.key = createHmac('sha256', password).update('console csrf v1').digest();
  }

  issue(now = Date.now()): string {
    const t = now.toString(36);
    return `${t}.${this.sign(t)}`;
  }

  valid(token: unknown, now = Date.now()): boolean {
    if (typeof token !== 'string' || token.length > 100) return false;
    const [t, mac] = token.split('.');
    if (!t || !mac || !/^[0-9a-z]{1,12}$/.test(t)) return false;
    const at = parseInt(t, 36);
    if (!(at <= now + 60_000 && now - at <= CSRF_TOKEN_TTL_MS)) return false;
    const expected = Buffer.from(this.sign(t));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private sign(t: string): string {
    return createHmac('sha256', this.key).update(t).digest('base64url');
  }
}

/**
 * Whether a POST comes from one of our own pages: the browser says so (Sec-Fetch-Site same-origin, or
 * none for a user's own navigation), and an Origin, when sent, is this host.
 */
export function sameOrigin(req: Request): boolean {
  const site = req.get('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.get('origin');
  if (origin && origin !== 'null') {
    try {
      if (new URL(origin).host !== req.get('host')) return false;
    } catch {
      return false;
    }
  } else if (origin === 'null') return false;
  return true;
}
