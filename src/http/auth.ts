import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

/** Compares a presented secret with the expected one in constant time; hashing first hides the length too. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** True when an `Authorization` header carries `Bearer <token>`. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
  return given !== undefined && sameSecret(given, token);
}

/** True when an `Authorization` header carries HTTP basic credentials with this password (any user name). */
export function basicPasswordMatches(header: string | undefined, password: string): boolean {
  const encoded = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '')?.[1];
  if (!encoded) return false;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && sameSecret(decoded.slice(colon + 1), password);
}

/** Answers 401 unless the request carries `Authorization: Bearer <token>` (Prometheus' `authorization` scrape setting). */
export function requireBearer(token: string, realm: string): RequestHandler {
  return (req, res, next) => {
    if (bearerMatches(req.get('authorization'), token)) return next();
    res.status(401).set('www-authenticate', `Bearer realm="${realm}"`).type('text/plain').send('bearer token missing or wrong');
  };
}

/** Answers 401 unless the request carries HTTP basic credentials with `password`, so a browser asks for them. */
export function requireBasicAuth(password: string, realm: string): RequestHandler {
  return (req, res, next) => {
    if (basicPasswordMatches(req.get('authorization'), password)) return next();
    res.status(401).set('www-authenticate', `Basic realm="${realm}", charset="UTF-8"`).type('text/plain').send('password required');
  };
}

/**
 * The bridge's own API (`/calls`, `/events`): `Authorization: Bearer <API_TOKEN>`, compared in constant
 * time over SHA-256 digests (equal length whatever was sent, so neither the token's content nor its
 * length leaks through timing). Refused with a JSON 401 before the body is read.
 */
export function requireApiToken(token: string): RequestHandler {
  const expected = createHash('sha256').update(token).digest();
  return (req, res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    if (!match || !timingSafeEqual(expected, given)) {
      // The body is never read; closing the connection spares reading it just to keep the socket.
      res.setHeader('Connection', 'close');
      res.status(401).set('www-authenticate', 'Bearer').json({ error: 'unauthorized', reason: 'Authorization: Bearer <API_TOKEN> is missing or wrong' });
      return;
    }
    next();
  };
}
