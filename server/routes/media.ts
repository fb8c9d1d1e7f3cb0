import { readFile } from 'node:fs/promises';
import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody } from '../http/errors.ts';
import { type HttpLimits, uploadGuard } from '../http/limits.ts';
import { bearer } from '../http/schemas.ts';
import { requireCapability } from '../http/scope.ts';
import type { Metrics } from '../metrics.ts';
import { badRequest, notFound } from '../services/errors.ts';
import type { Job as JobRow, JobService } from '../services/job-service.ts';
import type { LibraryService } from '../services/library-service.ts';
import type { TtsService } from '../services/tts-service.ts';

export const MediaItem = z.object({
  id: z.string(),
  title: z.string(),
  sha256: z.string(),
  durationMs: z.number(),
  sizeBytes: z.number(),
  codec: z.string(),
  sampleRate: z.number(),
  channels: z.number(),
  sourceName: z.string(),
  sourceFormat: z.string(),
  sourceSizeBytes: z.number(),
  sourceDurationMs: z.number(),
  trimStartMs: z.number(),
  trimEndMs: z.number(),
  loudnessBeforeLufs: z.number().nullable(),
  truePeakBeforeDbtp: z.number().nullable(),
  loudnessRangeLu: z.number().nullable(),
  loudnessAfterLufs: z.number().nullable(),
  truePeakAfterDbtp: z.number().nullable(),
  gainDb: z.number(),
  limited: z.boolean(),
  mp3Sha256: z.string().nullable(),
  mp3SizeBytes: z.number().nullable(),
  description: z.string(),
  category: z.string(),
  tags: z.array(z.string()),
  unitCode: z.string().nullable(),
  validFrom: z.date().nullable(),
  validUntil: z.date().nullable(),
  status: z.string(),
  statusReason: z.string().nullable(),
  createdAt: z.date(),
  /** [P-5.11] A relay of an upstream stream: its URLs, mode, dead air and re-check periods, fallback file; null for a file. */
  relay: z
    .object({
      urls: z.array(z.string()),
      mode: z.string(),
      deadAirMs: z.number(),
      recheckMs: z.number(),
      fallbackMediaId: z.string().nullable(),
    })
    .nullable(),
});

type MediaRow = Omit<z.infer<typeof MediaItem>, 'tags' | 'unitCode' | 'relay'> & {
  tags: string;
  unit?: { code: string } | null;
  relay?: string | null;
  fallbackMediaId?: string | null;
};

/** A stored row as the API shows it: tags parsed, the owning unit by code, a relay's settings. */
export const toItem = ({ unit, tags, relay, fallbackMediaId, ...row }: MediaRow) => ({
  ...row,
  tags: JSON.parse(tags) as string[],
  unitCode: unit?.code ?? null,
  relay: relay
    ? {
        ...(JSON.parse(relay) as { urls: string[]; mode: string; deadAirMs: number; recheckMs: number }),
        fallbackMediaId: fallbackMediaId ?? null,
      }
    : null,
});

export const Job = z.object({
  id: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed']),
  progress: z.number(),
  attempts: z.number(),
  mediaId: z.string().nullable(),
  created: z.boolean().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: z.date(),
  startedAt: z.date().nullable(),
  finishedAt: z.date().nullable(),
});
const toJob = (j: JobRow) => ({
  id: j.id,
  status: j.status as z.infer<typeof Job>['status'],
  progress: j.progress,
  attempts: j.attempts,
  mediaId: j.mediaId,
  created: j.created,
  error: j.errorCode ? { code: j.errorCode, message: j.errorMessage ?? '' } : null,
  createdAt: j.createdAt,
  startedAt: j.startedAt,
  finishedAt: j.finishedAt,
});

export const mediaRoutes: FastifyPluginAsyncZod<{
  library: LibraryService;
  jobs: JobService;
  tts: TtsService;
  metrics: Metrics;
  auth: onRequestAsyncHookHandler;
  limits: HttpLimits;
}> = async (app, { library, jobs, tts, metrics, auth, limits }) => {
  // New items belong to the uploader's unit; a job is followed by whoever submitted it.
  const author = [auth, requireCapability('content')];
  app.post(
    '/media',
    {
      onRequest: author,
      schema: {
        tags: ['media'],
        summary: 'Upload an audio or video file (multipart field "file"); it becomes a normalised Opus item stored by sha256',
        description:
          'The title comes from the query string, else a "title" field sent before the file, else the file name. ' +
          'The upload is streamed to disk and processed by the job queue. By default the answer waits for the job (201, or 200 ' +
          'when the same audio already exists), but never longer than LP_UPLOAD_WAIT_MS (20 s): a long item answers 202 with the job; ' +
          'with ?async=true it is always 202 with the job, to follow at GET /api/v1/jobs/{id}.',
        security: bearer,
        consumes: ['multipart/form-data'],
        querystring: z.object({ title: z.string().min(1).max(200).optional(), async: z.enum(['true', 'false']).optional() }),
        response: { 200: MediaItem, 201: MediaItem, 202: Job, 400: ErrorBody, 413: ErrorBody },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) throw badRequest('NOT_MULTIPART', 'send the audio as multipart/form-data in a field named "file"');
      // A stalled or endless upload is refused (408) and its partial file removed, whatever part it stalls in.
      const guard = uploadGuard(request, reply, limits);
      try {
        const file = await Promise.race([request.file(), guard.failed]);
        if (!file) throw badRequest('NO_FILE', 'no file in the request');
        const fieldTitle = file.fields.title && 'value' in file.fields.title ? String(file.fields.title.value) : undefined;
        const title = (request.query.title ?? fieldTitle ?? file.filename).slice(0, 200) || 'untitled';
        guard.failed.catch((err: Error) => file.file.destroy(err));
        const job = await jobs.submit(
          file.file,
          { fileName: file.filename, title, userId: request.user?.id, unitId: request.user?.unitId },
          () => file.file.truncated,
        );
        guard.done();
        if (request.query.async === 'true') return reply.status(202).send(toJob(job));
        // A long item is not held on one request: past the wait the answer is 202 with the job to follow.
        const outcome = jobs.result(job.id);
        outcome.catch(() => {}); // the job records its own failure; a late one is read at GET /jobs/{id}
        let timer: NodeJS.Timeout | undefined;
        const waited = await Promise.race([
          outcome,
          new Promise<'later'>((resolve) => {
            timer = setTimeout(() => resolve('later'), limits.uploadWaitMs);
          }),
        ]).finally(() => clearTimeout(timer));
        if (waited === 'later') {
          metrics.uploads.inc({ result: 'queued' });
          return reply.status(202).send(toJob(await jobs.get(job.id)));
        }
        const { mediaId, created } = waited;
        metrics.uploads.inc({ result: created ? 'created' : 'existing' });
        return reply.status(created ? 201 : 200).send(toItem(await library.get(mediaId)));
      } catch (err) {
        guard.done();
        metrics.uploads.inc({ result: (err as { code?: string }).code ?? 'error' });
        throw err;
      }
    },
  );

  app.get(
    '/jobs/:id',
    {
      onRequest: auth,
      schema: {
        tags: ['media'],
        summary: 'A media job: status, progress 0..1 (for a progress bar), the item it made or why it failed',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: { 200: Job, 404: ErrorBody },
      },
    },
    async (request) => {
      const job = await jobs.get(request.params.id);
      const { userId } = JSON.parse(job.input) as { userId?: string };
      if (request.user?.unitId && userId !== request.user.id) throw notFound('UNKNOWN_JOB', `unknown job ${request.params.id}`);
      return toJob(job);
    },
  );

  const Speech = {
    text: z.string().min(1).max(20_000),
    voice: z
      .string()
      .regex(/^[a-z]{2,3}([-+][A-Za-z0-9]+)*$/)
      .default('vi'),
    speed: z.int().min(80).max(450).default(150),
    pitch: z.int().min(0).max(99).default(50),
    chime: z.enum(['none', 'intro', 'both']).default('none'),
  };

  app.post(
    '/media/tts/preview',
    {
      onRequest: author,
      schema: {
        tags: ['media'],
        summary: 'Speak a text to listen to it before saving: the answer is the speech as Ogg Opus, nothing is stored',
        description:
          'Same text and voice options as POST /media/tts (no title). The audio is as the engine spoke it; the saved item is then trimmed and normalised.',
        security: bearer,
        body: z.object(Speech),
        produces: ['audio/ogg'],
      },
    },
    async (request, reply) => {
      // Read whole (a preview at the item bitrate is a few MB at most) so the file is gone before the answer.
      const { file, done } = await tts.preview(request.body);
      const audio = await readFile(file).finally(done);
      return reply.type('audio/ogg').header('cache-control', 'no-store').send(audio);
    },
  );

  app.post(
    '/media/tts',
    {
      onRequest: author,
      schema: {
        tags: ['media'],
        summary: 'Speak a Vietnamese text (espeak-ng by default, or the configured HTTP engine) and ingest it like an upload',
        security: bearer,
        body: z.object({ title: z.string().min(1).max(200), ...Speech }),
        response: { 200: MediaItem, 201: MediaItem, 400: ErrorBody, 502: ErrorBody },
      },
    },
    async (request, reply) => {
      const { mediaId, created } = await tts.create({ ...request.body, userId: request.user?.id, unitId: request.user?.unitId });
      metrics.uploads.inc({ result: created ? 'tts_created' : 'tts_existing' });
      return reply.status(created ? 201 : 200).send(toItem(await library.get(mediaId)));
    },
  );
};
