-- AlterTable
ALTER TABLE "Media" ADD COLUMN "levels" TEXT;
