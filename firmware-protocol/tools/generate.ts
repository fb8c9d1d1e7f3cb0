// `npm run protocol:generate`: rewrites firmware-protocol/schemas/ and firmware-protocol/vectors/.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schemaFiles, vectorFiles } from './artifacts.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const [dir, files] of [
  ['schemas', schemaFiles()],
  ['vectors', vectorFiles()],
] as const) {
  const path = join(root, dir);
  mkdirSync(path, { recursive: true });
  for (const old of readdirSync(path)) if (old.endsWith('.json')) rmSync(join(path, old));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(path, name), content);
  console.log(`${dir}: ${Object.keys(files).length} files`);
}
