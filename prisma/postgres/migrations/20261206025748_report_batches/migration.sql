-- AlterTable
ALTER TABLE "PlaybackReport" ADD COLUMN     "batchId" TEXT;

-- CreateTable
CREATE TABLE "ReportBatch" (
    "id" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL,
    "raw" TEXT NOT NULL,

    CONSTRAINT "ReportBatch_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ReportBatch_stationId_receivedAt_idx" ON "ReportBatch"("stationId", "receivedAt");

-- AddForeignKey
ALTER TABLE "PlaybackReport" ADD CONSTRAINT "PlaybackReport_batchId_fkey" FOREIGN KEY ("batchId") REFERENCES "ReportBatch"("id") ON DELETE SET NULL ON UPDATE CASCADE;
