// Content-addressed audio cache: a file is used only once its sha256 matches the manifest. Transfers
// resume with Range after a cut ([P-5.3]); the disk budget is kept by evicting what no manifest needs.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, statfs, truncate, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import type { Fetch } from './http.ts';

export type { Fetch };

export class HashMismatchError extends Error {
  readonly code = 'HASH_MISMATCH';
}

export interface CacheStats {
  items: number;
  bytes: number;
  diskFreeBytes: number;
}

const AUDIO = /^[0-9a-f]{64}\.ogg$/;

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

  /** Marks a file as just used, for least-recently-used eviction (mtime: many gateways mount noatime). */
  async touch(sha256: string, at: number): Promise<void> {
    const when = new Date(at);
    await utimes(this.path(sha256), when, when).catch(() => {});
  }

  private async entries(): Promise<{ name: string; bytes: number; usedAt: number }[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: { name: string; bytes: number; usedAt: number }[] = [];
    for (const name of names) {
      const s = await stat(join(this.dir, name)).catch(() => undefined);
      if (s?.isFile()) out.push({ name, bytes: s.size, usedAt: s.mtimeMs });
    }
    return out;
  }

  async stats(): Promise<CacheStats> {
    const files = await this.entries();
    const audio = files.filter((f) => AUDIO.test(f.name));
    await mkdir(this.dir, { recursive: true });
    const fs = await statfs(this.dir);
    return {
      items: audio.length,
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      diskFreeBytes: fs.bavail * fs.bsize,
    };
  }

  /**
   * Deletes files no manifest needs (`needed`: sha256s), least recently used first, until the cache
   * fits in `budgetBytes`; a partial transfer nobody needs goes too. Returns what it removed and the
   * bytes the cache holds afterwards.
   */
  async evict(needed: ReadonlySet<string>, budgetBytes: number): Promise<{ removed: string[]; bytes: number }> {
    const files = await this.entries();
    let total = files.reduce((n, f) => n + f.bytes, 0);
    const removed: string[] = [];
    const unneeded = files.filter((f) => !needed.has(f.name.slice(0, 64)) && !this.inflight.has(f.name.slice(0, 64)));
    // Partial transfers nobody needs any more go first, then whole files, least recently used first.
    const order = [
      ...unneeded.filter((f) => !AUDIO.test(f.name)),
      ...unneeded.filter((f) => AUDIO.test(f.name)).sort((a, b) => a.usedAt - b.usedAt),
    ];
    for (const f of order) {
      if (total <= budgetBytes && AUDIO.test(f.name)) break;
      await rm(join(this.dir, f.name), { force: true });
      total -= f.bytes;
      removed.push(f.name);
    }
    return { removed, bytes: total };
  }

  private readonly inflight = new Map<string, Promise<string>>();

  /**
   * Downloads url unless cached; verifies the hash before the file becomes visible. Concurrent
   * calls for one hash (prefetch and airtime) share one download. One attempt: the caller decides
   * when to retry, and a retry resumes where this one stopped.
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
    let offset = (await stat(part).catch(() => undefined))?.size ?? 0;
    const res = await this.deps.fetch(url, offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {});
    // An answer without audio is read to its end, so its connection closes.
    if (!res.ok) await res.text().catch(() => '');
    if (res.status === 416) {
      // The partial file is not a prefix of anything the server has: start again next time.
      await rm(part, { force: true });
      throw new Error(`GET ${url} refused the resume at ${offset} (416)`);
    }
    if (!res.ok || !res.body) throw new Error(`GET ${url} answered ${res.status}`);
    if (res.status !== 206 || !String(res.headers.get('content-range') ?? '').startsWith(`bytes ${offset}-`)) {
      // The server sent the whole file (or another range): keep none of the old part.
      offset = 0;
      await truncate(part, 0).catch(() => {});
    }
    const hash = createHash('sha256');
    if (offset > 0) for await (const chunk of createReadStream(part)) hash.update(chunk as Buffer);
    const tee = new Transform({
      transform(chunk, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    // A cut transfer leaves the part file with what arrived; the next attempt asks for the rest.
    const body = res.body instanceof Readable ? res.body : Readable.fromWeb(res.body as never);
    await pipeline(body, tee, createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' }));
    const actual = hash.digest('hex');
    if (actual !== sha256) {
      await rm(part, { force: true });
      throw new HashMismatchError(`audio from ${url} hashes to ${actual}, expected ${sha256}`);
    }
    // On disk before it has its name: a power cut must not leave a named file with missing bytes.
    const fh = await open(part, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(part, target);
    return target;
  }
}
