// The proof ledger on PostgreSQL: its own small pool beside Prisma's, one client per transaction. Several
// server processes write at once here, so a station's hash chain is extended under a transaction-scoped
// advisory lock on (station, day): the tail read and the new link are one step for everyone.
// Timestamps are `timestamp(3)` without zone holding UTC (Prisma's mapping): written as ISO strings, read
// back as UTC.
import pg from 'pg';
import type { AlertKind, BatchRow, ClosedAiring, EndRow, LedgerTx, ProofLedger, ReportRow, Step, TelemetryRow } from './proof-ledger.ts';

const TIMESTAMP_OID = 1114;
const utc = (text: string) => new Date(`${text.replace(' ', 'T')}Z`);
const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === TIMESTAMP_OID ? utc : (pg.types.getTypeParser as (o: number, f?: string) => (v: string) => unknown)(oid, format),
};
const t = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** Connections of the ledger per server process: its transactions run one after another in the ingest lane. */
const POOL = 4;

export class PgProofLedger implements ProofLedger {
  private readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: POOL, types });
  }

  async transaction<T>(fn: (tx: LedgerTx) => Step<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Each step yields its query; its answer (or failure) goes back into the step.
      const steps = fn(new PgLedgerTx(client));
      let r = steps.next();
      while (!r.done) {
        let answer: unknown;
        try {
          answer = await r.value;
        } catch (err) {
          r = steps.throw(err);
          continue;
        }
        r = steps.next(answer);
      }
      await client.query('COMMIT');
      return r.value;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

class PgLedgerTx implements LedgerTx {
  constructor(private readonly c: pg.PoolClient) {}

  /** One query as a step: yields its promise, returns its result. */
  private *q<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[]): Step<pg.QueryResult<R>> {
    return (yield this.c.query<R>(sql, params)) as pg.QueryResult<R>;
  }

  *isStored(id: string): Step<boolean> {
    return (yield* this.q('SELECT 1 FROM "PlaybackReport" WHERE "id" = $1', [id])).rowCount !== 0;
  }

  *chainTail(stationId: string, day: string): Step<{ seq: number; hash: string } | undefined> {
    yield* this.q('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`chain:${stationId}:${day}`]);
    const r = yield* this.q<{ seq: number; hash: string }>(
      'SELECT "chainSeq" AS seq, "chainHash" AS hash FROM "PlaybackReport" WHERE "stationId" = $1 AND "chainDay" = $2 ORDER BY "chainSeq" DESC LIMIT 1',
      [stationId, day],
    );
    return r.rows[0];
  }

  *insertReport(r: ReportRow): Step<void> {
    yield* this.q(
      `INSERT INTO "PlaybackReport" ("id","occurrenceId","stationId","kind","reportedAt","receivedAt","playedMs","rmsDbfs",
        "peakDbfs","sha256","raw","chainDay","chainSeq","chainPrev","chainHash","batchId")
        VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)`,
      [
        r.id,
        r.occurrenceId,
        r.stationId,
        r.kind,
        t(r.reportedAt),
        t(r.receivedAt),
        r.playedMs,
        r.rmsDbfs,
        r.peakDbfs,
        r.sha256,
        r.raw,
        r.chainDay,
        r.chainSeq,
        r.chainPrev,
        r.chainHash,
        r.batchId,
      ],
    );
  }

  *insertBatch(b: BatchRow): Step<void> {
    yield* this.q('INSERT INTO "ReportBatch" ("id","stationId","receivedAt","raw") VALUES ($1,$2,$3,$4) ON CONFLICT ("id") DO NOTHING', [
      b.id,
      b.stationId,
      t(b.receivedAt),
      b.raw,
    ]);
  }

  *markStarted(occurrenceId: string, startedAt: Date): Step<void> {
    // Terminal states are never left; a "started" after the end only fills a missing startedAt.
    yield* this.q(
      `UPDATE "Occurrence" SET "status" = 'playing', "startedAt" = $1 WHERE "id" = $2 AND "status" NOT IN ('aired','partial','failed')`,
      [t(startedAt), occurrenceId],
    );
    yield* this.q('UPDATE "Occurrence" SET "startedAt" = $1 WHERE "id" = $2 AND "startedAt" IS NULL', [t(startedAt), occurrenceId]);
  }

  *markEnded(e: EndRow): Step<void> {
    yield* this.q(
      `UPDATE "Occurrence" SET "status" = $1, "startedAt" = $2, "endedAt" = $3, "playedMs" = $4, "asRun" = $5, "discrepancy" = $6,
        "deviceReason" = $7, "lateMs" = $8, "rmsDbfs" = $9 WHERE "id" = $10`,
      [e.status, t(e.startedAt), t(e.endedAt), e.playedMs, e.asRun, e.discrepancy, e.deviceReason, e.lateMs, e.rmsDbfs, e.id],
    );
  }

  *touchStation(stationId: string, at: Date): Step<void> {
    yield* this.q('UPDATE "Station" SET "lastSeenAt" = $1 WHERE "id" = $2', [t(at), stationId]);
  }

  *storeTelemetry(r: TelemetryRow): Step<void> {
    yield* this.q(
      `UPDATE "Station" SET "lastSeenAt" = $1, "telemetryAt" = $1, "clockOffsetMs" = $2, "diskFreeBytes" = $3, "agentVersion" = $4,
        "uptimeS" = $5, "cacheItems" = $6, "cacheMissing" = $7, "appliedManifest" = $8 WHERE "id" = $9`,
      [t(r.at), r.clockOffsetMs, r.diskFreeBytes, r.agentVersion, r.uptimeS, r.cacheItems, r.cacheMissing, r.appliedManifest, r.stationId],
    );
  }

  *setOnline(stationId: string, online: boolean, at: Date, source: 'state' | 'telemetry'): Step<boolean> {
    // The row lock makes the read and the flip one step against another process's flip. NO KEY UPDATE, not
    // UPDATE: no key changes, so it does not conflict with the key-share locks that inserting a station's
    // airings takes (a FOR UPDATE here deadlocked a schedule's insert against a batch of states).
    const was = (yield* this.q<{ online: boolean }>('SELECT "online" FROM "Station" WHERE "id" = $1 FOR NO KEY UPDATE', [stationId]))
      .rows[0];
    if (!was || was.online === online) return false;
    yield* this.q('UPDATE "Station" SET "online" = $1 WHERE "id" = $2', [online, stationId]);
    yield* this.q('INSERT INTO "StationEvent" ("id","stationId","online","at","source") VALUES ($1,$2,$3,$4,$5)', [
      crypto.randomUUID(),
      stationId,
      online,
      t(at),
      source,
    ]);
    return true;
  }

  *raiseAlert(stationId: string, kind: AlertKind, occurrenceId: string | null, message: string, at: Date, repeat = true): Step<void> {
    yield* this.q('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`alert:${stationId}:${kind}`]);
    const open = (yield* this.q<{ id: string }>(
      `SELECT "id" FROM "Alert" WHERE "stationId" = $1 AND "kind" = $2 AND "status" != 'resolved' LIMIT 1`,
      [stationId, kind],
    )).rows[0];
    if (open) {
      if (repeat)
        yield* this.q('UPDATE "Alert" SET "count" = "count" + 1, "lastAt" = $1, "message" = $2 WHERE "id" = $3', [t(at), message, open.id]);
      return;
    }
    yield* this.q(
      `INSERT INTO "Alert" ("id","stationId","kind","status","occurrenceId","message","count","raisedAt","lastAt") VALUES ($1,$2,$3,'new',$4,$5,1,$6,$6)`,
      [crypto.randomUUID(), stationId, kind, occurrenceId, message, t(at)],
    );
  }

  *resolveAlerts(stationId: string, kind: AlertKind, at: Date, note: string): Step<number> {
    const r = yield* this.q(
      `UPDATE "Alert" SET "status" = 'resolved', "resolvedAt" = $1, "resolvedBy" = 'system', "note" = $2
        WHERE "stationId" = $3 AND "kind" = $4 AND "status" != 'resolved'`,
      [t(at), note, stationId, kind],
    );
    return r.rowCount ?? 0;
  }

  *closedAirings(now: Date, limit: number): Step<ClosedAiring[]> {
    // SKIP LOCKED: another process sweeping at the same moment takes other rows, never the same ones.
    const r = yield* this.q<{
      id: string;
      stationId: string;
      stationCode: string;
      online: boolean;
      startsAt: Date;
      startedAt: Date | null;
    }>(
      `SELECT o."id" AS "id", o."stationId" AS "stationId", s."code" AS "stationCode", s."online" AS "online", o."startsAt" AS "startsAt",
        o."startedAt" AS "startedAt" FROM "Occurrence" o JOIN "Station" s ON s."id" = o."stationId"
        WHERE (o."asRun" IS NULL OR o."asRun" = 'playing') AND o."closesAt" <= $1 ORDER BY o."closesAt" LIMIT $2 FOR UPDATE OF o SKIP LOCKED`,
      [t(now), limit],
    );
    return r.rows.map((row) => ({ ...row, startsAt: row.startsAt.toISOString(), startedAt: t(row.startedAt) }));
  }

  *closeAiring(id: string, asRun: 'missed' | 'partial', lateMs: number | null): Step<void> {
    yield* this.q(
      `UPDATE "Occurrence" SET "asRun" = $1, "discrepancy" = 'offline', "lateMs" = $2 WHERE "id" = $3 AND ("asRun" IS NULL OR "asRun" = 'playing')`,
      [asRun, lateMs, id],
    );
  }

  *dueAtOfflineStations(now: Date): Step<{ id: string; stationId: string; stationCode: string; startsAt: string }[]> {
    const r = yield* this.q<{ id: string; stationId: string; stationCode: string; startsAt: Date }>(
      `SELECT o."id" AS "id", o."stationId" AS "stationId", s."code" AS "stationCode", o."startsAt" AS "startsAt"
        FROM "Occurrence" o JOIN "Station" s ON s."id" = o."stationId"
        WHERE o."asRun" IS NULL AND o."startedAt" IS NULL AND o."startsAt" <= $1 AND o."closesAt" > $1 AND s."online" = false`,
      [t(now)],
    );
    return r.rows.map((row) => ({ ...row, startsAt: row.startsAt.toISOString() }));
  }
}
