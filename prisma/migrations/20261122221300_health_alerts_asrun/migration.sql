-- AlterTable
ALTER TABLE "Occurrence" ADD COLUMN "asRun" TEXT;
ALTER TABLE "Occurrence" ADD COLUMN "closesAt" DATETIME;
ALTER TABLE "Occurrence" ADD COLUMN "day" INTEGER;
ALTER TABLE "Occurrence" ADD COLUMN "deviceReason" TEXT;
ALTER TABLE "Occurrence" ADD COLUMN "discrepancy" TEXT;
ALTER TABLE "Occurrence" ADD COLUMN "lateMs" INTEGER;
ALTER TABLE "Occurrence" ADD COLUMN "rmsDbfs" REAL;

-- AlterTable
ALTER TABLE "Station" ADD COLUMN "agentVersion" TEXT;
ALTER TABLE "Station" ADD COLUMN "appliedManifest" INTEGER;
ALTER TABLE "Station" ADD COLUMN "cacheItems" INTEGER;
ALTER TABLE "Station" ADD COLUMN "cacheMissing" INTEGER;
ALTER TABLE "Station" ADD COLUMN "clockOffsetMs" REAL;
ALTER TABLE "Station" ADD COLUMN "diskFreeBytes" INTEGER;
ALTER TABLE "Station" ADD COLUMN "telemetryAt" DATETIME;
ALTER TABLE "Station" ADD COLUMN "uptimeS" INTEGER;

-- CreateTable
CREATE TABLE "StationEvent" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "stationId" TEXT NOT NULL,
    "online" BOOLEAN NOT NULL,
    "at" DATETIME NOT NULL,
    "source" TEXT NOT NULL,
    CONSTRAINT "StationEvent_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Alert" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "stationId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'new',
    "occurrenceId" TEXT,
    "message" TEXT NOT NULL,
    "count" INTEGER NOT NULL DEFAULT 1,
    "raisedAt" DATETIME NOT NULL,
    "lastAt" DATETIME NOT NULL,
    "acknowledgedAt" DATETIME,
    "acknowledgedBy" TEXT,
    "resolvedAt" DATETIME,
    "resolvedBy" TEXT,
    "note" TEXT,
    CONSTRAINT "Alert_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Alert_occurrenceId_fkey" FOREIGN KEY ("occurrenceId") REFERENCES "Occurrence" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "StationEvent_stationId_at_idx" ON "StationEvent"("stationId", "at");

-- CreateIndex
CREATE INDEX "Alert_status_raisedAt_idx" ON "Alert"("status", "raisedAt");

-- CreateIndex
CREATE INDEX "Alert_stationId_kind_status_idx" ON "Alert"("stationId", "kind", "status");

-- CreateIndex
CREATE INDEX "Occurrence_startsAt_idx" ON "Occurrence"("startsAt");

-- CreateIndex
CREATE INDEX "Occurrence_day_unitId_stationId_asRun_priority_playedMs_lateMs_idx" ON "Occurrence"("day", "unitId", "stationId", "asRun", "priority", "playedMs", "lateMs");

-- CreateIndex
CREATE INDEX "Occurrence_asRun_closesAt_idx" ON "Occurrence"("asRun", "closesAt");
-- Backfill (hand-written): the proof window of airings that exist already, and a verdict for those that ended.
UPDATE "Occurrence" SET "closesAt" = strftime('%Y-%m-%dT%H:%M:%f+00:00', "startsAt",
  printf('+%.3f seconds', ((SELECT "startWindowMs" FROM "Schedule" s WHERE s."id" = "Occurrence"."scheduleId")
    + (SELECT "durationMs" FROM "Media" m WHERE m."id" = "Occurrence"."mediaId") + 600000) / 1000.0));
UPDATE "Occurrence" SET "asRun" = CASE "status" WHEN 'aired' THEN 'aired' WHEN 'partial' THEN 'partial' WHEN 'playing' THEN 'playing' ELSE 'missed' END,
  "discrepancy" = CASE "status" WHEN 'failed' THEN 'device-fault' ELSE NULL END
  WHERE "status" IN ('aired', 'partial', 'failed', 'playing');
UPDATE "Occurrence" SET "day" = CAST(julianday("startsAt", '+7 hours') - 2440587.5 AS INTEGER);
