// Content-addressed audio cache: a file is used only once its sha256 matches the manifest.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export type Fetch = typeof fetch;

export class HashMismatchError extends Error {
  readonly code = 'HASH_MISMATCH';
}

export class AudioCache {
  constructor(
    private readonly dir: string,
    private readonly deps: { fetch: Fetch },
  ) {}

  path(sha256: string): string {
    return join(this.dir, `${sha256}.ogg`);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await stat(this.path(sha256));
      return true;
    } catch {
      return false;
    }
  }

  /** Downloads baseUrl+path unless cached; verifies the hash before the file becomes visible. */
  async ensure(sha256: string, url: string): Promise<string> {
    const target = this.path(sha256);
    if (await this.has(sha256)) return target;
    await mkdir(this.dir, { recursive: true });
    const part = `${target}.part`;
    const res = await this.deps.fetch(url);
    if (!res.ok || !res.body) throw new Error(`GET ${url} answered ${res.status}`);
    const hash = createHash('sha256');
    const tee = new Transform({
      transform(chunk, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body as never), tee, createWriteStream(part));
    const actual = hash.digest('hex');
    if (actual !== sha256) {
      await rm(part, { force: true });
      throw new HashMismatchError(`audio from ${url} hashes to ${actual}, expected ${sha256}`);
    }
    await rename(part, target);
    return target;
  }
}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
