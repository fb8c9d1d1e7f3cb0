-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
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
    "unitCandidates" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "telemetryAt" DATETIME,
    "clockOffsetMs" REAL,
    "diskFreeBytes" REAL,
    "agentVersion" TEXT,
    "uptimeS" INTEGER,
    "cacheItems" INTEGER,
    "cacheMissing" INTEGER,
    "appliedManifest" INTEGER,
    CONSTRAINT "Station_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Station" ("address", "agentVersion", "appliedManifest", "cacheItems", "cacheMissing", "clockOffsetMs", "code", "connectivity", "createdAt", "diskFreeBytes", "id", "installedAt", "lastSeenAt", "latitude", "longitude", "manifestVersion", "name", "online", "powerW", "speakerPoints", "telemetryAt", "unitCandidates", "unitId", "uptimeS") SELECT "address", "agentVersion", "appliedManifest", "cacheItems", "cacheMissing", "clockOffsetMs", "code", "connectivity", "createdAt", "diskFreeBytes", "id", "installedAt", "lastSeenAt", "latitude", "longitude", "manifestVersion", "name", "online", "powerW", "speakerPoints", "telemetryAt", "unitCandidates", "unitId", "uptimeS" FROM "Station";
DROP TABLE "Station";
ALTER TABLE "new_Station" RENAME TO "Station";
CREATE UNIQUE INDEX "Station_code_key" ON "Station"("code");
CREATE INDEX "Station_unitId_idx" ON "Station"("unitId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
