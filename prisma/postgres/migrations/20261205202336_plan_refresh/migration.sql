-- AlterTable
ALTER TABLE "Station" ADD COLUMN     "planRefreshAt" TIMESTAMP(3);

-- CreateIndex
CREATE INDEX "Station_planRefreshAt_idx" ON "Station"("planRefreshAt");
