-- AlterTable
ALTER TABLE "Device" ADD COLUMN     "groupPlans" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "planAt" TIMESTAMP(3),
ADD COLUMN     "planHash" TEXT;

-- AlterTable
ALTER TABLE "Occurrence" ADD COLUMN     "groupKey" TEXT,
ADD COLUMN     "groupUnitId" TEXT;

-- CreateTable
CREATE TABLE "GroupPlan" (
    "unitId" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "body" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "entries" INTEGER NOT NULL,
    "publishedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "GroupPlan_pkey" PRIMARY KEY ("unitId")
);

-- CreateTable
CREATE TABLE "GroupDelivery" (
    "id" TEXT NOT NULL,
    "unitId" TEXT NOT NULL,
    "device" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "ackedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "GroupDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "GroupDelivery_unitId_version_idx" ON "GroupDelivery"("unitId", "version");

-- CreateIndex
CREATE UNIQUE INDEX "GroupDelivery_device_unitId_version_key" ON "GroupDelivery"("device", "unitId", "version");

-- CreateIndex
CREATE INDEX "Occurrence_groupUnitId_startsAt_idx" ON "Occurrence"("groupUnitId", "startsAt");

-- AddForeignKey
ALTER TABLE "GroupPlan" ADD CONSTRAINT "GroupPlan_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GroupDelivery" ADD CONSTRAINT "GroupDelivery_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
