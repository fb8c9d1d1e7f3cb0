// Migrations through Prisma's WASM schema engine: no native engine anywhere.
import { cpSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { applyMigrations, createMigration, MIGRATIONS_DIR } from '../../../server/db/migrate.ts';

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
