// Login throttling by source, never by account alone: a stranger guessing an administrator's password
// slows and then blocks their own address, while the owner signing in from anywhere else is not held up.
// Two counters, kept in the database (they survive a restart and are shared by every server process):
//   - "acct:<username>|<address>": after a few free failures each next try from that address on that
//     account waits twice as long as the last (1 s, 2 s, 4 s … up to 15 minutes);
//   - "ip:<address>": failures from one address on any accounts; past a limit the address is blocked.
// A failure counts after its window has passed without another only as a fresh start.
import type { Db } from '../db/client.ts';
import { DomainError } from '../services/errors.ts';

export const THROTTLE = {
  /** Failures on one account from one address before the waits start. */
  freeFailures: 3,
  firstDelayMs: 1000,
  maxDelayMs: 15 * 60_000,
  /** Failures from one address (any accounts) within sourceWindowMs that block it for sourceBlockMs. */
  sourceFailures: 20,
  sourceWindowMs: 15 * 60_000,
  sourceBlockMs: 15 * 60_000,
  /** Counters untouched this long are forgotten. */
  forgetAfterMs: 24 * 3600_000,
} as const;

const accountKey = (username: string, address: string) => `acct:${username.toLowerCase()}|${address}`;
const sourceKey = (address: string) => `ip:${address}`;

/** How long the next try must wait after `failures` in a row. */
export function delayAfter(failures: number): number {
  if (failures < THROTTLE.freeFailures) return 0;
  return Math.min(THROTTLE.maxDelayMs, THROTTLE.firstDelayMs * 2 ** (failures - THROTTLE.freeFailures));
}

const retryIn = (ms: number) => `${Math.ceil(ms / 1000)} s`;

export class LoginThrottle {
  constructor(private readonly deps: { db: Db; now: () => Date }) {}

  /** Refuses (429, before any password is checked) a try that must wait; says how long in `details.retryAfterS`. */
  async check(username: string, address: string): Promise<void> {
    const at = this.deps.now().getTime();
    const rows = await this.deps.db.loginThrottle.findMany({ where: { key: { in: [sourceKey(address), accountKey(username, address)] } } });
    for (const row of rows) {
      if (row.key.startsWith('ip:')) {
        const until = row.blockedUntil?.getTime() ?? 0;
        if (until > at)
          throw new DomainError(
            'rate-limited',
            'SOURCE_BLOCKED',
            `too many failed logins from this address; try again in ${retryIn(until - at)}`,
            {
              retryAfterS: Math.ceil((until - at) / 1000),
            },
          );
      } else {
        const wait = row.lastFailureAt.getTime() + delayAfter(row.failures) - at;
        if (wait > 0)
          throw new DomainError(
            'rate-limited',
            'LOGIN_THROTTLED',
            `too many failed logins for this account from this address; try again in ${retryIn(wait)}`,
            {
              retryAfterS: Math.ceil(wait / 1000),
            },
          );
      }
    }
  }

  /** A wrong password or code from this address for this account. */
  async failed(username: string, address: string): Promise<void> {
    const now = this.deps.now();
    const { db } = this.deps;
    await db.loginThrottle.upsert({
      where: { key: accountKey(username, address) },
      create: { key: accountKey(username, address), failures: 1, lastFailureAt: now },
      update: { failures: { increment: 1 }, lastFailureAt: now },
    });
    const source = await db.loginThrottle.findUnique({ where: { key: sourceKey(address) } });
    const fresh = !source || now.getTime() - source.lastFailureAt.getTime() > THROTTLE.sourceWindowMs;
    const failures = fresh ? 1 : source.failures + 1;
    const blockedUntil =
      failures >= THROTTLE.sourceFailures ? new Date(now.getTime() + THROTTLE.sourceBlockMs) : (source?.blockedUntil ?? null);
    await db.loginThrottle.upsert({
      where: { key: sourceKey(address) },
      create: { key: sourceKey(address), failures, lastFailureAt: now, blockedUntil },
      update: { failures: fresh ? 1 : { increment: 1 }, lastFailureAt: now, blockedUntil },
    });
  }

  /** A good login clears that account's counter for that address (the address's own counter decays with time). */
  async succeeded(username: string, address: string): Promise<void> {
    await this.deps.db.loginThrottle.deleteMany({ where: { key: accountKey(username, address) } });
  }

  /** Forgets counters nobody has touched for a day (the table stays as small as the recent attackers). */
  async sweep(): Promise<number> {
    const before = new Date(this.deps.now().getTime() - THROTTLE.forgetAfterMs);
    const { count } = await this.deps.db.loginThrottle.deleteMany({ where: { lastFailureAt: { lt: before } } });
    return count;
  }
}
