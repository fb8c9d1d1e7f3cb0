-- CreateTable
CREATE TABLE "NotificationChannel" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "unitId" TEXT,
    "secret" TEXT,
    "createdById" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "cursor" DATETIME NOT NULL,
    "lastSentAt" DATETIME,
    "lastError" TEXT,
    "sent" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "NotificationChannel_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "NotificationChannel_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "NotificationChannel_unitId_idx" ON "NotificationChannel"("unitId");
