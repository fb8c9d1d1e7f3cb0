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
    "createdById" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Media_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Media" ("channels", "codec", "createdAt", "createdById", "durationMs", "id", "sampleRate", "sha256", "sizeBytes", "sourceFormat", "sourceName", "title") SELECT "channels", "codec", "createdAt", "createdById", "durationMs", "id", "sampleRate", "sha256", "sizeBytes", "sourceFormat", "sourceName", "title" FROM "Media";
DROP TABLE "Media";
ALTER TABLE "new_Media" RENAME TO "Media";
CREATE UNIQUE INDEX "Media_sha256_key" ON "Media"("sha256");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
