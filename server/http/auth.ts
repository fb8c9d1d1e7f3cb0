// Bearer-token sessions with lockout; each user acts within a unit subtree (http/scope.ts). TOTP and API tokens: issue #8.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashPassword, newToken, sha256, verifyPassword } from '../auth/passwords.ts';
import type { Db } from '../db/client.ts';
import { AppError } from './errors.ts';

export const SESSION_TTL_MS = 12 * 3600_000;

export interface AuthUser {
  id: string;
  username: string;
  role: string;
  /** The unit whose subtree the user may act on; null = the whole tree. */
  unitId: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: AuthUser;
  }
}

const unauthorized = () => new AppError(401, 'UNAUTHORIZED', 'a valid bearer token is required');

// Verifying against a fixed hash when the user is unknown keeps response time from telling which usernames exist.
let dummyHash: Promise<string> | undefined;

/** Failed logins in a row that lock an account, and for how long: guessing stays at ~20 tries an hour. */
export const LOCKOUT = { failures: 5, forMs: 15 * 60_000 };

export async function login(db: Db, now: Date, username: string, password: string) {
  const user = await db.user.findUnique({ where: { username } });
  if (user?.lockedUntil && user.lockedUntil > now)
    throw new AppError(429, 'ACCOUNT_LOCKED', `too many failed logins; try again after ${user.lockedUntil.toISOString()}`);
  dummyHash ??= hashPassword('not-a-password');
  const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash));
  if (user && !ok) {
    // Counted in the database (atomically), so concurrent guesses all count.
    const { failedLogins } = await db.user.update({ where: { id: user.id }, data: { failedLogins: { increment: 1 } } });
    if (failedLogins >= LOCKOUT.failures)
      await db.user.update({ where: { id: user.id }, data: { failedLogins: 0, lockedUntil: new Date(now.getTime() + LOCKOUT.forMs) } });
  }
  if (!user || !ok) throw new AppError(401, 'BAD_CREDENTIALS', 'wrong username or password');
  if (user.failedLogins || user.lockedUntil) await db.user.update({ where: { id: user.id }, data: { failedLogins: 0, lockedUntil: null } });
  const { token, hash } = newToken();
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await db.session.create({ data: { tokenHash: hash, userId: user.id, expiresAt } });
  return { token, expiresAt, user: { id: user.id, username: user.username, role: user.role } };
}

/** Ends the session the token belongs to; the token is refused from then on. */
export async function logout(db: Db, now: Date, token: string): Promise<void> {
  await db.session.updateMany({ where: { tokenHash: sha256(token), revokedAt: null }, data: { revokedAt: now } });
}

/** The bearer token of a request, if it carries one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() || undefined : undefined;
}

export function requireUser(db: Db, now: () => Date) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const token = bearerToken(request);
    if (!token) throw unauthorized();
    const session = await db.session.findUnique({ where: { tokenHash: sha256(token) }, include: { user: true } });
    if (!session || session.revokedAt || session.expiresAt.getTime() <= now().getTime()) throw unauthorized();
    request.user = { id: session.user.id, username: session.user.username, role: session.user.role, unitId: session.user.unitId };
  };
}

/** After requireUser: refuses users whose role is not listed (scoping to a unit subtree comes with issue #8). */
export function requireRole(...roles: string[]) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    if (!request.user || !roles.includes(request.user.role))
      throw new AppError(403, 'FORBIDDEN', `this action needs one of the roles: ${roles.join(', ')}`);
  };
}
