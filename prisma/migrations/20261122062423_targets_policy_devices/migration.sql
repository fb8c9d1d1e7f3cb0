-- CreateTable
CREATE TABLE "UnitEvent" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "unitId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "before" TEXT NOT NULL DEFAULT '{}',
    "after" TEXT NOT NULL DEFAULT '{}',
    "byId" TEXT,
    "at" DATETIME NOT NULL,
    CONSTRAINT "UnitEvent_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Device" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "code" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "name" TEXT NOT NULL DEFAULT '',
    "model" TEXT,
    "enrollTokenHash" TEXT,
    "enrollTokenExpiresAt" DATETIME,
    "publicKeyHex" TEXT,
    "mqttSecretHash" TEXT,
    "agentVersion" TEXT,
    "enrolledAt" DATETIME,
    "revokedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Device_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Zone" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "deviceId" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "name" TEXT NOT NULL DEFAULT '',
    CONSTRAINT "Zone_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "ManifestDelivery" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "stationId" TEXT NOT NULL,
    "device" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "entries" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "publishedAt" DATETIME NOT NULL,
    "ackedAt" DATETIME,
    "expiresAt" DATETIME NOT NULL,
    "errorCode" TEXT,
    CONSTRAINT "ManifestDelivery_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Occurrence" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "scheduleId" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "unitId" TEXT,
    "zones" TEXT NOT NULL DEFAULT '[]',
    "mediaId" TEXT NOT NULL,
    "startsAt" DATETIME NOT NULL,
    "position" INTEGER,
    "priority" TEXT NOT NULL DEFAULT 'normal',
    "status" TEXT NOT NULL DEFAULT 'scheduled',
    "startedAt" DATETIME,
    "endedAt" DATETIME,
    "playedMs" INTEGER,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Occurrence_scheduleId_fkey" FOREIGN KEY ("scheduleId") REFERENCES "Schedule" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Occurrence_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Occurrence_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Occurrence_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Occurrence" ("createdAt", "endedAt", "id", "mediaId", "playedMs", "position", "priority", "scheduleId", "startedAt", "startsAt", "stationId", "status") SELECT "createdAt", "endedAt", "id", "mediaId", "playedMs", "position", "priority", "scheduleId", "startedAt", "startsAt", "stationId", "status" FROM "Occurrence";
DROP TABLE "Occurrence";
ALTER TABLE "new_Occurrence" RENAME TO "Occurrence";
CREATE INDEX "Occurrence_stationId_startsAt_idx" ON "Occurrence"("stationId", "startsAt");
CREATE INDEX "Occurrence_scheduleId_idx" ON "Occurrence"("scheduleId");
CREATE TABLE "new_Schedule" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "mediaId" TEXT,
    "playlistId" TEXT,
    "startsAt" DATETIME NOT NULL,
    "rrule" TEXT,
    "exdates" TEXT NOT NULL DEFAULT '[]',
    "stationCodes" TEXT NOT NULL DEFAULT '[]',
    "targets" TEXT NOT NULL DEFAULT '{}',
    "conflict" TEXT NOT NULL DEFAULT 'queue',
    "startWindowMs" INTEGER NOT NULL DEFAULT 0,
    "expandedUntil" DATETIME,
    "priority" TEXT NOT NULL DEFAULT 'normal',
    "createdById" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Schedule_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Schedule_playlistId_fkey" FOREIGN KEY ("playlistId") REFERENCES "Playlist" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Schedule_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Schedule" ("createdAt", "createdById", "exdates", "expandedUntil", "id", "mediaId", "playlistId", "priority", "rrule", "startsAt", "stationCodes") SELECT "createdAt", "createdById", "exdates", "expandedUntil", "id", "mediaId", "playlistId", "priority", "rrule", "startsAt", "stationCodes" FROM "Schedule";
DROP TABLE "Schedule";
ALTER TABLE "new_Schedule" RENAME TO "Schedule";
CREATE INDEX "Schedule_rrule_expandedUntil_idx" ON "Schedule"("rrule", "expandedUntil");
CREATE TABLE "new_Station" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "code" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "unitId" TEXT NOT NULL,
    "manifestVersion" INTEGER NOT NULL DEFAULT 0,
    "lastSeenAt" DATETIME,
    "online" BOOLEAN NOT NULL DEFAULT false,
    "address" TEXT,
    "latitude" REAL,
    "longitude" REAL,
    "speakerPoints" INTEGER,
    "powerW" INTEGER,
    "connectivity" TEXT,
    "installedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Station_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Station" ("code", "createdAt", "id", "lastSeenAt", "manifestVersion", "name", "online", "unitId") SELECT "code", "createdAt", "id", "lastSeenAt", "manifestVersion", "name", "online", "unitId" FROM "Station";
DROP TABLE "Station";
ALTER TABLE "new_Station" RENAME TO "Station";
CREATE UNIQUE INDEX "Station_code_key" ON "Station"("code");
CREATE INDEX "Station_unitId_idx" ON "Station"("unitId");
CREATE TABLE "new_Unit" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "code" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "level" INTEGER NOT NULL,
    "parentId" TEXT,
    "policy" TEXT,
    "mergedIntoId" TEXT,
    "endedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Unit_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "Unit" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Unit_mergedIntoId_fkey" FOREIGN KEY ("mergedIntoId") REFERENCES "Unit" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Unit" ("code", "createdAt", "id", "level", "name", "parentId", "type") SELECT "code", "createdAt", "id", "level", "name", "parentId", "type" FROM "Unit";
DROP TABLE "Unit";
ALTER TABLE "new_Unit" RENAME TO "Unit";
CREATE UNIQUE INDEX "Unit_code_key" ON "Unit"("code");
CREATE INDEX "Unit_parentId_idx" ON "Unit"("parentId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "UnitEvent_unitId_at_idx" ON "UnitEvent"("unitId", "at");

-- CreateIndex
CREATE UNIQUE INDEX "Device_code_key" ON "Device"("code");

-- CreateIndex
CREATE UNIQUE INDEX "Device_enrollTokenHash_key" ON "Device"("enrollTokenHash");

-- CreateIndex
CREATE INDEX "Device_stationId_idx" ON "Device"("stationId");

-- CreateIndex
CREATE UNIQUE INDEX "Zone_deviceId_code_key" ON "Zone"("deviceId", "code");

-- CreateIndex
CREATE INDEX "ManifestDelivery_stationId_version_idx" ON "ManifestDelivery"("stationId", "version");

-- CreateIndex
CREATE INDEX "ManifestDelivery_status_expiresAt_idx" ON "ManifestDelivery"("status", "expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "ManifestDelivery_device_version_key" ON "ManifestDelivery"("device", "version");
