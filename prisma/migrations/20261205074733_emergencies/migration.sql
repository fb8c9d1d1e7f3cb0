-- AlterTable
ALTER TABLE "Schedule" ADD COLUMN "emergencyId" TEXT;

-- CreateTable
CREATE TABLE "Emergency" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "status" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "headline" TEXT NOT NULL,
    "text" TEXT NOT NULL DEFAULT '',
    "area" TEXT NOT NULL,
    "stationCodes" TEXT NOT NULL,
    "groups" TEXT NOT NULL DEFAULT '[]',
    "mediaId" TEXT NOT NULL,
    "templateId" TEXT,
    "repeatCount" INTEGER,
    "repeatIntervalS" INTEGER,
    "repeatUntil" DATETIME,
    "validUntil" DATETIME NOT NULL,
    "airing" TEXT NOT NULL,
    "unitId" TEXT NOT NULL,
    "createdById" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "confirmBy" DATETIME,
    "confirmedById" TEXT,
    "confirmedAt" DATETIME,
    "updatedById" TEXT,
    "updatedAt" DATETIME,
    "cancelledById" TEXT,
    "cancelledAt" DATETIME,
    "version" INTEGER NOT NULL DEFAULT 1,
    "source" TEXT NOT NULL DEFAULT 'api',
    "capSender" TEXT,
    "capIdentifier" TEXT,
    CONSTRAINT "Emergency_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Emergency_templateId_fkey" FOREIGN KEY ("templateId") REFERENCES "EmergencyTemplate" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "EmergencyStation" (
    "emergencyId" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "occurrenceId" TEXT NOT NULL,
    "receivedAt" DATETIME,
    "errorCode" TEXT,
    "errorMessage" TEXT,

    PRIMARY KEY ("emergencyId", "stationId"),
    CONSTRAINT "EmergencyStation_emergencyId_fkey" FOREIGN KEY ("emergencyId") REFERENCES "Emergency" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "EmergencyTemplate" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "code" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "text" TEXT NOT NULL DEFAULT '',
    "unitId" TEXT,
    "mediaId" TEXT NOT NULL,
    "endMediaId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "EmergencyTemplate_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "EmergencyTemplate_endMediaId_fkey" FOREIGN KEY ("endMediaId") REFERENCES "Media" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "Emergency_airing_key" ON "Emergency"("airing");

-- CreateIndex
CREATE INDEX "Emergency_state_createdAt_idx" ON "Emergency"("state", "createdAt");

-- CreateIndex
CREATE INDEX "Emergency_capSender_capIdentifier_idx" ON "Emergency"("capSender", "capIdentifier");

-- CreateIndex
CREATE UNIQUE INDEX "EmergencyTemplate_code_key" ON "EmergencyTemplate"("code");

-- CreateIndex
CREATE INDEX "Schedule_emergencyId_idx" ON "Schedule"("emergencyId");
