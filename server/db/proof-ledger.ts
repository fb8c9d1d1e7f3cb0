// The compliance hot path's own connection: prepared statements run inside one transaction per batch of
// proofs. Prisma through the driver adapter costs ~10× raw better-sqlite3 per statement (DESIGN §3), and
// proofs arrive by the thousand when gateways flush their outboxes. SQL only; what to write is decided by
// the services (proof-writer.ts, the sweep in report-service.ts). This file: the ledger's interface and its
// SQLite form; proof-ledger-pg.ts is the PostgreSQL one.
import Database from 'better-sqlite3';
import type { DbTarget } from './client.ts';
import { PgProofLedger } from './proof-ledger-pg.ts';

/** The text form Prisma's SQLite adapter stores DateTime in, so raw writes compare and read back alike. */
export const sqlTime = (d: Date): string => d.toISOString().replace('Z', '+00:00');

export interface ReportRow {
  id: string;
  occurrenceId: string;
  stationId: string;
  kind: string;
  reportedAt: Date;
  receivedAt: Date;
  playedMs: number | null;
  rmsDbfs: number | null;
  peakDbfs: number | null;
  sha256: string;
  raw: string;
  chainDay: string;
  chainSeq: number;
  chainPrev: string;
  chainHash: string;
  /** The [P-3.9] batch that carried it (`raw` is then its item), or null. */
  batchId: string | null;
}

export interface BatchRow {
  id: string;
  stationId: string;
  receivedAt: Date;
  raw: string;
}

export interface EndRow {
  id: string;
  status: string;
  startedAt: Date;
  endedAt: Date;
  playedMs: number | null;
  asRun: string;
  discrepancy: string | null;
  deviceReason: string | null;
  lateMs: number | null;
  rmsDbfs: number | null;
}

export interface TelemetryRow {
  stationId: string;
  at: Date;
  clockOffsetMs: number | null;
  diskFreeBytes: number;
  agentVersion: string;
  uptimeS: number;
  cacheItems: number;
  cacheMissing: number | null;
  appliedManifest: number | null;
}

export interface ClosedAiring {
  id: string;
  stationId: string;
  stationCode: string;
  online: boolean;
  startsAt: string;
  startedAt: string | null;
}

export type AlertKind = 'offline' | 'missed' | 'silent' | 'refused_proofs' | 'device_fault';

/**
 * One step of a ledger transaction, used with `yield*`: on SQLite it runs at once and never yields, so a whole
 * transaction runs synchronously (an open SQLite write transaction must never span an event-loop turn: Prisma's
 * own connection, on the same thread, would wait for the lock synchronously and block the loop); on PostgreSQL
 * it yields its query's promise, and the driver awaits it.
 */
export type Step<T> = Generator<Promise<unknown>, T, unknown>;

/** What a transaction of the ledger can do; every write of a batch goes through one. */
export interface LedgerTx {
  isStored(id: string): Step<boolean>;
  /**
   * The last link of a station's hash chain for a day. Taken under a lock that holds until the transaction
   * ends, so two processes never extend one chain at once.
   */
  chainTail(stationId: string, day: string): Step<{ seq: number; hash: string } | undefined>;
  insertReport(r: ReportRow): Step<void>;
  /** Stores a [P-3.9] batch as received, once (a batch seen again is left as it is). */
  insertBatch(b: BatchRow): Step<void>;
  markStarted(occurrenceId: string, startedAt: Date): Step<void>;
  markEnded(e: EndRow): Step<void>;
  touchStation(stationId: string, at: Date): Step<void>;
  storeTelemetry(r: TelemetryRow): Step<void>;
  /** Records a change of availability; returns whether it was one. */
  setOnline(stationId: string, online: boolean, at: Date, source: 'state' | 'telemetry'): Step<boolean>;
  /**
   * One open alert per station and kind: a repeat counts on the open one (`repeat: false` leaves an
   * open one as it is, for a condition that is still the same, such as a station still offline).
   */
  raiseAlert(stationId: string, kind: AlertKind, occurrenceId: string | null, message: string, at: Date, repeat?: boolean): Step<void>;
  resolveAlerts(stationId: string, kind: AlertKind, at: Date, note: string): Step<number>;
  /** Airings without a verdict whose proof window closed by `now`, oldest first. */
  closedAirings(now: Date, limit: number): Step<ClosedAiring[]>;
  closeAiring(id: string, asRun: 'missed' | 'partial', lateMs: number | null): Step<void>;
  /** Airings due by `now`, not started, window still open, at stations marked offline. */
  dueAtOfflineStations(now: Date): Step<{ id: string; stationId: string; stationCode: string; startsAt: string }[]>;
}

export interface ProofLedger {
  /** Runs `fn` in one transaction: all of it is stored, or none. */
  transaction<T>(fn: (tx: LedgerTx) => Step<T>): Promise<T>;
  close(): Promise<void>;
}

/** The ledger of a database: its own connection (SQLite) or pool (PostgreSQL) beside Prisma's. */
export function openProofLedger(target: DbTarget): ProofLedger {
  return target.dialect === 'postgres' ? new PgProofLedger(target.url) : new SqliteProofLedger(target.file);
}

const uuid = () => crypto.randomUUID();
const t = (d: Date | null | undefined) => (d ? sqlTime(d) : null);

// biome-ignore-start lint/correctness/useYield: a SQLite step runs synchronously and never yields (see Step)
class SqliteProofLedger implements ProofLedger, LedgerTx {
  private readonly db: Database.Database;
  private readonly s;

  constructor(file: string) {
    // Waits for Prisma's connection to finish a write instead of failing with SQLITE_BUSY.
    this.db = new Database(file, { timeout: 15_000 });
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before it returns, so a storage receipt sent after it survives a power cut
    // too (NORMAL in WAL mode survives a crashed process, not a lost machine). One fsync per batch.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    const p = (sql: string) => this.db.prepare(sql);
    this.s = {
      stored: p('SELECT 1 FROM "PlaybackReport" WHERE "id" = ?').pluck(),
      tail: p(
        'SELECT "chainSeq" AS seq, "chainHash" AS hash FROM "PlaybackReport" WHERE "stationId" = ? AND "chainDay" = ? ORDER BY "chainSeq" DESC LIMIT 1',
      ),
      insertReport: p(`INSERT INTO "PlaybackReport" ("id","occurrenceId","stationId","kind","reportedAt","receivedAt","playedMs","rmsDbfs",
        "peakDbfs","sha256","raw","chainDay","chainSeq","chainPrev","chainHash","batchId") VALUES
        (@id,@occurrenceId,@stationId,@kind,@reportedAt,@receivedAt,@playedMs,@rmsDbfs,@peakDbfs,@sha256,@raw,@chainDay,@chainSeq,@chainPrev,@chainHash,@batchId)`),
      insertBatch: p('INSERT INTO "ReportBatch" ("id","stationId","receivedAt","raw") VALUES (?,?,?,?) ON CONFLICT ("id") DO NOTHING'),
      // Terminal states are never left; a "started" after the end only fills a missing startedAt.
      started: p(
        `UPDATE "Occurrence" SET "status" = 'playing', "startedAt" = ? WHERE "id" = ? AND "status" NOT IN ('aired','partial','failed')`,
      ),
      startedAt: p('UPDATE "Occurrence" SET "startedAt" = ? WHERE "id" = ? AND "startedAt" IS NULL'),
      ended: p(`UPDATE "Occurrence" SET "status" = @status, "startedAt" = @startedAt, "endedAt" = @endedAt, "playedMs" = @playedMs,
        "asRun" = @asRun, "discrepancy" = @discrepancy, "deviceReason" = @deviceReason, "lateMs" = @lateMs, "rmsDbfs" = @rmsDbfs WHERE "id" = @id`),
      seen: p('UPDATE "Station" SET "lastSeenAt" = ? WHERE "id" = ?'),
      telemetry:
        p(`UPDATE "Station" SET "lastSeenAt" = @at, "telemetryAt" = @at, "clockOffsetMs" = @clockOffsetMs, "diskFreeBytes" = @diskFreeBytes,
        "agentVersion" = @agentVersion, "uptimeS" = @uptimeS, "cacheItems" = @cacheItems, "cacheMissing" = @cacheMissing,
        "appliedManifest" = @appliedManifest WHERE "id" = @stationId`),
      online: p('SELECT "online" FROM "Station" WHERE "id" = ?').pluck(),
      setOnline: p('UPDATE "Station" SET "online" = ? WHERE "id" = ?'),
      event: p('INSERT INTO "StationEvent" ("id","stationId","online","at","source") VALUES (?,?,?,?,?)'),
      openAlert: p(`SELECT "id" FROM "Alert" WHERE "stationId" = ? AND "kind" = ? AND "status" != 'resolved' LIMIT 1`).pluck(),
      bumpAlert: p('UPDATE "Alert" SET "count" = "count" + 1, "lastAt" = ?, "message" = ? WHERE "id" = ?'),
      insertAlert: p(`INSERT INTO "Alert" ("id","stationId","kind","status","occurrenceId","message","count","raisedAt","lastAt")
        VALUES (?,?,?,'new',?,?,1,?,?)`),
      resolveAlerts: p(`UPDATE "Alert" SET "status" = 'resolved', "resolvedAt" = ?, "resolvedBy" = 'system', "note" = ?
        WHERE "stationId" = ? AND "kind" = ? AND "status" != 'resolved'`),
      closed: p(`SELECT o."id" AS id, o."stationId" AS stationId, s."code" AS stationCode, s."online" AS online, o."startsAt" AS startsAt,
        o."startedAt" AS startedAt FROM "Occurrence" o JOIN "Station" s ON s."id" = o."stationId"
        WHERE (o."asRun" IS NULL OR o."asRun" = 'playing') AND o."closesAt" <= ? ORDER BY o."closesAt" LIMIT ?`),
      close: p(
        `UPDATE "Occurrence" SET "asRun" = ?, "discrepancy" = 'offline', "lateMs" = ? WHERE "id" = ? AND ("asRun" IS NULL OR "asRun" = 'playing')`,
      ),
      dueAtOffline: p(`SELECT o."id" AS id, o."stationId" AS stationId, s."code" AS stationCode, o."startsAt" AS startsAt
        FROM "Occurrence" o JOIN "Station" s ON s."id" = o."stationId"
        WHERE o."asRun" IS NULL AND o."startedAt" IS NULL AND o."startsAt" <= ? AND o."closesAt" > ? AND s."online" = 0`),
    };
  }

  /** BEGIN IMMEDIATE: the write lock first, so no upgrade can deadlock; synchronous from BEGIN to COMMIT. */
  transaction<T>(fn: (tx: LedgerTx) => Step<T>): Promise<T> {
    try {
      return Promise.resolve(
        this.db
          .transaction(() => {
            const steps = fn(this);
            const r = steps.next();
            if (!r.done) throw new Error('a SQLite ledger step yielded: it must run synchronously');
            return r.value;
          })
          .immediate(),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  *isStored(id: string): Step<boolean> {
    return this.s.stored.get(id) !== undefined;
  }

  *chainTail(stationId: string, day: string): Step<{ seq: number; hash: string } | undefined> {
    return this.s.tail.get(stationId, day) as { seq: number; hash: string } | undefined;
  }

  *insertReport(r: ReportRow): Step<void> {
    this.s.insertReport.run({ ...r, reportedAt: t(r.reportedAt), receivedAt: t(r.receivedAt) });
  }

  *insertBatch(b: BatchRow): Step<void> {
    this.s.insertBatch.run(b.id, b.stationId, t(b.receivedAt), b.raw);
  }

  *markStarted(occurrenceId: string, startedAt: Date): Step<void> {
    this.s.started.run(t(startedAt), occurrenceId);
    this.s.startedAt.run(t(startedAt), occurrenceId);
  }

  *markEnded(e: EndRow): Step<void> {
    this.s.ended.run({ ...e, startedAt: t(e.startedAt), endedAt: t(e.endedAt) });
  }

  *touchStation(stationId: string, at: Date): Step<void> {
    this.s.seen.run(t(at), stationId);
  }

  *storeTelemetry(r: TelemetryRow): Step<void> {
    this.s.telemetry.run({ ...r, at: t(r.at) });
  }

  *setOnline(stationId: string, online: boolean, at: Date, source: 'state' | 'telemetry'): Step<boolean> {
    const was = this.s.online.get(stationId) as number | undefined;
    if (was === undefined || Boolean(was) === online) return false;
    this.s.setOnline.run(online ? 1 : 0, stationId);
    this.s.event.run(uuid(), stationId, online ? 1 : 0, t(at), source);
    return true;
  }

  *raiseAlert(stationId: string, kind: AlertKind, occurrenceId: string | null, message: string, at: Date, repeat = true): Step<void> {
    const open = this.s.openAlert.get(stationId, kind) as string | undefined;
    if (open) {
      if (repeat) this.s.bumpAlert.run(t(at), message, open);
    } else this.s.insertAlert.run(uuid(), stationId, kind, occurrenceId, message, t(at), t(at));
  }

  *resolveAlerts(stationId: string, kind: AlertKind, at: Date, note: string): Step<number> {
    return this.s.resolveAlerts.run(t(at), note, stationId, kind).changes;
  }

  *closedAirings(now: Date, limit: number): Step<ClosedAiring[]> {
    return (this.s.closed.all(t(now), limit) as (Omit<ClosedAiring, 'online'> & { online: number })[]).map((r) => ({
      ...r,
      online: Boolean(r.online),
    }));
  }

  *closeAiring(id: string, asRun: 'missed' | 'partial', lateMs: number | null): Step<void> {
    this.s.close.run(asRun, lateMs, id);
  }

  *dueAtOfflineStations(now: Date): Step<{ id: string; stationId: string; stationCode: string; startsAt: string }[]> {
    return this.s.dueAtOffline.all(t(now), t(now)) as { id: string; stationId: string; stationCode: string; startsAt: string }[];
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
// biome-ignore-end lint/correctness/useYield: (end of SqliteProofLedger)
