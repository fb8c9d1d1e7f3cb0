-- CreateTable
CREATE TABLE "ReportBatch" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "stationId" TEXT NOT NULL,
    "receivedAt" DATETIME NOT NULL,
    "raw" TEXT NOT NULL
);

-- AlterTable
-- By hand: Prisma rebuilds PlaybackReport to add the column (a copy of every proof); SQLite adds a nullable
-- column with a foreign key in place, with the same constraint.
ALTER TABLE "PlaybackReport" ADD COLUMN "batchId" TEXT REFERENCES "ReportBatch" ("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- CreateIndex
CREATE INDEX "ReportBatch_stationId_receivedAt_idx" ON "ReportBatch"("stationId", "receivedAt");
