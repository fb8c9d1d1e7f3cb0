// `npm run verify -- <station> <YYYY-MM-DD>`: re-checks a station's proofs of play of one Hanoi day in
// the server's database (hash chain, device signatures, stored fields). Exit 0 when every proof holds,
// 1 when one does not (each problem printed), 2 on bad usage.

import { verifyProofDay } from './compliance/verify-day.ts';
import { loadConfig } from './config.ts';
import { openDatabase } from './db/client.ts';

const [station, day] = process.argv.slice(2);
if (!station || !day || !/^\d{4}-\d{2}-\d{2}$/.test(day)) {
  console.error('usage: npm run verify -- <station code> <YYYY-MM-DD>');
  process.exit(2);
}
const db = await openDatabase(loadConfig(process.env).database);
try {
  const result = await verifyProofDay(db, station, day);
  console.log(JSON.stringify(result, null, 2));
  console.log(
    result.ok ? `OK: ${result.proofs} proofs verified` : `FAILED: ${result.problems.length} problem(s) in ${result.proofs} proofs`,
  );
  process.exitCode = result.ok ? 0 : 1;
} catch (err) {
  console.error(`loaphuong: ${(err as Error).message}`);
  process.exitCode = 2;
} finally {
  await db.$disconnect();
}
