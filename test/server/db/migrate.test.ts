// Migrations through Prisma's WASM schema engine: no native engine anywhere.
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { applyMigrations, createMigration, MIGRATIONS_DIR } from '../../../server/db/migrate.ts';
import { applyMigrationsApart } from '../../../server/db/migrate-apart.ts';

t.test('migrations apply to a fresh database once, then report nothing to do', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lp-migrate-'));
  const file = join(dir, 'db.sqlite');
  const first = await applyMigrations(file);
  t.ok(first.length >= 1, `applied ${first.join(', ')}`);
  t.same(await applyMigrations(file), [], 'idempotent');
  const db = new Database(file, { readonly: true });
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").all() as { name: string }[];
  db.close();
  for (const name of ['Media', 'Occurrence', 'PlaybackReport', 'Schedule', 'Station', 'Unit', 'User', '_prisma_migrations']) {
    t.ok(
      tables.some((x) => x.name === name),
      `table ${name}`,
    );
  }
});

t.test('the server migrates in a thread of its own: applied names come back, and a failure is an error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lp-migrate-apart-'));
  const file = join(dir, 'db.sqlite');
  const first = await applyMigrationsApart({ dialect: 'sqlite', file });
  t.same(
    first,
    readdirSync(MIGRATIONS_DIR)
      .filter((d) => /^\d/.test(d))
      .sort(),
    'every migration, by name',
  );
  t.same(await applyMigrationsApart({ dialect: 'sqlite', file }), [], 'nothing left the second time');
  // A database that is not one: the engine's failure reaches the caller (the server does not start).
  const notDb = join(dir, 'not-a-db.sqlite');
  writeFileSync(notDb, 'this is not a SQLite database, it is text long enough to fill a header page'.repeat(100));
  await t.rejects(applyMigrationsApart({ dialect: 'sqlite', file: notDb }), /not a database|SQLITE/i);
});

t.test('the checked-in migrations match schema.prisma (no migration left to create)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lp-migrations-'));
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  const created = await createMigration('drift_check', { dir });
  t.equal(created, null, 'run `npm run db:migration -- <name>` after changing schema.prisma');
});

t.test('createMigration writes a Prisma-format folder when the schema is ahead', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lp-migrations-empty-'));
  const created = await createMigration('init', { dir, now: new Date('2026-01-02T03:04:05Z') });
  t.equal(created, join(dir, '20260102030405_init'));
  t.match(readFileSync(join(dir, '20260102030405_init', 'migration.sql'), 'utf8'), /CREATE TABLE "Station"/);
  t.match(readFileSync(join(dir, 'migration_lock.toml'), 'utf8'), /provider = "sqlite"/);
  await t.rejects(createMigration('Bad Name', { dir }), { message: /migration name/ });
  t.same(readdirSync(dir).sort(), ['20260102030405_init', 'migration_lock.toml']);
});

t.test('a failed job keeps the kind of its failure: the migration maps the HTTP statuses an older database stored', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lp-migrate-jobs-'));
  const before = join(dir, 'migrations-before');
  // The database as the previous main left it: every migration up to the one that adds errorKind.
  cpSync(MIGRATIONS_DIR, before, {
    recursive: true,
    filter: (src) => !src.includes('20261205045703_job_error_kind'),
  });
  const file = join(dir, 'db.sqlite');
  await applyMigrations(file, before);
  const old = new Database(file);
  const insert = old.prepare(
    `INSERT INTO "Job" ("id","kind","status","input","errorCode","errorMessage","errorStatus") VALUES (?,'ingest','failed','{}',?,?,?)`,
  );
  for (const [id, code, status] of [
    ['j400', 'NOT_AUDIO', 400],
    ['j413', 'TOO_LARGE', 413],
    ['j422', 'TOO_LONG', 422],
    ['j500', 'INTERNAL', 500],
    ['j502', 'TTS_FAILED', 502],
  ] as const)
    insert.run(id, code, `failed with ${status}`, status);
  old.prepare(`INSERT INTO "Job" ("id","kind","status","input") VALUES ('ok','ingest','succeeded','{}')`).run();
  old.close();

  t.same(await applyMigrations(file), ['20261205045703_job_error_kind']);
  const db = new Database(file, { readonly: true });
  const rows = db.prepare('SELECT "id", "errorCode", "errorMessage", "errorKind" FROM "Job" ORDER BY "id"').all();
  const columns = (db.prepare('PRAGMA table_info("Job")').all() as { name: string }[]).map((c) => c.name);
  db.close();
  t.same(rows, [
    { id: 'j400', errorCode: 'NOT_AUDIO', errorMessage: 'failed with 400', errorKind: 'invalid' },
    { id: 'j413', errorCode: 'TOO_LARGE', errorMessage: 'failed with 413', errorKind: 'too-large' },
    { id: 'j422', errorCode: 'TOO_LONG', errorMessage: 'failed with 422', errorKind: 'unprocessable' },
    { id: 'j500', errorCode: 'INTERNAL', errorMessage: 'failed with 500', errorKind: 'internal' },
    { id: 'j502', errorCode: 'TTS_FAILED', errorMessage: 'failed with 502', errorKind: 'upstream' },
    { id: 'ok', errorCode: null, errorMessage: null, errorKind: null },
  ]);
  t.notOk(columns.includes('errorStatus'), 'the HTTP status column is gone');
});
