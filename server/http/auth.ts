// Bearer-token sessions. Scoped roles, lockout and TOTP come with the security work (issue #8).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashPassword, newToken, sha256, verifyPassword } from '../auth/passwords.ts';
import type { Db } from '../db/client.ts';
import { AppError } from './errors.ts';

export const SESSION_TTL_MS = 12 * 3600_000;

export interface AuthUser {
  id: string;
  username: string;
  role: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: AuthUser;
  }
}

const unauthorized = () => new AppError(401, 'UNAUTHORIZED', 'a valid bearer token is required');

// Verifying against a fixed hash when the user is unknown keeps response time from telling which usernames exist.
let dummyHash: Promise<string> | undefined;

export async function login(db: Db, now: Date, username: string, password: string) {
  const user = await db.user.findUnique({ where: { username } });
  dummyHash ??= hashPassword('not-a-password');
  const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash));
  if (!user || !ok) throw new AppError(401, 'BAD_CREDENTIALS', 'wrong username or password');
  const { token, hash } = newToken();
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await db.session.create({ data: { tokenHash: hash, userId: user.id, expiresAt } });
  return { token, expiresAt, user: { id: user.id, username: user.username, role: user.role } };
}

export function requireUser(db: Db, now: () => Date) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token) throw unauthorized();
    const session = await db.session.findUnique({ where: { tokenHash: sha256(token) }, include: { user: true } });
    if (!session || session.revokedAt || session.expiresAt.getTime() <= now().getTime()) throw unauthorized();
    request.user = { id: session.user.id, username: session.user.username, role: session.user.role };
  };
}

/** After requireUser: refuses users whose role is not listed (scoping to a unit subtree comes with issue #8). */
export function requireRole(...roles: string[]) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    if (!request.user || !roles.includes(request.user.role))
      throw new AppError(403, 'FORBIDDEN', `this action needs one of the roles: ${roles.join(', ')}`);
  };
}
