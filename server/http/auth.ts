// Who is calling: bearer-token sessions (password, then a TOTP code when the user has turned it on;
// failures throttle their source, auth/throttle.ts) and long-lived API tokens for integrations. Each user acts within a
// unit subtree (http/scope.ts).

import { createHmac } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashPassword, newToken, sha256, verifyPassword } from '../auth/passwords.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import type { LoginThrottle } from '../auth/throttle.ts';
import { acceptTotp, totpPurpose } from '../auth/totp.ts';
import type { Db } from '../db/client.ts';
import { DomainError } from '../services/errors.ts';
import type { AuthUser } from '../services/user-service.ts';

export const SESSION_TTL_MS = 12 * 3600_000;

export type { AuthUser };

declare module 'fastify' {
  interface FastifyRequest {
    user?: AuthUser;
  }
}

const unauthorized = () => new DomainError('unauthenticated', 'UNAUTHORIZED', 'a valid bearer token is required');

// Verifying against a fixed hash when the user is unknown keeps response time from telling which usernames exist.
let dummyHash: Promise<string> | undefined;

/** Prefix of API tokens, so a token's kind is known before any lookup. */
export const API_TOKEN_PREFIX = 'lpt_';

/** What a login needs: the database, the clock, the per-source throttle and the key TOTP secrets are sealed with. */
export interface LoginDeps {
  db: Db;
  now: () => Date;
  throttle: LoginThrottle;
  secrets: SecretBox;
}

export async function login(deps: LoginDeps, address: string, username: string, password: string, totp?: string) {
  const { db, throttle, secrets } = deps;
  const now = deps.now();
  // A source that failed too often waits before its password is even checked; other sources do not.
  await throttle.check(username, address);
  const user = await db.user.findUnique({ where: { username } });
  dummyHash ??= hashPassword('not-a-password');
  const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash));
  if (!user || !ok) {
    await throttle.failed(username, address);
    throw new DomainError('unauthenticated', 'BAD_CREDENTIALS', 'wrong username or password');
  }
  if (user.totpEnabledAt && user.totpSecret) {
    if (!totp)
      throw new DomainError('unauthenticated', 'TOTP_REQUIRED', 'this account needs the 6-digit code from its authenticator app (totp)');
    const step = acceptTotp(secrets.open(user.totpSecret, totpPurpose(user.id)), totp, now, user.totpLastStep);
    // The step is recorded only if no other login recorded one meanwhile: a code works once.
    const claimed =
      step === null
        ? 0
        : (await db.user.updateMany({ where: { id: user.id, totpLastStep: user.totpLastStep }, data: { totpLastStep: step } })).count;
    if (!claimed) {
      await throttle.failed(username, address);
      throw new DomainError('unauthenticated', 'BAD_TOTP', 'wrong, expired or already used one-time code');
    }
  }
  await throttle.succeeded(username, address);
  const { token, hash } = newToken();
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await db.session.create({ data: { tokenHash: hash, userId: user.id, expiresAt } });
  return { token, expiresAt, user: { id: user.id, username: user.username, role: user.role, unitId: user.unitId } };
}

/** Ends the session the token belongs to; the token is refused from then on. */
export async function logout({ db, now }: { db: Db; now: () => Date }, token: string): Promise<void> {
  await db.session.updateMany({ where: { tokenHash: sha256(token), revokedAt: null }, data: { revokedAt: now() } });
}

/** The bearer token of a request, if it carries one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() || undefined : undefined;
}

/** The browser console's session cookie (HttpOnly) and the CSRF cookie its scripts read and echo. */
export const SESSION_COOKIE = 'lp_session';
export const CSRF_COOKIE = 'lp_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** The CSRF token of a session: derived from the session token, so nothing more is stored. */
export const csrfFor = (sessionToken: string) => createHmac('sha256', sessionToken).update('loaphuong csrf').digest('base64url');

/** The session token a request authenticates with: its bearer token, else the console's cookie (and how). */
export function sessionToken(request: FastifyRequest): { token: string; via: 'bearer' | 'cookie' } | undefined {
  const bearer = bearerToken(request);
  if (bearer) return { token: bearer, via: 'bearer' };
  const cookie = request.cookies?.[SESSION_COOKIE];
  return cookie ? { token: cookie, via: 'cookie' } : undefined;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Last-use times of API tokens are written at most this often (not on every request). */
const TOKEN_USE_RESOLUTION_MS = 60_000;

/** The onRequest hook of every signed-in route; `authenticated` hears of each request that passed. */
export function requireUser(db: Db, now: () => Date, authenticated: (request: FastifyRequest) => void = () => {}) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const found = sessionToken(request);
    if (!found) throw unauthorized();
    const { token } = found;
    // A change made with the cookie must echo the session's CSRF token: another site can send the cookie, not read it.
    if (found.via === 'cookie' && !SAFE.has(request.method) && request.headers[CSRF_HEADER] !== csrfFor(token))
      throw new DomainError('forbidden', 'CSRF', `a change from the console needs the ${CSRF_HEADER} header of its session`);
    const at = now();
    if (token.startsWith(API_TOKEN_PREFIX)) {
      const api = await db.apiToken.findUnique({ where: { tokenHash: sha256(token) }, include: { user: true } });
      if (!api || api.revokedAt || (api.expiresAt && api.expiresAt <= at)) throw unauthorized();
      if (!api.lastUsedAt || at.getTime() - api.lastUsedAt.getTime() >= TOKEN_USE_RESOLUTION_MS)
        await db.apiToken.update({ where: { id: api.id }, data: { lastUsedAt: at } });
      request.user = { id: api.user.id, username: api.user.username, role: api.user.role, unitId: api.user.unitId };
      authenticated(request);
      return;
    }
    const session = await db.session.findUnique({ where: { tokenHash: sha256(token) }, include: { user: true } });
    if (!session || session.revokedAt || session.expiresAt.getTime() <= at.getTime()) throw unauthorized();
    request.user = { id: session.user.id, username: session.user.username, role: session.user.role, unitId: session.user.unitId };
    authenticated(request);
  };
}

/** A new API token for an integration user: the token (shown once) and what is stored (its hash). */
export function newApiToken(): { token: string; hash: string } {
  const { token } = newToken();
  const full = `${API_TOKEN_PREFIX}${token}`;
  return { token: full, hash: sha256(full) };
}
