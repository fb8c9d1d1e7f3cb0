-- AlterTable
ALTER TABLE "Occurrence" ADD COLUMN "groupKey" TEXT;
ALTER TABLE "Occurrence" ADD COLUMN "groupUnitId" TEXT;

-- CreateTable
CREATE TABLE "GroupPlan" (
    "unitId" TEXT NOT NULL PRIMARY KEY,
    "version" INTEGER NOT NULL,
    "body" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "entries" INTEGER NOT NULL,
    "publishedAt" DATETIME NOT NULL,
    CONSTRAINT "GroupPlan_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "GroupDelivery" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "unitId" TEXT NOT NULL,
    "device" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "ackedAt" DATETIME NOT NULL,
    CONSTRAINT "GroupDelivery_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- AlterTable
-- By hand: Prisma rebuilds Device to add the columns; SQLite adds them in place.
ALTER TABLE "Device" ADD COLUMN "groupPlans" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "Device" ADD COLUMN "planHash" TEXT;
ALTER TABLE "Device" ADD COLUMN "planAt" DATETIME;

-- CreateIndex
CREATE INDEX "GroupDelivery_unitId_version_idx" ON "GroupDelivery"("unitId", "version");

-- CreateIndex
CREATE UNIQUE INDEX "GroupDelivery_device_unitId_version_key" ON "GroupDelivery"("device", "unitId", "version");

-- CreateIndex
CREATE INDEX "Occurrence_groupUnitId_startsAt_idx" ON "Occurrence"("groupUnitId", "startsAt");
