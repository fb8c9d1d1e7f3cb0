-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN "after" TEXT;
ALTER TABLE "AuditEvent" ADD COLUMN "before" TEXT;
