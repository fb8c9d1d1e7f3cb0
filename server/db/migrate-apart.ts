// The server's migrations in a worker thread of their own. Prisma's schema engine is WebAssembly (5 MB,
// compiled at load, with its own memory), used once at start: loaded on the main thread it stays resident
// for the server's life; in a thread it goes with the thread. The thread is a one-task Piscina pool, as the
// signature workers are (Piscina's own entry loads this module, TypeScript under tsx too).
import { Piscina } from 'piscina';
import type { DbTarget } from './client.ts';
import { applyMigrations } from './migrate.ts';

/** Applies every migration not yet applied, in a worker thread; returns the names applied now. */
export async function applyMigrationsApart(target: DbTarget): Promise<string[]> {
  // The thread runs this very module (compiled JavaScript, or TypeScript under tsx): its default export.
  const pool = new Piscina<DbTarget, string[]>({ filename: import.meta.url, minThreads: 0, maxThreads: 1 });
  try {
    return await pool.run(target);
  } finally {
    await pool.destroy();
  }
}

/** The thread's task. */
export default function migrate(target: DbTarget): Promise<string[]> {
  return applyMigrations(target);
}
