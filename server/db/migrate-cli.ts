// `npm run db:migrate` applies pending migrations; `npm run db:migration -- <name>` creates one for each
// kind of database: SQLite's, and PostgreSQL's when LP_PG_ADMIN_URL names a server for the schema engine to
// connect to (any will do; `node test/helpers/pg-cluster.mjs start` runs a private one and prints its URL).
import { loadConfig } from '../config.ts';
import { applyMigrations, createMigration } from './migrate.ts';

const [command, name] = process.argv.slice(2);
try {
  if (command === 'apply') {
    const config = loadConfig(process.env);
    const applied = await applyMigrations(config.database);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } else if (command === 'create') {
    if (!name) throw new Error('usage: npm run db:migration -- <name>');
    const folder = await createMigration(name);
    console.log(folder ? `created ${folder}` : 'schema.prisma matches the SQLite migrations; nothing to create');
    if (process.env.LP_PG_ADMIN_URL) {
      const pgFolder = await createMigration(name, { dialect: 'postgres' });
      console.log(pgFolder ? `created ${pgFolder}` : 'schema.prisma matches the PostgreSQL migrations; nothing to create');
    } else console.warn('LP_PG_ADMIN_URL is not set: no PostgreSQL migration made (see prisma/README.md)');
  } else {
    throw new Error('usage: migrate-cli.ts apply | create <name>');
  }
} catch (err) {
  console.error(`loaphuong: ${(err as Error).message}`);
  process.exit(1);
}
