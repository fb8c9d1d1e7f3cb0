-- CreateTable
CREATE TABLE "AuditEvent" (
    "seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "at" DATETIME NOT NULL,
    "userId" TEXT,
    "username" TEXT,
    "role" TEXT,
    "ip" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "params" TEXT,
    "request" TEXT,
    "status" INTEGER NOT NULL,
    "response" TEXT,
    "requestId" TEXT NOT NULL
);

-- CreateIndex
CREATE INDEX "AuditEvent_at_idx" ON "AuditEvent"("at");

-- CreateIndex
CREATE INDEX "AuditEvent_username_at_idx" ON "AuditEvent"("username", "at");

-- Append-only (hand-written): the log cannot be edited or pruned through SQL either.
CREATE TRIGGER "AuditEvent_no_update" BEFORE UPDATE ON "AuditEvent" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER "AuditEvent_no_delete" BEFORE DELETE ON "AuditEvent" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
