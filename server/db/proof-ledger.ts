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

/** What a transaction of the ledger can do; every write of a batch goes through one. */
export interface LedgerTx {
  isStored(id: string): Promise<boolean>;
  /**
   * The last link of a station's hash chain for a day. Taken under a lock that holds until the transaction
   * ends, so two processes never extend one chain at once.
   */
  chainTail(stationId: string, day: string): Promise<{ seq: number; hash: string } | undefined>;
  insertReport(r: ReportRow): Promise<void>;
  markStarted(occurrenceId: string, startedAt: Date): Promise<void>;
  markEnded(e: EndRow): Promise<void>;
  touchStation(stationId: string, at: Date): Promise<void>;
  storeTelemetry(r: TelemetryRow): Promise<void>;
  /** Records a change of availability; returns whether it was one. */
  setOnline(stationId: string, online: boolean, at: Date, source: 'state' | 'telemetry'): Promise<boolean>;
  /**
   * One open alert per station and kind: a repeat counts on the open one (`repeat: false` leaves an
   * open one as it is, for a condition that is still the same, such as a station still offline).
   */
  raiseAlert(stationId: string, kind: AlertKind, occurrenceId: string | null, message: string, at: Date, repeat?: boolean): Promise<void>;
  resolveAlerts(stationId: string, kind: AlertKind, at: Date, note: string): Promise<number>;
  /** Airings without a verdict whose proof window closed by `now`, oldest first. */
  closedAirings(now: Date, limit: number): Promise<ClosedAiring[]>;
  closeAiring(id: string, asRun: 'missed' | 'partial', lateMs: number | null): Promise<void>;
  /** Airings due by `now`, not started, window still open, at stations marked offline. */
  dueAtOfflineStations(now: Date): Promise<{ id: string; stationId: string; stationCode: string; startsAt: string }[]>;
}

export interface ProofLedger {
  /** Runs `fn` in one transaction: all of it is stored, or none. */
  transaction<T>(fn: (tx: LedgerTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The ledger of a database: its own connection (SQLite) or pool (PostgreSQL) beside Prisma's. */
export function openProofLedger(target: DbTarget): ProofLedger {
  return target.dialect === 'postgres' ? new PgProofLedger(target.url) : new SqliteProofLedger(target.file);
}

const uuid = () => crypto.randomUUID();
const t = (d: Date | null | undefined) => (d ? sqlTime(d) : null);

class SqliteProofLedger implements ProofLedger, LedgerTx {
  private readonly db: Database.Database;
  private readonly s;
  /** Transactions of this connection, one after another (an async body must not interleave with another). */
  private turn: Promise<unknown> = Promise.resolve();

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
        "peakDbfs","sha256","raw","chainDay","chainSeq","chainPrev","chainHash") VALUES
        (@id,@occurrenceId,@stationId,@kind,@reportedAt,@receivedAt,@playedMs,@rmsDbfs,@peakDbfs,@sha256,@raw,@chainDay,@chainSeq,@chainPrev,@chainHash)`),
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

  /** BEGIN IMMEDIATE: the write lock first, so no upgrade can deadlock; it also serializes every chain. */
  transaction<T>(fn: (tx: LedgerTx) => Promise<T>): Promise<T> {
    const run = async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn(this);
        this.db.exec('COMMIT');
        return out;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    };
    const next = this.turn.then(run, run);
    this.turn = next.catch(() => {});
    return next;
  }

  async isStored(id: string): Promise<boolean> {
    return this.s.stored.get(id) !== undefined;
  }

  async chainTail(stationId: string, day: string): Promise<{ seq: number; hash: string } | undefined> {
    return this.s.tail.get(stationId, day) as { seq: number; hash: string } | undefined;
  }

  async insertReport(r: ReportRow): Promise<void> {
    this.s.insertReport.run({ ...r, reportedAt: t(r.reportedAt), receivedAt: t(r.receivedAt) });
  }

  async markStarted(occurrenceId: string, startedAt: Date): Promise<void> {
    this.s.started.run(t(startedAt), occurrenceId);
    this.s.startedAt.run(t(startedAt), occurrenceId);
  }

  async markEnded(e: EndRow): Promise<void> {
    this.s.ended.run({ ...e, startedAt: t(e.startedAt), endedAt: t(e.endedAt) });
  }

  async touchStation(stationId: string, at: Date): Promise<void> {
    this.s.seen.run(t(at), stationId);
  }

  async storeTelemetry(r: TelemetryRow): Promise<void> {
    this.s.telemetry.run({ ...r, at: t(r.at) });
  }

  async setOnline(stationId: string, online: boolean, at: Date, source: 'state' | 'telemetry'): Promise<boolean> {
    const was = this.s.online.get(stationId) as number | undefined;
    if (was === undefined || Boolean(was) === online) return false;
    this.s.setOnline.run(online ? 1 : 0, stationId);
    this.s.event.run(uuid(), stationId, online ? 1 : 0, t(at), source);
    return true;
  }

  async raiseAlert(
    stationId: string,
    kind: AlertKind,
    occurrenceId: string | null,
    message: string,
    at: Date,
    repeat = true,
  ): Promise<void> {
    const open = this.s.openAlert.get(stationId, kind) as string | undefined;
    if (open) {
      if (repeat) this.s.bumpAlert.run(t(at), message, open);
    } else this.s.insertAlert.run(uuid(), stationId, kind, occurrenceId, message, t(at), t(at));
  }

  async resolveAlerts(stationId: string, kind: AlertKind, at: Date, note: string): Promise<number> {
    return this.s.resolveAlerts.run(t(at), note, stationId, kind).changes;
  }

  async closedAirings(now: Date, limit: number): Promise<ClosedAiring[]> {
    return (this.s.closed.all(t(now), limit) as (Omit<ClosedAiring, 'online'> & { online: number })[]).map((r) => ({
      ...r,
      online: Boolean(r.online),
    }));
  }

  async closeAiring(id: string, asRun: 'missed' | 'partial', lateMs: number | null): Promise<void> {
    this.s.close.run(asRun, lateMs, id);
  }

  async dueAtOfflineStations(now: Date): Promise<{ id: string; stationId: string; stationCode: string; startsAt: string }[]> {
    return this.s.dueAtOffline.all(t(now), t(now)) as { id: string; stationId: string; stationCode: string; startsAt: string }[];
  }

  async close(): Promise<void> {
    await this.turn;
    this.db.close();
  }
}
