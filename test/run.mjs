// `npm test`: lint, typecheck, then node-tap over test/ on SQLite, then the tests that reach the server's
// database again on PostgreSQL (a private cluster, test/helpers/pg-cluster.mjs). Ends with the plain line
// "N passed, N failed, N skipped" that CI reads (tap's own summary is not in a form CI recognizes).
// N counts tap's assertions of both passes plus one each for the lint and typecheck steps; a skipped test (a
// tool this machine lacks, said so in its message) counts as skipped, never as passed or failed.
// Arguments (test files) run that selection on SQLite only; LP_TEST_DATABASES=sqlite skips the PostgreSQL pass.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, pgBin, startCluster, stopCluster } from './helpers/pg-cluster.mjs';

const bin = (name) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;
/** Each failed assertion as "file > subtest > … > assertion", printed again above the closing line. */
const failures = [];

for (const [name, cmd, args] of [
  ['lint (biome)', bin('biome'), ['check', '--error-on-warnings', '.']],
  ['typecheck (tsc)', bin('tsc'), ['-p', 'tsconfig.json']],
  ['typecheck console (tsc)', bin('tsc'), ['-p', 'console/tsconfig.json']],
  // The server as `npm start` runs it (compiled JavaScript): tests of the server program use it.
  ['build (server/build.mjs)', process.execPath, ['server/build.mjs', '--if-stale']],
]) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status === 0) {
    passed++;
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`not ok - ${name}`);
  }
}

/** One tap run; adds its counts to the totals. */
function tap(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin('tap'), ['--reporter=tap', ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let summary;
    const path = []; // the open subtests, by depth (4 spaces per level)
    const label = env.LP_TEST_PG_URL ? '[postgresql] ' : '';
    createInterface({ input: child.stdout }).on('line', (line) => {
      console.log(line);
      const sub = /^( *)# Subtest: (.*)$/.exec(line);
      if (sub) path.splice(sub[1].length / 4, Infinity, sub[2]);
      const bad = /^( *)not ok \d+ - (.*?)(?: # time=.*)?$/.exec(line);
      if (bad) {
        const where = [...path.slice(0, bad[1].length / 4), bad[2]].join(' > ');
        // a failed subtest repeats the failure inside it: keep only the innermost
        if (!failures.some((f) => f.startsWith(`${label}${where} > `))) failures.push(label + where);
      }
      // tap's closing count, e.g. "# { total: 12, pass: 9, fail: 1, skip: 2 }" (absent keys are 0)
      const m = /^# \{ (total: \d+.*) \}$/.exec(line);
      if (m) {
        const count = Object.fromEntries(
          m[1]
            .split(', ')
            .map((kv) => kv.split(': '))
            .map(([k, v]) => [k, Number(v)]),
        );
        summary = { total: count.total ?? 0, pass: count.pass ?? 0, fail: count.fail ?? 0, skip: (count.skip ?? 0) + (count.todo ?? 0) };
      }
    });
    child.on('close', (code) => {
      if (summary) {
        passed += summary.pass;
        skipped += summary.skip;
        failed += summary.fail + Math.max(0, summary.total - summary.pass - summary.fail - summary.skip);
      }
      if (!summary || (code !== 0 && summary.fail === 0)) failed++;
      resolve();
    });
  });
}

/** The PostgreSQL log's errors with their detail and statement lines, the last 60 lines of them. */
function printPgErrors(log) {
  const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n') : [];
  const kept = lines.filter((l) => /\b(ERROR|FATAL|DETAIL|STATEMENT|CONTEXT):/.test(l));
  console.log(`# the PostgreSQL log's errors (${kept.length} lines, the last 60):`);
  for (const l of kept.slice(-60)) console.log(`#   ${l}`);
}

/** The test files under these folders (tap takes files, not folders). */
function testFiles(dirs) {
  return dirs.flatMap((dir) =>
    readdirSync(dir, { recursive: true })
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => join(dir, f))
      .sort(),
  );
}

const selection = process.argv.slice(2);
// The guard against a hung file: the fault tests restart real server processes several times, and on a busy
// 2-core machine a file of them takes over 3 minutes (one test's own deadlines say what it waits for).
const GUARD = '--timeout=360';
await tap([GUARD, ...selection]);

// The second database: every test that reaches the server's database (server/, e2e/, console/). The agent's
// and the protocol's tests never touch it and run once.
if (!selection.length && process.env.LP_TEST_DATABASES !== 'sqlite') {
  if (!pgBin()) {
    skipped++;
    console.log('ok - PostgreSQL pass # SKIP PostgreSQL is not installed (apt-get install postgresql)');
  } else {
    console.log('# the tests of the server again, on PostgreSQL');
    const cluster = { dir: mkdtempSync(join(tmpdir(), 'loaphuong-pg-test-')), port: await freePort() };
    try {
      const url = startCluster(cluster);
      await tap([GUARD, ...testFiles(['test/server', 'test/e2e', 'test/console'])], { LP_TEST_PG_URL: url });
      // A failure the database saw (a deadlock, a constraint) is in its log, not in the test's output.
      if (failures.some((f) => f.startsWith('[postgresql] '))) printPgErrors(join(cluster.dir, 'server.log'));
    } catch (err) {
      failed++;
      console.log(`not ok - PostgreSQL pass: ${err.message}`);
    } finally {
      stopCluster(cluster);
      rmSync(cluster.dir, { recursive: true, force: true });
    }
  }
}
if (failures.length) console.log(`# failed:\n${failures.map((f) => `#   ${f}`).join('\n')}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 ? 0 : 1);
