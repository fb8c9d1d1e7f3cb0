-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
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
    "status" TEXT NOT NULL DEFAULT 'active',
    CONSTRAINT "Schedule_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Schedule_playlistId_fkey" FOREIGN KEY ("playlistId") REFERENCES "Playlist" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Schedule_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Schedule" ("conflict", "createdAt", "createdById", "exdates", "expandedUntil", "id", "mediaId", "playlistId", "priority", "rrule", "startWindowMs", "startsAt", "stationCodes", "targets") SELECT "conflict", "createdAt", "createdById", "exdates", "expandedUntil", "id", "mediaId", "playlistId", "priority", "rrule", "startWindowMs", "startsAt", "stationCodes", "targets" FROM "Schedule";
DROP TABLE "Schedule";
ALTER TABLE "new_Schedule" RENAME TO "Schedule";
CREATE INDEX "Schedule_rrule_expandedUntil_idx" ON "Schedule"("rrule", "expandedUntil");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
