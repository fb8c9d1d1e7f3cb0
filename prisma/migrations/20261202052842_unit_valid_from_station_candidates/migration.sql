-- AlterTable
ALTER TABLE "Station" ADD COLUMN "unitCandidates" TEXT;

-- AlterTable
ALTER TABLE "Unit" ADD COLUMN "validFrom" DATETIME;
