-- AlterTable
ALTER TABLE "PlaybackReport" ADD COLUMN "chainDay" TEXT;
ALTER TABLE "PlaybackReport" ADD COLUMN "chainHash" TEXT;
ALTER TABLE "PlaybackReport" ADD COLUMN "chainPrev" TEXT;
ALTER TABLE "PlaybackReport" ADD COLUMN "chainSeq" INTEGER;

-- CreateIndex
CREATE UNIQUE INDEX "PlaybackReport_stationId_chainDay_chainSeq_key" ON "PlaybackReport"("stationId", "chainDay", "chainSeq");
