// `npm run build`: compiles server/ and firmware-protocol/src/ to JavaScript beside their sources (the
// same folders, so every path relative to a module still holds), for `npm start` to run under plain node.
// `--if-stale` compiles only when a .ts file is newer than its .js (or has none). tsx stays for development
// and tests.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = ['server', 'firmware-protocol/src'];

function* tsFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

const stale = () =>
  SOURCES.some((dir) =>
    [...tsFiles(join(root, dir))].some((ts) => {
      const js = `${ts.slice(0, -3)}.js`;
      return !existsSync(js) || statSync(js).mtimeMs < statSync(ts).mtimeMs;
    }),
  );

if (!process.argv.includes('--if-stale') || stale()) {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  // Type checking is the test suite's job (npm test); this only emits.
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--noCheck'], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('loaphuong: compiling the server failed');
    process.exit(r.status ?? 1);
  }
}
