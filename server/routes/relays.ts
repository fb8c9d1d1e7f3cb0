// Relays (tiếp sóng, [P-5.11]): a library item that is an upstream stream. Created here (checked as far as the
// server can), then submitted, approved and scheduled like any item.
import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import { requireCapability } from '../http/scope.ts';
import type { LibraryService } from '../services/library-service.ts';
import type { RelayService } from '../services/relay-service.ts';
import { MediaItem, toItem } from './media.ts';

const Create = z.strictObject({
  title: z.string().trim().min(1).max(200),
  urls: z.array(z.string().max(512)).min(1).max(3).describe('In failover order: the first is the one relayed while it carries sound'),
  durationMs: z
    .int()
    .min(10_000)
    .max(6 * 3600_000)
    .describe('The slot a relay of it fills (10 s to 6 hours): it ends exactly then'),
  fallbackMediaId: z.string().max(64).describe('The file that airs when every URL fails'),
  mode: z.enum(['direct', 'via-server']).default('direct'),
  deadAirS: z.int().min(2).max(120).optional().describe('Silence or no audio for this long switches source (default 10 s)'),
  recheckS: z.int().min(5).max(3600).optional().describe('How often the first URL is tried again while another plays (default 60 s)'),
  category: z.enum(['news', 'policy', 'emergency', 'announcement', 'music']).optional(),
});
const Check = z.object({
  url: z.string(),
  checked: z.boolean(),
  finalUrl: z.string().optional(),
  codec: z.string().optional(),
  contentType: z.string().optional(),
  reason: z.string().optional(),
  detail: z.string().optional(),
});

export const relayRoutes: FastifyPluginAsyncZod<{
  relays: RelayService;
  library: LibraryService;
  auth: onRequestAsyncHookHandler;
}> = async (app, { relays, library, auth }) => {
  app.post(
    '/media/relays',
    {
      onRequest: [auth, requireCapability('content')],
      schema: {
        tags: ['media'],
        summary: 'Create a relay (tiếp sóng) of an upstream stream: a draft library item, checked as far as the server can reach it',
        description:
          'Refused with INVALID_RELAY_URL, RELAY_HTTP_ERROR, RELAY_NOT_A_STREAM (a web page, no audio), RELAY_UNSUPPORTED_CODEC (gateways relay ' +
          'mp3, aac, opus, vorbis; HLS too), RELAY_REDIRECT_LOOP (more than 5 redirects), RELAY_MODE_UNSUPPORTED (via-server is not built yet), ' +
          'UNKNOWN_MEDIA (the fallback). A URL on a private address outside LP_RELAY_ALLOW, or that does not answer now, is stored unchecked: ' +
          '`checks` says which and why.',
        security: bearer,
        body: Create,
        response: { 201: z.object({ item: MediaItem, checks: z.array(Check) }), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const user = request.user;
      const { media, checks } = await relays.create({ ...request.body, unitId: user?.unitId ?? null, userId: user?.id ?? '' });
      return reply.status(201).send({ item: toItem(await library.get(media.id)), checks });
    },
  );
};
