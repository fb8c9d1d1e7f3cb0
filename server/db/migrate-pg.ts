// Applying the PostgreSQL migrations. Not through the WASM schema engine: over the driver adapter it splits a
// script at every semicolon, which breaks the PL/pgSQL bodies of our triggers. Each pending migration runs
// whole (the simple query protocol takes many statements) in its own transaction, and is recorded in Prisma's
// own `_prisma_migrations` table with Prisma's checksum (sha256 of the file), so the native CLI can take over.
// Server processes that start together take turns through an advisory lock: one migrates, the others find
// nothing left to do.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { readMigrations } from './migrate.ts';

/** The advisory lock key every loaphuong process migrates under (any fixed number, the same everywhere). */
const MIGRATION_LOCK = 7_207_116_001;

const TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export async function applyPostgresMigrations(url: string, dir: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(TABLE);
    const rows = (
      await client.query<{ migration_name: string; finished_at: Date | null; rolled_back_at: Date | null }>(
        'SELECT "migration_name", "finished_at", "rolled_back_at" FROM "_prisma_migrations"',
      )
    ).rows;
    const failed = rows.filter((r) => !r.finished_at && !r.rolled_back_at).map((r) => r.migration_name);
    if (failed.length) throw new Error(`a migration failed earlier and must be resolved by hand: ${failed.join(', ')}`);
    const done = new Set(rows.filter((r) => r.finished_at && !r.rolled_back_at).map((r) => r.migration_name));
    const applied: string[] = [];
    for (const { path } of readMigrations(dir).migrationDirectories) {
      if (done.has(path)) continue;
      const sql = readFileSync(join(dir, path, 'migration.sql'), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query(
          'INSERT INTO "_prisma_migrations" ("id", "checksum", "finished_at", "migration_name", "applied_steps_count") VALUES ($1, $2, now(), $3, 1)',
          [randomUUID(), checksum, path],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${path} failed: ${(err as Error).message}`);
      }
      applied.push(path);
    }
    return applied;
  } finally {
    await client.end();
  }
}
