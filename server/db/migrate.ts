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
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type { MigrationList, SchemaEngine as SchemaEngineType } from '@prisma/schema-engine-wasm';

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

async function withEngine<T>(databaseFile: string, fn: (engine: SchemaEngineType) => Promise<T>): Promise<T> {
  const { SchemaEngine } = await loadEngineModule();
  mkdirSync(dirname(resolve(databaseFile)), { recursive: true });
  // The engine never closes the connections it opens; track them so the file is released.
  const sqlite = new PrismaBetterSqlite3({ url: `file:${resolve(databaseFile)}` });
  const opened: SqlDriverAdapter[] = [];
  const factory: SqlMigrationAwareDriverAdapterFactory = {
    provider: sqlite.provider,
    adapterName: sqlite.adapterName,
    connect: async () => {
      const conn = await sqlite.connect();
      opened.push(conn);
      return conn;
    },
    connectToShadowDb: async () => {
      const conn = await sqlite.connectToShadowDb();
      opened.push(conn);
      return conn;
    },
  };
  const schema = readFileSync(SCHEMA_PATH, 'utf8');
  const engine = await SchemaEngine.new({ datamodels: [[SCHEMA_PATH, schema]] }, () => {}, bindMigrationAwareSqlAdapterFactory(factory));
  try {
    return await fn(engine);
  } finally {
    engine.free();
    for (const conn of opened) await conn.dispose();
  }
}

/** Applies every migration not yet applied; returns the names applied now. */
export async function applyMigrations(databaseFile: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  return withEngine(databaseFile, async (engine) => {
    const out = await engine.applyMigrations({ migrationsList: readMigrations(dir), filters: NO_FILTERS });
    return out.appliedMigrationNames;
  });
}

/**
 * Creates prisma/migrations/<timestamp>_<name>/migration.sql from the difference between
 * the migrations so far and schema.prisma. Returns the folder, or null when nothing changed.
 * The WASM engine's createMigration needs a shadow database it cannot open for SQLite, so
 * the history is replayed into a fresh scratch database and diffed against the schema.
 */
export async function createMigration(name: string, opts: { dir?: string; scratchDir?: string; now?: Date } = {}): Promise<string | null> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`migration name must match [a-z0-9_]+, got "${name}"`);
  const dir = opts.dir ?? MIGRATIONS_DIR;
  const scratchDir = mkdtempSync(join(opts.scratchDir ?? tmpdir(), 'loaphuong-migration-'));
  try {
    const scratch = join(scratchDir, 'scratch.db');
    await applyMigrations(scratch, dir);
    const script = await withEngine(scratch, async (engine) => {
      const files = [{ path: SCHEMA_PATH, content: readFileSync(SCHEMA_PATH, 'utf8') }];
      const out = await engine.diff({
        from: { tag: 'schemaDatasource', files, configDir: PRISMA_DIR },
        to: { tag: 'schemaDatamodel', files },
        script: true,
        exitCode: true,
        filters: NO_FILTERS,
      });
      return out.exitCode === 2 ? out.stdout : null;
    });
    if (!script) return null;
    const stamp = (opts.now ?? new Date()).toISOString().replace(/\D/g, '').slice(0, 14);
    const folder = join(dir, `${stamp}_${name}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'migration.sql'), script);
    const lock = join(dir, 'migration_lock.toml');
    if (!existsSync(lock)) {
      writeFileSync(
        lock,
        '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "sqlite"\n',
      );
    }
    return folder;
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
}
