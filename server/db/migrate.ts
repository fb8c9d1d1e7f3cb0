// In-process migrations with Prisma's WASM schema engine, so no user ever needs
// Prisma's native engines (which cannot be downloaded on our machines).
// The migration folder format is Prisma's own: prisma/migrations/<timestamp>_<name>/migration.sql
// plus migration_lock.toml, so the native CLI can take over on PostgreSQL later.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type { MigrationList, SchemaEngine as SchemaEngineType } from '@prisma/schema-engine-wasm';
import { type DbTarget, dbTarget } from './client.ts';
import { applyPostgresMigrations } from './migrate-pg.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const PRISMA_DIR = resolve(here, '../../prisma');
export const SCHEMA_PATH = join(PRISMA_DIR, 'schema.prisma');
export const MIGRATIONS_DIR = join(PRISMA_DIR, 'migrations');

const NO_FILTERS = { externalTables: [], externalEnums: [] };

type EngineModule = typeof import('@prisma/schema-engine-wasm');
// Node has WebAssembly globally; our lib setting (no DOM) does not declare it.
const wasm = (
  globalThis as unknown as {
    WebAssembly: { instantiate(bytes: Buffer, imports: object): Promise<{ instance: { exports: Record<string, unknown> } }> };
  }
).WebAssembly;
let engineModule: Promise<EngineModule> | undefined;

/** Node 20 cannot import .wasm as an ES module without a flag, so instantiate it here. */
function loadEngineModule(): Promise<EngineModule> {
  engineModule ??= (async () => {
    const require = createRequire(import.meta.url);
    const bgPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const bg = (await import('@prisma/schema-engine-wasm/schema_engine_bg')) as EngineModule & {
      __wbg_set_wasm(exports: Record<string, unknown>): void;
    };
    const bytes = readFileSync(join(dirname(bgPath), 'schema_engine_bg.wasm'));
    const { instance } = await wasm.instantiate(bytes, { './schema_engine_bg.js': bg });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return bg;
  })();
  return engineModule;
}

export function readMigrations(dir = MIGRATIONS_DIR): MigrationList {
  const lockPath = join(dir, 'migration_lock.toml');
  const dirs = existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort()
    : [];
  return {
    baseDir: dir,
    lockfile: { path: 'migration_lock.toml', content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null },
    shadowDbInitScript: '',
    migrationDirectories: dirs.map((name) => {
      const file = join(dir, name, 'migration.sql');
      return {
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: existsSync(file)
            ? { tag: 'ok' as const, value: readFileSync(file, 'utf8') }
            : { tag: 'error' as const, value: `missing ${file}` },
        },
      };
    }),
  };
}

/** The migrations of a database kind: SQLite's beside schema.prisma, PostgreSQL's under postgres/. */
export const migrationsDir = (dialect: DbTarget['dialect']): string =>
  dialect === 'postgres' ? join(PRISMA_DIR, 'postgres', 'migrations') : MIGRATIONS_DIR;

const schemaPath = (dialect: DbTarget['dialect']): string =>
  dialect === 'postgres' ? join(PRISMA_DIR, 'postgres', 'schema.prisma') : SCHEMA_PATH;

function adapterFactory(target: DbTarget): SqlMigrationAwareDriverAdapterFactory {
  if (target.dialect === 'postgres') return new PrismaPg({ connectionString: target.url, max: 2 });
  mkdirSync(dirname(resolve(target.file)), { recursive: true });
  return new PrismaBetterSqlite3({ url: `file:${resolve(target.file)}` });
}

async function withEngine<T>(target: DbTarget, fn: (engine: SchemaEngineType) => Promise<T>): Promise<T> {
  const { SchemaEngine } = await loadEngineModule();
  // The engine never closes the connections it opens; track them so the database is released.
  const inner = adapterFactory(target);
  const opened: SqlDriverAdapter[] = [];
  const factory: SqlMigrationAwareDriverAdapterFactory = {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: async () => {
      const conn = await inner.connect();
      opened.push(conn);
      return conn;
    },
    connectToShadowDb: async () => {
      const conn = await inner.connectToShadowDb();
      opened.push(conn);
      return conn;
    },
  };
  const path = schemaPath(target.dialect);
  const schema = readFileSync(path, 'utf8');
  const engine = await SchemaEngine.new({ datamodels: [[path, schema]] }, () => {}, bindMigrationAwareSqlAdapterFactory(factory));
  try {
    return await fn(engine);
  } finally {
    engine.free();
    for (const conn of opened) await conn.dispose();
  }
}

/** Applies every migration not yet applied; returns the names applied now. */
export async function applyMigrations(database: DbTarget | string, dir?: string): Promise<string[]> {
  const target = typeof database === 'string' ? dbTarget(database) : database;
  if (target.dialect === 'postgres') return applyPostgresMigrations(target.url, dir ?? migrationsDir('postgres'));
  return withEngine(target, async (engine) => {
    const out = await engine.applyMigrations({ migrationsList: readMigrations(dir ?? MIGRATIONS_DIR), filters: NO_FILTERS });
    return out.appliedMigrationNames;
  });
}

/** Beside each PostgreSQL migration: the schema it brings the database to, the next one's starting point. */
const SNAPSHOT = 'schema.prisma';

/**
 * Creates <migrations>/<timestamp>_<name>/migration.sql from the difference between the migrations so far
 * and the schema, for one kind of database. Returns the folder, or null when nothing changed.
 * - SQLite: the WASM engine's createMigration needs a shadow database it cannot open itself, so the history
 *   is replayed into a scratch file and that is diffed against the schema.
 * - PostgreSQL: the WASM engine cannot describe a live PostgreSQL database through the driver adapter (it
 *   fails on the catalogs' "char" columns), so each migration keeps the schema it leads to and the next one
 *   is the difference of two datamodels (the engine still wants a connection: LP_PG_ADMIN_URL).
 */
export async function createMigration(
  name: string,
  opts: { dialect?: DbTarget['dialect']; dir?: string; scratchDir?: string; now?: Date } = {},
): Promise<string | null> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`migration name must match [a-z0-9_]+, got "${name}"`);
  const dialect = opts.dialect ?? 'sqlite';
  const dir = opts.dir ?? migrationsDir(dialect);
  const schema = { path: schemaPath(dialect), content: readFileSync(schemaPath(dialect), 'utf8') };
  const script = dialect === 'postgres' ? await postgresDiff(dir, schema) : await sqliteDiff(dir, schema, opts.scratchDir);
  if (!script) return null;
  const stamp = (opts.now ?? new Date()).toISOString().replace(/\D/g, '').slice(0, 14);
  const folder = join(dir, `${stamp}_${name}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'migration.sql'), script);
  if (dialect === 'postgres') writeFileSync(join(folder, SNAPSHOT), schema.content);
  const lock = join(dir, 'migration_lock.toml');
  if (!existsSync(lock)) {
    writeFileSync(
      lock,
      `# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "${dialect === 'postgres' ? 'postgresql' : 'sqlite'}"\n`,
    );
  }
  return folder;
}

type SchemaFile = { path: string; content: string };

async function sqliteDiff(dir: string, schema: SchemaFile, scratchDir?: string): Promise<string | null> {
  const scratch = mkdtempSync(join(scratchDir ?? tmpdir(), 'loaphuong-migration-'));
  try {
    const target: DbTarget = { dialect: 'sqlite', file: join(scratch, 'scratch.db') };
    await applyMigrations(target, dir);
    return await withEngine(target, async (engine) => {
      const out = await engine.diff({
        from: { tag: 'schemaDatasource', files: [schema], configDir: PRISMA_DIR },
        to: { tag: 'schemaDatamodel', files: [schema] },
        script: true,
        exitCode: true,
        filters: NO_FILTERS,
      });
      return out.exitCode === 2 ? out.stdout : null;
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function postgresDiff(dir: string, schema: SchemaFile): Promise<string | null> {
  const last = readMigrations(dir).migrationDirectories.at(-1)?.path;
  const snapshot = last ? join(dir, last, SNAPSHOT) : undefined;
  if (snapshot && !existsSync(snapshot)) throw new Error(`${snapshot} is missing: the PostgreSQL history has no starting point`);
  // The engine opens a connection before it does anything; the diff itself reads nothing from it.
  const url = process.env.LP_PG_ADMIN_URL;
  if (!url) throw new Error('set LP_PG_ADMIN_URL to any PostgreSQL server (`node test/helpers/pg-cluster.mjs start` prints one)');
  const target: DbTarget = { dialect: 'postgres', url };
  return withEngine(target, async (engine) => {
    const out = await engine.diff({
      from: snapshot
        ? { tag: 'schemaDatamodel', files: [{ path: schema.path, content: readFileSync(snapshot, 'utf8') }] }
        : { tag: 'empty' },
      to: { tag: 'schemaDatamodel', files: [schema] },
      script: true,
      exitCode: true,
      filters: NO_FILTERS,
    });
    return out.exitCode === 2 ? out.stdout : null;
  });
}
