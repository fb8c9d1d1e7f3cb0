import type { preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { badRequest, ErrorBody } from '../http/errors.ts';
import type { Metrics } from '../metrics.ts';
import type { MediaService } from '../services/media-service.ts';
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
  description: z.string(),
  category: z.string(),
  tags: z.array(z.string()),
  unitCode: z.string().nullable(),
  validFrom: z.date().nullable(),
  validUntil: z.date().nullable(),
  status: z.string(),
  statusReason: z.string().nullable(),
  createdAt: z.date(),
});

type MediaRow = Omit<z.infer<typeof MediaItem>, 'tags' | 'unitCode'> & { tags: string; unit?: { code: string } | null };
/** A stored row as the API shows it: tags parsed, the owning unit by code. */
export const toItem = ({ unit, tags, ...row }: MediaRow) => ({ ...row, tags: JSON.parse(tags) as string[], unitCode: unit?.code ?? null });
const security = [{ bearer: [] }];

export const mediaRoutes: FastifyPluginAsyncZod<{
  media: MediaService;
  tts: TtsService;
  metrics: Metrics;
  auth: preHandlerAsyncHookHandler;
}> = async (app, { media, tts, metrics, auth }) => {
  app.post(
    '/media',
    {
      preHandler: auth,
      schema: {
        tags: ['media'],
        summary: 'Upload an audio file (multipart field "file"); it is validated, transcoded to Opus mono 48 kHz and stored by sha256',
        description: 'The title comes from the query string, else a "title" field sent before the file, else the file name.',
        security,
        consumes: ['multipart/form-data'],
        querystring: z.object({ title: z.string().min(1).max(200).optional() }),
        response: { 200: MediaItem, 201: MediaItem, 400: ErrorBody, 413: ErrorBody },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) throw badRequest('NOT_MULTIPART', 'send the audio as multipart/form-data in a field named "file"');
      const file = await request.file();
      if (!file) throw badRequest('NO_FILE', 'no file in the request');
      const fieldTitle = file.fields.title && 'value' in file.fields.title ? String(file.fields.title.value) : undefined;
      const title = (request.query.title ?? fieldTitle ?? file.filename).slice(0, 200) || 'untitled';
      try {
        const { media: item, created } = await media.ingest({
          stream: file.file,
          fileName: file.filename,
          title,
          userId: request.user?.id,
          truncated: () => file.file.truncated,
        });
        metrics.uploads.inc({ result: created ? 'created' : 'existing' });
        return reply.status(created ? 201 : 200).send(toItem(item));
      } catch (err) {
        metrics.uploads.inc({ result: (err as { code?: string }).code ?? 'error' });
        throw err;
      }
    },
  );

  app.post(
    '/media/tts',
    {
      preHandler: auth,
      schema: {
        tags: ['media'],
        summary: 'Speak a Vietnamese text (espeak-ng by default, or the configured HTTP engine) and ingest it like an upload',
        security,
        body: z.object({
          title: z.string().min(1).max(200),
          text: z.string().min(1).max(20_000),
          voice: z
            .string()
            .regex(/^[a-z]{2,3}([-+][A-Za-z0-9]+)*$/)
            .default('vi'),
          speed: z.int().min(80).max(450).default(150),
          pitch: z.int().min(0).max(99).default(50),
          chime: z.enum(['none', 'intro', 'both']).default('none'),
        }),
        response: { 200: MediaItem, 201: MediaItem, 400: ErrorBody, 502: ErrorBody },
      },
    },
    async (request, reply) => {
      const { media: item, created } = await tts.create({ ...request.body, userId: request.user?.id });
      metrics.uploads.inc({ result: created ? 'tts_created' : 'tts_existing' });
      return reply.status(created ? 201 : 200).send(toItem(item));
    },
  );
};
