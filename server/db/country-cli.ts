// `npm run import:country [-- --with-history]`: the 34 provinces and 3,321 communes of 2025 into the
// configured database (server/services/country-import.ts); with history, each province's 2024 tree and a
// station per 2024 commune, merged on 2025-07-01. Run it with the server stopped, or use the API
// (POST /api/v1/units/country/import), which also tells running gateways about the moves.
import { loadConfig } from '../config.ts';
import { CountryImport } from '../services/country-import.ts';
import { MergerService } from '../services/merger-service.ts';
import { UnitService } from '../services/unit-service.ts';
import { openDatabase } from './client.ts';
import { applyMigrations } from './migrate.ts';

const args = process.argv.slice(2).filter((a) => a !== '--');
if (args.some((a) => a !== '--with-history')) {
  console.error('usage: npm run import:country [-- --with-history]');
  process.exit(2);
}
try {
  const config = loadConfig(process.env);
  await applyMigrations(config.database);
  const db = await openDatabase(config.database);
  const now = () => new Date();
  const units = new UnitService({ db, now });
  const result = await new CountryImport({ db, units, mergers: new MergerService({ db, now, units }) }).run({
    history: args.includes('--with-history'),
  });
  console.log(JSON.stringify(result, null, 2));
  await db.$disconnect();
} catch (err) {
  console.error(`loaphuong: ${(err as Error).message}`);
  process.exit(1);
}
