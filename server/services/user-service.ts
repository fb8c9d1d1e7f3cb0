// Accounts: users, their two-factor sign-in (TOTP, its secret sealed at rest) and the API tokens of
// integration users. Who may do this to whom (roles, unit scopes) is checked by the HTTP layer first.
import { hashPassword } from '../auth/passwords.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import { acceptTotp, newTotpSecret, TOTP_OFF, totpPurpose } from '../auth/totp.ts';
import type { Db } from '../db/client.ts';
import { badRequest, conflict, notFound } from './errors.ts';

/** Who acts: a signed-in user or an integration's token, with the unit whose subtree they act within. */
export interface AuthUser {
  id: string;
  username: string;
  role: string;
  /** The unit whose subtree the user may act on; null = the whole tree. */
  unitId: string | null;
}

const WITH_USERNAME = { user: { select: { username: true } } } as const;

export class UserService {
  constructor(private readonly deps: { db: Db; now: () => Date; secrets: SecretBox }) {}

  /** A user by name; UNKNOWN_USER when there is none. */
  async get(username: string) {
    const user = await this.deps.db.user.findUnique({ where: { username } });
    if (!user) throw notFound('UNKNOWN_USER', `unknown user ${username}`);
    return user;
  }

  /** The unit a user acts within, as the console shows it. */
  unitOf(unitId: string | null) {
    return unitId ? this.deps.db.unit.findUnique({ where: { id: unitId }, select: { code: true, name: true, type: true } }) : null;
  }

  /** Creates an account acting within `unitId` (null: the whole tree); USERNAME_TAKEN when the name is in use. */
  async create(input: { username: string; password: string; role: string; unitId: string | null }) {
    const { db } = this.deps;
    if (await db.user.findUnique({ where: { username: input.username } }))
      throw conflict('USERNAME_TAKEN', `user ${input.username} exists`);
    const user = await db.user.create({
      data: { username: input.username, role: input.role, unitId: input.unitId, passwordHash: await hashPassword(input.password) },
    });
    return { id: user.id, username: user.username, role: user.role, unit: (await this.unitOf(user.unitId))?.code ?? null };
  }

  /** A new TOTP secret for the user, on only once confirmed; TOTP_ENABLED when it is on already. */
  async setupTotp(user: { id: string; username: string }): Promise<{ secret: string; uri: string }> {
    const { secret, uri } = newTotpSecret(user.username);
    const { count } = await this.deps.db.user.updateMany({
      where: { id: user.id, totpEnabledAt: null },
      data: { totpSecret: this.deps.secrets.seal(secret, totpPurpose(user.id)), totpLastStep: null },
    });
    if (!count) throw conflict('TOTP_ENABLED', 'two-factor sign-in is already on; turn it off first');
    return { secret, uri };
  }

  /** Turns two-factor sign-in on with a code that proves the secret was stored. */
  async enableTotp(userId: string, code: string): Promise<void> {
    const { user, step } = await this.checkCode(userId, code);
    if (user.totpEnabledAt) throw conflict('TOTP_ENABLED', 'two-factor sign-in is already on');
    await this.deps.db.user.update({ where: { id: user.id }, data: { totpEnabledAt: this.deps.now(), totpLastStep: step } });
  }

  /** Turns two-factor sign-in off with a current code. */
  async disableTotp(userId: string, code: string): Promise<void> {
    const { user } = await this.checkCode(userId, code);
    if (!user.totpEnabledAt) throw conflict('TOTP_NOT_ENABLED', 'two-factor sign-in is off');
    await this.resetTotp(user.id);
  }

  /** Turns two-factor sign-in off without a code (an administrator, for a lost phone). */
  async resetTotp(userId: string): Promise<void> {
    await this.deps.db.user.update({ where: { id: userId }, data: TOTP_OFF });
  }

  private async checkCode(userId: string, given: string) {
    const u = await this.deps.db.user.findUniqueOrThrow({ where: { id: userId } });
    if (!u.totpSecret) throw conflict('TOTP_NOT_SET_UP', 'start with POST /auth/totp/setup');
    const step = acceptTotp(this.deps.secrets.open(u.totpSecret, totpPurpose(u.id)), given, this.deps.now(), u.totpLastStep);
    if (step === null) throw badRequest('BAD_TOTP', 'wrong, expired or already used one-time code');
    return { user: u, step };
  }

  /** Stores an API token (its hash) for an integration user. */
  async issueToken(input: { userId: string; createdById: string; name: string; tokenHash: string; expiresInDays?: number }) {
    const days = input.expiresInDays;
    return this.deps.db.apiToken.create({
      data: {
        name: input.name,
        tokenHash: input.tokenHash,
        userId: input.userId,
        createdById: input.createdById,
        expiresAt: days ? new Date(this.deps.now().getTime() + days * 86_400_000) : null,
      },
      include: WITH_USERNAME,
    });
  }

  /** API tokens of the users matching `users` (a unit filter), oldest first. */
  tokens(users: object) {
    return this.deps.db.apiToken.findMany({ where: { user: users }, include: WITH_USERNAME, orderBy: { createdAt: 'asc' } });
  }

  /** A live token with its user; UNKNOWN_TOKEN when unknown or revoked. */
  async liveToken(id: string) {
    const t = await this.deps.db.apiToken.findUnique({ where: { id }, include: { user: true } });
    if (!t || t.revokedAt) throw notFound('UNKNOWN_TOKEN', `unknown or revoked token ${id}`);
    return t;
  }

  /** Revokes a token from now on; returns when. */
  async revokeToken(id: string): Promise<Date | null> {
    return (await this.deps.db.apiToken.update({ where: { id }, data: { revokedAt: this.deps.now() } })).revokedAt;
  }
}
