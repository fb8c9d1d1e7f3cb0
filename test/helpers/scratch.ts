// Scratch directories for test servers, gateways and server processes, removed when the test process exits
// (a test may restart a server on the same directory, so not before). A CI run made about 250 of them and
// left every one behind. LP_KEEP_TEST_DIRS=1 keeps them, to look at after a failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!made.length && process.env.LP_KEEP_TEST_DIRS !== '1')
    process.once('exit', () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    });
  made.push(dir);
  return dir;
}
