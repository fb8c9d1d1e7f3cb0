// The compliance hot path's own SQLite connection: prepared statements run inside one synchronous
// transaction per batch of proofs. Prisma through the driver adapter costs ~10× raw better-sqlite3 per
// statement (DESIGN §3), and proofs arrive by the thousand when gateways flush their outboxes.
// SQL only; what to write is decided by the services (proof-writer.ts, the sweep in report-service.ts).
import Database from 'better-sqlite3';

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
  online: number;
  startsAt: string;
  startedAt: string | null;
}

export type AlertKind = 'offline' | 'missed' | 'silent' | 'refused_proofs' | 'device_fault';

const uuid = () => crypto.randomUUID();
const t = (d: Date | null | undefined) => (d ? sqlTime(d) : null);

export class ProofLedger {
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

  /** Runs `fn` in one transaction (BEGIN IMMEDIATE: the write lock first, so no upgrade can deadlock). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  isStored(id: string): boolean {
    return this.s.stored.get(id) !== undefined;
  }

  chainTail(stationId: string, day: string): { seq: number; hash: string } | undefined {
    return this.s.tail.get(stationId, day) as { seq: number; hash: string } | undefined;
  }

  insertReport(r: ReportRow): void {
    this.s.insertReport.run({ ...r, reportedAt: t(r.reportedAt), receivedAt: t(r.receivedAt) });
  }

  markStarted(occurrenceId: string, startedAt: Date): void {
    this.s.started.run(t(startedAt), occurrenceId);
    this.s.startedAt.run(t(startedAt), occurrenceId);
  }

  markEnded(e: EndRow): void {
    this.s.ended.run({ ...e, startedAt: t(e.startedAt), endedAt: t(e.endedAt) });
  }

  touchStation(stationId: string, at: Date): void {
    this.s.seen.run(t(at), stationId);
  }

  storeTelemetry(r: TelemetryRow): void {
    this.s.telemetry.run({ ...r, at: t(r.at) });
  }

  /** Records a change of availability; returns whether it was one. */
  setOnline(stationId: string, online: boolean, at: Date, source: 'state' | 'telemetry'): boolean {
    const was = this.s.online.get(stationId) as number | undefined;
    if (was === undefined || Boolean(was) === online) return false;
    this.s.setOnline.run(online ? 1 : 0, stationId);
    this.s.event.run(uuid(), stationId, online ? 1 : 0, t(at), source);
    return true;
  }

  /**
   * One open alert per station and kind: a repeat counts on the open one (`repeat: false` leaves an
   * open one as it is, for a condition that is still the same, such as a station still offline).
   */
  raiseAlert(stationId: string, kind: AlertKind, occurrenceId: string | null, message: string, at: Date, repeat = true): void {
    const open = this.s.openAlert.get(stationId, kind) as string | undefined;
    if (open) {
      if (repeat) this.s.bumpAlert.run(t(at), message, open);
    } else this.s.insertAlert.run(uuid(), stationId, kind, occurrenceId, message, t(at), t(at));
  }

  resolveAlerts(stationId: string, kind: AlertKind, at: Date, note: string): number {
    return this.s.resolveAlerts.run(t(at), note, stationId, kind).changes;
  }

  /** Airings without a verdict whose proof window closed by `now`, oldest first. */
  closedAirings(now: Date, limit: number): ClosedAiring[] {
    return this.s.closed.all(t(now), limit) as ClosedAiring[];
  }

  closeAiring(id: string, asRun: 'missed' | 'partial', lateMs: number | null): void {
    this.s.close.run(asRun, lateMs, id);
  }

  /** Airings due by `now`, not started, window still open, at stations marked offline. */
  dueAtOfflineStations(now: Date): { id: string; stationId: string; stationCode: string; startsAt: string }[] {
    return this.s.dueAtOffline.all(t(now), t(now)) as { id: string; stationId: string; stationCode: string; startsAt: string }[];
  }

  close(): void {
    this.db.close();
  }
}
