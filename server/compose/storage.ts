// Storage: the data directory, the database (migrated, seeded), the server's signing keys, the sealing
// key of TOTP secrets, the content-addressed blob store and the proof ledger.
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadOrCreateSecretBox } from '../auth/secret-box.ts';
import { sealStoredTotpSecrets } from '../auth/totp.ts';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/client.ts';
import { applyMigrationsApart } from '../db/migrate-apart.ts';
import { openProofLedger } from '../db/proof-ledger.ts';
import { seedIfEmpty } from '../db/seed.ts';
import { loadOrCreateServerKey } from '../keys.ts';
import { createBlobStore } from '../media/blob-store.ts';
import type { Parts } from './parts.ts';

export type Storage = Awaited<ReturnType<typeof openStorage>>;

export async function openStorage(config: Config, log: Logger, now: () => Date, parts: Parts) {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  // Password hashes, TOTP secrets and the signing keys live here: only the server's user may read them.
  const dirMode = (await stat(config.dataDir)).mode & 0o777;
  if (dirMode & 0o077)
    log.warn({ dataDir: config.dataDir, mode: dirMode.toString(8) }, 'the data directory is readable by other users: chmod 700 it');
  const appliedMigrations = await applyMigrationsApart(config.database);
  // SQLite gives its -wal and -shm files the database file's mode, so this one chmod covers them too.
  if (config.database.dialect === 'sqlite')
    for (const file of [config.databaseFile, `${config.databaseFile}-wal`, `${config.databaseFile}-shm`])
      await chmod(file, 0o600).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
  if (appliedMigrations.length) log.info({ migrations: appliedMigrations, database: config.database.dialect }, 'database migrated');
  const db = await openDatabase(config.database);
  parts.add('database', () => db.$disconnect());
  const seed =
    config.seed !== 'none'
      ? await seedIfEmpty(db, { adminPassword: config.adminPassword, policy: config.seedPolicy, map: config.seed })
      : { seeded: false, units: 0, stations: 0 };
  const key = loadOrCreateServerKey(config.dataDir, () => now().getTime());
  // TOTP secrets are sealed with a key file beside the signing keys; any stored in clear are sealed now.
  const secrets = loadOrCreateSecretBox(config.dataDir);
  const sealed = await sealStoredTotpSecrets(db, secrets);
  if (sealed) log.info({ users: sealed }, 'sealed TOTP secrets stored in clear');
  if (seed.admin) {
    // The first administrator's password goes to a file only the server's user reads, never to the log.
    seed.admin.passwordFile = join(config.dataDir, 'first-admin-password.txt');
    await writeFile(seed.admin.passwordFile, `${seed.admin.username}\n${seed.admin.password}\n`, { mode: 0o600 });
    await chmod(seed.admin.passwordFile, 0o600);
  }
  const blobs = await createBlobStore(join(config.dataDir, 'blobs'));
  // The proof ledger's own connection: the ingest's hot path (closed by the ingest, after its queue drained).
  const ledger = openProofLedger(config.database);
  /** The database answers (for /health). */
  const ping = async (): Promise<{ ok: boolean; detail?: string }> => {
    try {
      await db.$queryRawUnsafe('SELECT 1');
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  };
  return { db, seed, appliedMigrations, key, secrets, blobs, ledger, ping };
}
