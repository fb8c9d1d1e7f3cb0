// Content-addressed audio cache: a file is used only once its sha256 matches the manifest.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
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

  private readonly inflight = new Map<string, Promise<string>>();

  /**
   * Downloads url unless cached; verifies the hash before the file becomes visible. Concurrent
   * calls for one hash (prefetch and airtime) share one download.
   */
  ensure(sha256: string, url: string): Promise<string> {
    let pending = this.inflight.get(sha256);
    if (!pending) {
      pending = this.download(sha256, url).finally(() => this.inflight.delete(sha256));
      this.inflight.set(sha256, pending);
    }
    return pending;
  }

  private async download(sha256: string, url: string): Promise<string> {
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
