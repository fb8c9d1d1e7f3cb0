import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from './generated/client.ts';

export type Db = PrismaClient;

export async function openDatabase(file: string): Promise<Db> {
  const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${file}` }) });
  // WAL lets the HTTP API read while MQTT ingest writes; NORMAL sync is durable across process crashes.
  await prisma.$queryRawUnsafe('PRAGMA journal_mode = WAL');
  await prisma.$executeRawUnsafe('PRAGMA synchronous = NORMAL');
  await prisma.$executeRawUnsafe('PRAGMA foreign_keys = ON');
  return prisma;
}

/** Values bound in one `IN (…)` list; Prisma refuses a query over the driver adapter's parameter limit. */
export const MAX_IN = 900;

/** Splits a list into pieces small enough for one `IN (…)`. */
export const chunked = <T>(xs: T[], n = MAX_IN): T[][] =>
  Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));
