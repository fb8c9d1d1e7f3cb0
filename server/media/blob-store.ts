// Content-addressed audio store: <dir>/<sha256>.<ogg|mp3>, written by rename so a reader never sees half a file.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export type BlobKind = 'ogg' | 'mp3';
export const CONTENT_TYPES: Record<BlobKind, string> = { ogg: 'audio/ogg', mp3: 'audio/mpeg' };

export interface BlobStore {
  dir: string;
  /** Moves a finished file into the store; returns its hash and size. */
  adopt(tmpFile: string, kind?: BlobKind): Promise<{ sha256: string; sizeBytes: number }>;
  fileName(sha256: string, kind?: BlobKind): string;
  has(sha256: string): Promise<boolean>;
  /** Which rendition a hash names, if any. */
  find(sha256: string): Promise<{ fileName: string; kind: BlobKind } | null>;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

export async function createBlobStore(dir: string): Promise<BlobStore> {
  await mkdir(dir, { recursive: true });
  const fileName = (sha256: string, kind: BlobKind = 'ogg') => `${sha256}.${kind}`;
  const find = async (sha256: string) => {
    for (const kind of ['ogg', 'mp3'] as const)
      if (await exists(join(dir, fileName(sha256, kind)))) return { fileName: fileName(sha256, kind), kind };
    return null;
  };
  return {
    dir,
    fileName,
    async adopt(tmpFile, kind = 'ogg') {
      const sha256 = await sha256File(tmpFile);
      const { size } = await stat(tmpFile);
      const target = join(dir, fileName(sha256, kind));
      if (await exists(target)) await rm(tmpFile, { force: true });
      else await rename(tmpFile, target);
      return { sha256, sizeBytes: size };
    },
    find,
    has: async (sha256) => (await find(sha256)) !== null,
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
