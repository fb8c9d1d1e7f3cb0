// Airings written in bulk: a multi-row INSERT per 400 rows, in the SQL both databases accept. Prisma's
// createMany spent about 0.5 ms a row building its statement (280 ms for one schedule over Hanoi's 579
// stations, seconds for the country's 10,542) where the database needs a few; a schedule's airings are
// the hot write of every push.
import { randomUUID } from 'node:crypto';
import type { Dialect } from './dialect.ts';

export interface OccurrenceRow {
  /** Absent: a new UUID. A group plan entry's airing is `{groupKey}@{station code}` ([P-3.10]). */
  id?: string;
  groupKey?: string;
  groupUnitId?: string;
  scheduleId: string;
  stationId: string;
  unitId: string | null;
  zones: string;
  mediaId: string;
  startsAt: Date;
  day: number | null;
  closesAt: Date | null;
  position: number | null;
  priority: string;
  /** Absent: scheduled. A paused schedule's airings are written held. */
  status?: string;
  asRun?: string;
  discrepancy?: string;
}

const COLUMNS = ['id', 'scheduleId', 'stationId', 'unitId', 'zones', 'mediaId', 'startsAt', 'day', 'closesAt']
  .concat(['position', 'priority', 'status', 'asRun', 'discrepancy', 'groupKey', 'groupUnitId', 'createdAt'])
  .map((c) => `"${c}"`)
  .join(', ');
/** 17 parameters a row: 6,800 a statement, under SQLite's 32,766 and PostgreSQL's 65,535. */
const ROWS = 400;

export async function insertOccurrences(
  db: { $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number> },
  dialect: Dialect,
  rows: OccurrenceRow[],
  now: Date,
): Promise<void> {
  const createdAt = dialect.time(now);
  for (let i = 0; i < rows.length; i += ROWS) {
    const part = rows.slice(i, i + ROWS);
    const values = part
      .map(
        () =>
          `(${COLUMNS.split(', ')
            .map(() => '?')
            .join(', ')})`,
      )
      .join(', ');
    const params = part.flatMap((r) => [
      r.id ?? randomUUID(),
      r.scheduleId,
      r.stationId,
      r.unitId,
      r.zones,
      r.mediaId,
      dialect.time(r.startsAt),
      r.day,
      r.closesAt ? dialect.time(r.closesAt) : null,
      r.position,
      r.priority,
      r.status ?? 'scheduled',
      r.asRun ?? null,
      r.discrepancy ?? null,
      r.groupKey ?? null,
      r.groupUnitId ?? null,
      createdAt,
    ]);
    await db.$executeRawUnsafe(dialect.sql(`INSERT INTO "Occurrence" (${COLUMNS}) VALUES ${values}`), ...params);
  }
}
