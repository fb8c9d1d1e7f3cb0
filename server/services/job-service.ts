import { EventEmitter } from 'node:events';
// A bounded, durable queue of ingest jobs. The source file waits in the uploads folder until its
// job ends; outputs appear only by rename; a job cut short by a crash is retried on the next start
// (up to MAX_ATTEMPTS), then failed visibly with INTERRUPTED.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import PQueue from 'p-queue';
import type { Db } from '../db/client.ts';
import type { Job } from '../db/generated/client.ts';

export type { Job };

import { asErrorKind, DomainError, notFound } from './errors.ts';
import type { IngestMeta, MediaService } from './media-service.ts';

export const MAX_ATTEMPTS = 3;
/** Progress is written to the database at most this often per job; readers see memory first. */
const PROGRESS_WRITE_MS = 1000;

interface IngestJobInput extends IngestMeta {
  source: string;
}

export class JobService {
  private readonly queue: PQueue;
  private readonly progress = new Map<string, number>();
  private readonly waiters = new Map<string, ((job: Job) => void)[]>();
  /** Emits ('progress', jobId, share 0–1) as an encode advances: for monitoring and tests. */
  readonly events = new EventEmitter();

  constructor(
    private readonly deps: {
      db: Db;
      media: MediaService;
      now: () => Date;
      concurrency: number;
      uploadsDir: string;
      tmpDir: string;
      /** Records how long a successful job took (a metrics histogram). */
      observeSeconds?: (seconds: number) => void;
      log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
    },
  ) {
    this.queue = new PQueue({ concurrency: deps.concurrency });
  }

  /** On start: no job of this process runs yet, so its temporary files are leftovers and its running jobs were interrupted. */
  async recover(): Promise<{ requeued: number; failed: number }> {
    const { db } = this.deps;
    await mkdir(this.deps.uploadsDir, { recursive: true });
    await rm(this.deps.tmpDir, { recursive: true, force: true });
    await mkdir(this.deps.tmpDir, { recursive: true });
    const requeue: string[] = [];
    const keep = new Set<string>();
    let failed = 0;
    for (const job of await db.job.findMany({ where: { status: { in: ['queued', 'running'] } }, orderBy: { createdAt: 'asc' } })) {
      const input = JSON.parse(job.input) as IngestJobInput;
      // A job belongs to the process that received its upload (its own uploads folder): another process
      // sharing the database runs its own jobs.
      if (!input.source.startsWith(`${this.deps.uploadsDir}/`)) continue;
      if (job.status === 'running' && (job.attempts >= MAX_ATTEMPTS || !existsSync(input.source))) {
        await this.finish(job.id, input, {
          status: 'failed',
          errorCode: 'INTERRUPTED',
          errorKind: 'internal',
          errorMessage: `stopped ${job.attempts} time(s) while processing`,
        });
        failed++;
        continue;
      }
      await db.job.update({ where: { id: job.id }, data: { status: 'queued', progress: 0 } });
      requeue.push(job.id);
      keep.add(input.source);
    }
    // Sources without a job (a crash between receiving and recording) are deleted before anything runs.
    for (const f of await readdir(this.deps.uploadsDir))
      if (!keep.has(join(this.deps.uploadsDir, f))) await rm(join(this.deps.uploadsDir, f), { force: true });
    for (const id of requeue) this.enqueue(id);
    const requeued = requeue.length;
    return { requeued, failed };
  }

  /** Receives the upload durably, records the job and queues it. */
  async submit(stream: Readable, meta: IngestMeta, truncated?: () => boolean): Promise<Job> {
    const source = await this.deps.media.receive(stream, this.deps.uploadsDir, truncated);
    const input: IngestJobInput = { ...meta, source };
    const job = await this.deps.db.job.create({ data: { kind: 'ingest', input: JSON.stringify(input) } });
    this.enqueue(job.id);
    return job;
  }

  async get(id: string): Promise<Job> {
    const job = await this.deps.db.job.findUnique({ where: { id } });
    if (!job) throw notFound('UNKNOWN_JOB', `unknown job ${id}`);
    return { ...job, progress: this.progress.get(id) ?? job.progress };
  }

  /** Resolves when the job has ended (succeeded or failed). */
  async wait(id: string): Promise<Job> {
    // Listen first, then look: a job that ends while the status is being read still wakes us.
    const ended = new Promise<Job>((resolve) => this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]));
    const job = await this.get(id);
    if (job.status === 'succeeded' || job.status === 'failed') {
      this.waiters.delete(id); // it has ended: nobody needs to be woken any more
      return job;
    }
    return ended;
  }

  /** Waits for the job; resolves with the item it made, or throws its failure as the API error. */
  async result(id: string): Promise<{ mediaId: string; created: boolean }> {
    const done = await this.wait(id);
    if (done.status === 'failed' || !done.mediaId) {
      throw new DomainError(asErrorKind(done.errorKind), done.errorCode ?? 'INTERNAL', done.errorMessage ?? 'processing failed');
    }
    return { mediaId: done.mediaId, created: done.created ?? false };
  }

  async stop(): Promise<void> {
    this.queue.clear();
    await this.queue.onIdle();
  }

  private enqueue(id: string): void {
    void this.queue.add(() => this.run(id));
  }

  private async run(id: string): Promise<void> {
    const { db, media, now, log } = this.deps;
    const job = await db.job.update({ where: { id }, data: { status: 'running', startedAt: now(), attempts: { increment: 1 } } });
    const input = JSON.parse(job.input) as IngestJobInput;
    let lastWrite = 0;
    // Progress writes are not awaited by the encoder, but the final state must land after the last one.
    let written: Promise<unknown> = Promise.resolve();
    const onProgress = (p: number) => {
      this.progress.set(id, p);
      this.events.emit('progress', id, p);
      const t = Date.now();
      if (t - lastWrite >= PROGRESS_WRITE_MS) {
        lastWrite = t;
        written = written.then(() => db.job.update({ where: { id }, data: { progress: p } })).catch(() => {});
      }
    };
    const started = performance.now();
    try {
      const { media: item, created } = await media.process(input.source, input, onProgress);
      this.deps.observeSeconds?.((performance.now() - started) / 1000);
      await written;
      await this.finish(id, input, { status: 'succeeded', progress: 1, mediaId: item.id, created });
      log.info({ job: id, media: item.id, created }, 'ingest job succeeded');
    } catch (err) {
      const e = err instanceof DomainError ? err : new DomainError('internal', 'INTERNAL', 'processing failed');
      if (!(err instanceof DomainError)) log.error({ job: id, err }, 'ingest job crashed');
      await written;
      await this.finish(id, input, { status: 'failed', errorCode: e.code, errorKind: e.kind, errorMessage: e.message });
    }
  }

  private async finish(id: string, input: IngestJobInput, data: Partial<Job>): Promise<void> {
    await rm(input.source, { force: true });
    const job = await this.deps.db.job.update({ where: { id }, data: { ...data, finishedAt: this.deps.now() } });
    this.progress.delete(id);
    for (const resolve of this.waiters.get(id) ?? []) resolve(job);
    this.waiters.delete(id);
  }
}
