-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Media" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "title" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "durationMs" INTEGER NOT NULL,
    "sizeBytes" INTEGER NOT NULL,
    "codec" TEXT NOT NULL,
    "sampleRate" INTEGER NOT NULL,
    "channels" INTEGER NOT NULL,
    "sourceName" TEXT NOT NULL,
    "sourceFormat" TEXT NOT NULL,
    "sourceSizeBytes" INTEGER NOT NULL DEFAULT 0,
    "sourceDurationMs" INTEGER NOT NULL DEFAULT 0,
    "trimStartMs" INTEGER NOT NULL DEFAULT 0,
    "trimEndMs" INTEGER NOT NULL DEFAULT 0,
    "loudnessBeforeLufs" REAL,
    "truePeakBeforeDbtp" REAL,
    "loudnessRangeLu" REAL,
    "loudnessAfterLufs" REAL,
    "truePeakAfterDbtp" REAL,
    "gainDb" REAL NOT NULL DEFAULT 0,
    "limited" BOOLEAN NOT NULL DEFAULT false,
    "levels" TEXT,
    "mp3Sha256" TEXT,
    "mp3SizeBytes" INTEGER,
    "relay" TEXT,
    "fallbackMediaId" TEXT,
    "description" TEXT NOT NULL DEFAULT '',
    "category" TEXT NOT NULL DEFAULT 'news',
    "tags" TEXT NOT NULL DEFAULT '[]',
    "unitId" TEXT,
    "validFrom" DATETIME,
    "validUntil" DATETIME,
    "status" TEXT NOT NULL DEFAULT 'draft',
    "statusReason" TEXT,
    "searchText" TEXT NOT NULL DEFAULT '',
    "createdById" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Media_fallbackMediaId_fkey" FOREIGN KEY ("fallbackMediaId") REFERENCES "Media" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Media_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Media_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Media" ("category", "channels", "codec", "createdAt", "createdById", "description", "durationMs", "gainDb", "id", "levels", "limited", "loudnessAfterLufs", "loudnessBeforeLufs", "loudnessRangeLu", "mp3Sha256", "mp3SizeBytes", "sampleRate", "searchText", "sha256", "sizeBytes", "sourceDurationMs", "sourceFormat", "sourceName", "sourceSizeBytes", "status", "statusReason", "tags", "title", "trimEndMs", "trimStartMs", "truePeakAfterDbtp", "truePeakBeforeDbtp", "unitId", "validFrom", "validUntil") SELECT "category", "channels", "codec", "createdAt", "createdById", "description", "durationMs", "gainDb", "id", "levels", "limited", "loudnessAfterLufs", "loudnessBeforeLufs", "loudnessRangeLu", "mp3Sha256", "mp3SizeBytes", "sampleRate", "searchText", "sha256", "sizeBytes", "sourceDurationMs", "sourceFormat", "sourceName", "sourceSizeBytes", "status", "statusReason", "tags", "title", "trimEndMs", "trimStartMs", "truePeakAfterDbtp", "truePeakBeforeDbtp", "unitId", "validFrom", "validUntil" FROM "Media";
DROP TABLE "Media";
ALTER TABLE "new_Media" RENAME TO "Media";
CREATE UNIQUE INDEX "Media_sha256_key" ON "Media"("sha256");
CREATE INDEX "Media_status_category_idx" ON "Media"("status", "category");
CREATE INDEX "Media_unitId_idx" ON "Media"("unitId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
