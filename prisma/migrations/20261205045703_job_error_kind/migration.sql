-- A failed job keeps the kind of its failure (services/errors.ts) instead of an HTTP status: the domain
-- does not know HTTP. Existing rows are mapped from the status they stored.
ALTER TABLE "Job" ADD COLUMN "errorKind" TEXT;
UPDATE "Job" SET "errorKind" = CASE "errorStatus"
  WHEN 400 THEN 'invalid'
  WHEN 401 THEN 'unauthenticated'
  WHEN 403 THEN 'forbidden'
  WHEN 404 THEN 'not-found'
  WHEN 408 THEN 'input-timeout'
  WHEN 409 THEN 'conflict'
  WHEN 413 THEN 'too-large'
  WHEN 422 THEN 'unprocessable'
  WHEN 429 THEN 'rate-limited'
  WHEN 502 THEN 'upstream'
  WHEN 503 THEN 'unavailable'
  WHEN 504 THEN 'upstream-timeout'
  ELSE 'internal' END
WHERE "errorStatus" IS NOT NULL;
ALTER TABLE "Job" DROP COLUMN "errorStatus";
