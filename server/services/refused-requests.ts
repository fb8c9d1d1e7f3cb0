// Refused requests by nobody signed in (wrong password, no token, a bad body from a stranger): counted per
// hour, client address, route and status, never appended row by row, so a stranger cannot grow the
// database. Counts gather in memory and are added to the RefusedRequest table every few seconds and on
// stop; one hour holds at most `maxKeys` distinct (address, route, status) rows, further addresses
// share the address "*". Rows older than the retention are deleted by the sweep.
import type { Db } from '../db/client.ts';
import { dialectOf } from '../db/dialect.ts';

export const REFUSED = {
  flushMs: 5_000,
  /** Distinct (address, route, status) rows one hour may hold. */
  maxKeys: 1000,
  retentionMs: 90 * 24 * 3600_000,
} as const;

const HOUR_MS = 3600_000;

interface Pending {
  hour: Date;
  ip: string;
  action: string;
  status: number;
  count: number;
  lastAt: Date;
}

export class RefusedRequests {
  private pending = new Map<string, Pending>();
  /** Keys of the current hour already stored or pending: what counts toward maxKeys. */
  private keys = new Set<string>();
  private keysHour = 0;
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: { db: Db; now: () => Date; log?: { error(obj: object, msg: string): void } }) {}

  /** Starts the periodic flush. */
  start(): void {
    this.timer = setInterval(() => void this.flush(), REFUSED.flushMs);
    this.timer.unref();
  }

  count(ip: string, action: string, status: number): void {
    const at = this.deps.now();
    const hourMs = Math.floor(at.getTime() / HOUR_MS) * HOUR_MS;
    if (hourMs !== this.keysHour) {
      this.keysHour = hourMs;
      this.keys = new Set();
    }
    let key = `${ip} ${action} ${status}`;
    if (!this.keys.has(key) && this.keys.size >= REFUSED.maxKeys) {
      ip = '*';
      key = `${ip} ${action} ${status}`;
    }
    this.keys.add(key);
    const id = `${hourMs} ${key}`;
    const row = this.pending.get(id);
    if (row) {
      row.count++;
      row.lastAt = at;
    } else this.pending.set(id, { hour: new Date(hourMs), ip, action, status, count: 1, lastAt: at });
  }

  /** Adds what was counted since the last flush to the table. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (!this.pending.size) return;
      const rows = [...this.pending.values()];
      this.pending = new Map();
      // One statement with the rows as one JSON parameter. A batch of upserts was planned and cached by Prisma
      // once per number of rows (1,000 entries, each as large as its batch): strangers choosing how many rows
      // each flush holds grew the heap by 933 MB in 200 flushes.
      const { db } = this.deps;
      const dialect = dialectOf(db);
      try {
        await db.$executeRawUnsafe(
          dialect.sql(`INSERT INTO "RefusedRequest" ("hour", "ip", "action", "status", "count", "lastAt")
           ${dialect.jsonRows(['time', 'text', 'text', 'int', 'int', 'time'])}
           ON CONFLICT ("hour", "ip", "action", "status")
           DO UPDATE SET "count" = "RefusedRequest"."count" + excluded."count", "lastAt" = excluded."lastAt"`),
          JSON.stringify(rows.map((r) => [dialect.time(r.hour), r.ip, r.action, r.status, r.count, dialect.time(r.lastAt)])),
        );
      } catch (err) {
        this.deps.log?.error({ err, rows: rows.length }, 'counting refused requests failed');
      }
    });
    return this.flushing;
  }

  /** Deletes counts past the retention. */
  async sweep(): Promise<number> {
    const before = new Date(this.deps.now().getTime() - REFUSED.retentionMs);
    const { count } = await this.deps.db.refusedRequest.deleteMany({ where: { hour: { lt: before } } });
    return count;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** The counts of a time range, most first. */
  async list(q: { from?: Date; to?: Date; limit: number; offset: number }) {
    const where = q.from || q.to ? { hour: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lt: q.to } : {}) } } : {};
    const [total, items] = await Promise.all([
      this.deps.db.refusedRequest.count({ where }),
      this.deps.db.refusedRequest.findMany({ where, orderBy: [{ count: 'desc' }, { hour: 'asc' }], take: q.limit, skip: q.offset }),
    ]);
    return { total, items };
  }
}
