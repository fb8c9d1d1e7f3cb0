// Content-addressed audio store: <dir>/<sha256>.ogg, written by rename so a reader never sees half a file.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface BlobStore {
  dir: string;
  /** Moves a finished file into the store; returns its hash and size. */
  adopt(tmpFile: string): Promise<{ sha256: string; sizeBytes: number }>;
  fileName(sha256: string): string;
  has(sha256: string): Promise<boolean>;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

export async function createBlobStore(dir: string): Promise<BlobStore> {
  await mkdir(dir, { recursive: true });
  const fileName = (sha256: string) => `${sha256}.ogg`;
  return {
    dir,
    fileName,
    async adopt(tmpFile) {
      const sha256 = await sha256File(tmpFile);
      const { size } = await stat(tmpFile);
      const target = join(dir, fileName(sha256));
      if (await exists(target)) await rm(tmpFile, { force: true });
      else await rename(tmpFile, target);
      return { sha256, sizeBytes: size };
    },
    has: (sha256) => exists(join(dir, fileName(sha256))),
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
