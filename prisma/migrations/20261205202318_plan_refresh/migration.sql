-- AlterTable
ALTER TABLE "Station" ADD COLUMN "planRefreshAt" DATETIME;

-- CreateIndex
CREATE INDEX "Station_planRefreshAt_idx" ON "Station"("planRefreshAt");
