-- CreateTable
CREATE TABLE "AuditEventUnit" (
    "seq" INTEGER NOT NULL,
    "unitId" TEXT NOT NULL,

    PRIMARY KEY ("seq", "unitId"),
    CONSTRAINT "AuditEventUnit_seq_fkey" FOREIGN KEY ("seq") REFERENCES "AuditEvent" ("seq") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "RefusedRequest" (
    "hour" DATETIME NOT NULL,
    "ip" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "status" INTEGER NOT NULL,
    "count" INTEGER NOT NULL,
    "lastAt" DATETIME NOT NULL,

    PRIMARY KEY ("hour", "ip", "action", "status")
);

-- CreateTable
CREATE TABLE "LoginThrottle" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "failures" INTEGER NOT NULL,
    "lastFailureAt" DATETIME NOT NULL,
    "blockedUntil" DATETIME
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_User" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "username" TEXT NOT NULL,
    "passwordHash" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "unitId" TEXT,
    "totpSecret" TEXT,
    "totpEnabledAt" DATETIME,
    "totpLastStep" INTEGER,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "User_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_User" ("createdAt", "id", "passwordHash", "role", "totpEnabledAt", "totpLastStep", "totpSecret", "unitId", "username") SELECT "createdAt", "id", "passwordHash", "role", "totpEnabledAt", "totpLastStep", "totpSecret", "unitId", "username" FROM "User";
DROP TABLE "User";
ALTER TABLE "new_User" RENAME TO "User";
CREATE UNIQUE INDEX "User_username_key" ON "User"("username");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "AuditEventUnit_unitId_seq_idx" ON "AuditEventUnit"("unitId", "seq");

-- CreateIndex
CREATE INDEX "LoginThrottle_lastFailureAt_idx" ON "LoginThrottle"("lastFailureAt");

-- Earlier rows are about the acting user's unit (what was known of them).
INSERT INTO "AuditEventUnit" ("seq", "unitId") SELECT a."seq", u."unitId" FROM "AuditEvent" a JOIN "User" u ON u."id" = a."userId" WHERE u."unitId" IS NOT NULL;

-- Append-only, like the rows they belong to.
CREATE TRIGGER "AuditEventUnit_no_update" BEFORE UPDATE ON "AuditEventUnit" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER "AuditEventUnit_no_delete" BEFORE DELETE ON "AuditEventUnit" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
