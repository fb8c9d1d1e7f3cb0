// `npm run db:migrate` applies pending migrations; `npm run db:migration -- <name>` creates one.
import { loadConfig } from '../config.ts';
import { applyMigrations, createMigration } from './migrate.ts';

const [command, name] = process.argv.slice(2);
try {
  if (command === 'apply') {
    const config = loadConfig(process.env);
    const applied = await applyMigrations(config.databaseFile);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } else if (command === 'create') {
    if (!name) throw new Error('usage: npm run db:migration -- <name>');
    const folder = await createMigration(name);
    console.log(folder ? `created ${folder}` : 'schema.prisma matches the migrations; nothing to create');
  } else {
    throw new Error('usage: migrate-cli.ts apply | create <name>');
  }
} catch (err) {
  console.error(`loaphuong: ${(err as Error).message}`);
  process.exit(1);
}
