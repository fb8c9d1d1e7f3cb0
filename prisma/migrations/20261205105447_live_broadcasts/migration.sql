-- AlterTable
ALTER TABLE "Schedule" ADD COLUMN "broadcastId" TEXT;

-- CreateTable
CREATE TABLE "Broadcast" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "airing" TEXT NOT NULL,
    "streamId" TEXT NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'voice',
    "priority" TEXT NOT NULL,
    "area" TEXT NOT NULL,
    "stationCodes" TEXT NOT NULL,
    "groups" TEXT NOT NULL DEFAULT '[]',
    "unitId" TEXT NOT NULL,
    "createdById" TEXT NOT NULL,
    "startedAt" DATETIME NOT NULL,
    "endedAt" DATETIME,
    "endReason" TEXT,
    "frames" INTEGER NOT NULL DEFAULT 0,
    "durationMs" INTEGER NOT NULL DEFAULT 0,
    "recordingSha256" TEXT,
    "recordingBytes" INTEGER,
    "mediaId" TEXT NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "Broadcast_airing_key" ON "Broadcast"("airing");

-- CreateIndex
CREATE UNIQUE INDEX "Broadcast_streamId_key" ON "Broadcast"("streamId");

-- CreateIndex
CREATE UNIQUE INDEX "Broadcast_mediaId_key" ON "Broadcast"("mediaId");

-- CreateIndex
CREATE INDEX "Broadcast_startedAt_idx" ON "Broadcast"("startedAt");
