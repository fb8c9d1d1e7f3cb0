-- CreateTable
CREATE TABLE "ReportDay" (
    "day" INTEGER NOT NULL,
    "unitId" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "asRun" TEXT NOT NULL,
    "emergency" BOOLEAN NOT NULL,
    "n" INTEGER NOT NULL,
    "playedMs" INTEGER NOT NULL,
    "onTime" INTEGER NOT NULL,

    PRIMARY KEY ("day", "unitId", "stationId", "asRun", "emergency")
);

-- Kept by the database itself, whoever writes an occurrence (scheduling, proof ingest, the sweep, a
-- cancellation): each change takes the old row's counts out and puts the new row's in. The expressions are
-- the reports' own: audio out = playedMs of aired, late and partial airings; on time = aired with lateMs at
-- most 2000 (AS_RUN_RULES.lateToleranceMs).
CREATE TRIGGER "Occurrence_reportday_insert" AFTER INSERT ON "Occurrence" WHEN NEW."day" IS NOT NULL BEGIN
  INSERT INTO "ReportDay" ("day", "unitId", "stationId", "asRun", "emergency", "n", "playedMs", "onTime")
  VALUES (NEW."day", coalesce(NEW."unitId", ''), NEW."stationId", coalesce(NEW."asRun", 'pending'), NEW."priority" = 'emergency', 1,
    CASE WHEN NEW."asRun" IN ('aired', 'late', 'partial') THEN coalesce(NEW."playedMs", 0) ELSE 0 END,
    CASE WHEN NEW."asRun" = 'aired' AND coalesce(NEW."lateMs", 0) <= 2000 THEN 1 ELSE 0 END)
  ON CONFLICT ("day", "unitId", "stationId", "asRun", "emergency") DO UPDATE SET
    "n" = "n" + 1, "playedMs" = "playedMs" + excluded."playedMs", "onTime" = "onTime" + excluded."onTime";
END;

CREATE TRIGGER "Occurrence_reportday_delete" AFTER DELETE ON "Occurrence" WHEN OLD."day" IS NOT NULL BEGIN
  UPDATE "ReportDay" SET "n" = "n" - 1,
    "playedMs" = "playedMs" - CASE WHEN OLD."asRun" IN ('aired', 'late', 'partial') THEN coalesce(OLD."playedMs", 0) ELSE 0 END,
    "onTime" = "onTime" - CASE WHEN OLD."asRun" = 'aired' AND coalesce(OLD."lateMs", 0) <= 2000 THEN 1 ELSE 0 END
  WHERE "day" = OLD."day" AND "unitId" = coalesce(OLD."unitId", '') AND "stationId" = OLD."stationId"
    AND "asRun" = coalesce(OLD."asRun", 'pending') AND "emergency" = (OLD."priority" = 'emergency');
  DELETE FROM "ReportDay" WHERE "n" <= 0 AND "day" = OLD."day" AND "unitId" = coalesce(OLD."unitId", '') AND "stationId" = OLD."stationId";
END;

CREATE TRIGGER "Occurrence_reportday_update" AFTER UPDATE OF "day", "unitId", "stationId", "asRun", "priority", "playedMs", "lateMs" ON "Occurrence"
BEGIN
  UPDATE "ReportDay" SET "n" = "n" - 1,
    "playedMs" = "playedMs" - CASE WHEN OLD."asRun" IN ('aired', 'late', 'partial') THEN coalesce(OLD."playedMs", 0) ELSE 0 END,
    "onTime" = "onTime" - CASE WHEN OLD."asRun" = 'aired' AND coalesce(OLD."lateMs", 0) <= 2000 THEN 1 ELSE 0 END
  WHERE OLD."day" IS NOT NULL AND "day" = OLD."day" AND "unitId" = coalesce(OLD."unitId", '') AND "stationId" = OLD."stationId"
    AND "asRun" = coalesce(OLD."asRun", 'pending') AND "emergency" = (OLD."priority" = 'emergency');
  DELETE FROM "ReportDay" WHERE OLD."day" IS NOT NULL AND "n" <= 0 AND "day" = OLD."day" AND "unitId" = coalesce(OLD."unitId", '')
    AND "stationId" = OLD."stationId";
  INSERT INTO "ReportDay" ("day", "unitId", "stationId", "asRun", "emergency", "n", "playedMs", "onTime")
  SELECT NEW."day", coalesce(NEW."unitId", ''), NEW."stationId", coalesce(NEW."asRun", 'pending'), NEW."priority" = 'emergency', 1,
    CASE WHEN NEW."asRun" IN ('aired', 'late', 'partial') THEN coalesce(NEW."playedMs", 0) ELSE 0 END,
    CASE WHEN NEW."asRun" = 'aired' AND coalesce(NEW."lateMs", 0) <= 2000 THEN 1 ELSE 0 END
  WHERE NEW."day" IS NOT NULL
  ON CONFLICT ("day", "unitId", "stationId", "asRun", "emergency") DO UPDATE SET
    "n" = "n" + 1, "playedMs" = "playedMs" + excluded."playedMs", "onTime" = "onTime" + excluded."onTime";
END;

-- The airings already there.
INSERT INTO "ReportDay" ("day", "unitId", "stationId", "asRun", "emergency", "n", "playedMs", "onTime")
SELECT o."day", coalesce(o."unitId", ''), o."stationId", coalesce(o."asRun", 'pending'), o."priority" = 'emergency', count(*),
  total(CASE WHEN o."asRun" IN ('aired', 'late', 'partial') THEN coalesce(o."playedMs", 0) ELSE 0 END),
  sum(CASE WHEN o."asRun" = 'aired' AND coalesce(o."lateMs", 0) <= 2000 THEN 1 ELSE 0 END)
FROM "Occurrence" o WHERE o."day" IS NOT NULL GROUP BY 1, 2, 3, 4, 5;
