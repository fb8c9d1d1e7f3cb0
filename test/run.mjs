// `npm test`: lint, typecheck, then node-tap over test/. Ends with the plain line
// "N passed, N failed, N skipped" that CI reads (tap's own summary is not in a form CI recognizes).
// N counts tap's assertions plus one each for the lint and typecheck steps; a skipped test (a tool this
// machine lacks, said so in its message) counts as skipped, never as passed or failed.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

const bin = (name) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;

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

const tap = spawn(bin('tap'), ['--reporter=tap', ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] });
let summary;
createInterface({ input: tap.stdout }).on('line', (line) => {
  console.log(line);
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
tap.on('close', (code) => {
  if (summary) {
    passed += summary.pass;
    skipped += summary.skip;
    failed += summary.fail + Math.max(0, summary.total - summary.pass - summary.fail - summary.skip);
  }
  if (!summary || (code !== 0 && summary.fail === 0)) failed++;
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(failed === 0 ? 0 : 1);
});
