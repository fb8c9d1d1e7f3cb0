// RFC 6238 time-based one-time passwords (otpauth): 6 digits, 30-second steps, SHA-1 — what every
// authenticator app speaks. The clock is the caller's (injected), and a code is accepted at most once.
import { Secret, TOTP } from 'otpauth';
import type { Db } from '../db/client.ts';
import { SecretBox } from './secret-box.ts';

const PERIOD_S = 30;
const totp = (secret: string, label = '') =>
  new TOTP({ issuer: 'loaphuong', label, algorithm: 'SHA1', digits: 6, period: PERIOD_S, secret: Secret.fromBase32(secret) });

/** The user columns that turn two-factor sign-in off (disabled by the user, or reset by an administrator). */
export const TOTP_OFF = { totpEnabledAt: null, totpSecret: null, totpLastStep: null } as const;

/** A new random secret (160 bits, base32) and the otpauth:// URI an authenticator app scans. */
export function newTotpSecret(username: string): { secret: string; uri: string } {
  const secret = new Secret({ size: 20 }).base32;
  return { secret, uri: totp(secret, username).toString() };
}

/** The code for an instant (tests and the console's own check use it). */
export const totpCode = (secret: string, at: Date) => totp(secret).generate({ timestamp: at.getTime() });

/**
 * The time step a code is valid for at `at` (±1 step of clock drift), or null. Steps at or before
 * `lastStep` are refused, so an observed code cannot be replayed.
 */
export function acceptTotp(secret: string, code: string, at: Date, lastStep: number | null): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const delta = totp(secret).validate({ token: code, timestamp: at.getTime(), window: 1 });
  if (delta === null) return null;
  const step = Math.floor(at.getTime() / 1000 / PERIOD_S) + delta;
  return lastStep !== null && step <= lastStep ? null : step;
}

/** The purpose a user's TOTP secret is sealed for: a sealed secret copied to another user does not open. */
export const totpPurpose = (userId: string) => `totp:${userId}`;

/** Seals TOTP secrets stored in clear (a database from before secrets were sealed); returns how many. */
export async function sealStoredTotpSecrets(db: Db, box: SecretBox): Promise<number> {
  const users = await db.user.findMany({ where: { totpSecret: { not: null } }, select: { id: true, totpSecret: true } });
  let sealed = 0;
  for (const u of users) {
    if (!u.totpSecret || SecretBox.isSealed(u.totpSecret)) continue;
    await db.user.update({ where: { id: u.id }, data: { totpSecret: box.seal(u.totpSecret, totpPurpose(u.id)) } });
    sealed++;
  }
  return sealed;
}
