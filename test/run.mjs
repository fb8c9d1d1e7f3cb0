// `npm test`: lint, typecheck, then node-tap over test/. Ends with the plain line
// "N passed, N failed" that CI reads (tap's own summary is not in a form CI recognizes).
// N counts tap's assertions plus one each for the lint and typecheck steps.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

const bin = (name) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;
let passed = 0;
let failed = 0;

for (const [name, cmd, args] of [
  ['lint (biome)', bin('biome'), ['check', '--error-on-warnings', '.']],
  ['typecheck (tsc)', bin('tsc'), ['-p', 'tsconfig.json']],
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
  const m = /^# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/.exec(line);
  if (m) summary = { total: Number(m[1]), pass: Number(m[2]), fail: Number(m[3] ?? 0) };
});
tap.on('close', (code) => {
  if (summary) {
    passed += summary.pass;
    failed += summary.fail + Math.max(0, summary.total - summary.pass - summary.fail);
  }
  if (!summary || (code !== 0 && summary.fail === 0)) failed++;
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
});
