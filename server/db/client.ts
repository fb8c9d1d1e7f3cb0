// The database: SQLite (one file, the default) or PostgreSQL (LP_DATABASE_URL=postgresql://…), each through
// its Prisma driver adapter and its own generated client. The two clients come from one schema.prisma and
// have the same models, so the rest of the server sees one type, `Db`; what differs between the databases
// (raw SQL, locks, sequences) sits behind `Dialect` (dialect.ts).
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { setDialect } from './dialect.ts';
import { PrismaClient } from './generated/client.ts';
import { PrismaClient as PgClient } from './generated-pg/client.ts';

export type Db = PrismaClient;

/** Where the data lives. */
export type DbTarget = { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string };

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

/** A target for a PostgreSQL URL, or else a SQLite file. */
export const dbTarget = (urlOrFile: string): DbTarget =>
  isPostgresUrl(urlOrFile) ? { dialect: 'postgres', url: urlOrFile } : { dialect: 'sqlite', file: urlOrFile };

/** Connections Prisma's pool keeps per server process on PostgreSQL (the proof ledger has its own). */
const PG_POOL = 10;

export async function openDatabase(target: DbTarget | string): Promise<Db> {
  const where = typeof target === 'string' ? dbTarget(target) : target;
  if (where.dialect === 'postgres') {
    // Same models and the same generated API: only the provider differs (see prisma/generate.mjs).
    const pg = new PgClient({ adapter: new PrismaPg({ connectionString: where.url, max: PG_POOL }) }) as unknown as Db;
    setDialect(pg, 'postgres');
    return pg;
  }
  const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${where.file}` }) });
  // WAL lets the HTTP API read while MQTT ingest writes; NORMAL sync is durable across process crashes.
  await prisma.$queryRawUnsafe('PRAGMA journal_mode = WAL');
  await prisma.$executeRawUnsafe('PRAGMA synchronous = NORMAL');
  await prisma.$executeRawUnsafe('PRAGMA foreign_keys = ON');
  setDialect(prisma, 'sqlite');
  return prisma;
}

/**
 * Options of an interactive transaction that writes a whole map at once (the first start's seed, an import):
 * Prisma's default 5 s expired the seed's on a loaded machine (5,054 ms), and the server could not start. Such a
 * transaction takes as long as its map needs; the limit is only there to end one that hangs.
 */
export const BULK_TX = { timeout: 120_000, maxWait: 30_000 };

/** Values bound in one `IN (…)` list; Prisma refuses a query over the driver adapter's parameter limit. */
export const MAX_IN = 900;

/** Splits a list into pieces small enough for one `IN (…)`. */
export const chunked = <T>(xs: T[], n = MAX_IN): T[][] =>
  Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));
