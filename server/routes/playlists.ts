import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuthUser } from '../http/auth.ts';
import { ErrorBody } from '../http/errors.ts';
import { bearer, page } from '../http/schemas.ts';
import { allow, type Scopes } from '../http/scope.ts';
import { notFound } from '../services/errors.ts';
import { layout, type PlaylistService, type PlaylistWithItems } from '../services/playlist-service.ts';

const Items = z
  .array(z.object({ mediaId: z.string().min(1).max(64), gapAfterMs: z.int().min(0).max(600_000).default(0) }))
  .min(1)
  .max(200);
const Playlist = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string(),
  totalDurationMs: z.number(),
  items: z.array(
    z.object({
      position: z.number(),
      mediaId: z.string(),
      title: z.string(),
      status: z.string(),
      durationMs: z.number(),
      gapAfterMs: z.number(),
      offsetMs: z.number(),
    }),
  ),
  createdAt: z.date(),
  updatedAt: z.date(),
});

const toPlaylist = (p: PlaylistWithItems) => {
  const { offsets, totalMs } = layout(p.items.map((i) => ({ durationMs: i.media.durationMs, gapAfterMs: i.gapAfterMs })));
  return {
    id: p.id,
    title: p.title,
    description: p.description,
    totalDurationMs: totalMs,
    items: p.items.map((i, n) => ({
      position: i.position,
      mediaId: i.mediaId,
      title: i.media.title,
      status: i.media.status,
      durationMs: i.media.durationMs,
      gapAfterMs: i.gapAfterMs,
      offsetMs: offsets[n],
    })),
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  };
};

export const playlistRoutes: FastifyPluginAsyncZod<{
  playlists: PlaylistService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { playlists, scopes, auth }) => {
  // Playlists are content owned by their author's unit, under the same scope rules as library items.
  const reach = async (user: AuthUser | undefined, id: string, mode: 'use' | 'edit') => {
    const p = await playlists.getOrThrow(id);
    await scopes.content(user, p, mode, `playlist ${id}`, () => notFound('UNKNOWN_PLAYLIST', `unknown playlist ${id}`));
    return p;
  };
  app.post(
    '/playlists',
    {
      onRequest: auth,
      schema: {
        tags: ['playlists'],
        summary: 'Create a playlist: ordered library items, each with an optional gap after it',
        security: bearer,
        body: z.object({ title: z.string().min(1).max(200), description: z.string().max(5000).optional(), items: Items }),
        response: { 201: Playlist, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const user = allow(request.user, 'content');
      const visible = await scopes.contentFilter(user);
      return reply.status(201).send(toPlaylist(await playlists.create({ ...request.body, userId: user.id, unitId: user.unitId, visible })));
    },
  );

  app.put(
    '/playlists/:id/items',
    {
      onRequest: auth,
      schema: {
        tags: ['playlists'],
        summary: "Replace a playlist's items",
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        body: Items,
        response: { 200: Playlist, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const user = allow(request.user, 'content');
      await reach(user, request.params.id, 'edit');
      return toPlaylist(await playlists.replaceItems(request.params.id, request.body, await scopes.contentFilter(user)));
    },
  );

  app.get(
    '/playlists/:id',
    {
      onRequest: auth,
      schema: {
        tags: ['playlists'],
        summary: 'One playlist with its items, offsets and total duration',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: { 200: Playlist, 404: ErrorBody },
      },
    },
    async (request) => toPlaylist(await reach(request.user, request.params.id, 'use')),
  );

  app.get(
    '/playlists',
    {
      onRequest: auth,
      schema: {
        tags: ['playlists'],
        summary: 'Playlists, newest first',
        security: bearer,
        querystring: z.object({
          ...page(200, 50),
        }),
        response: { 200: z.object({ items: z.array(Playlist) }) },
      },
    },
    async (request) => ({
      items: (await playlists.list(request.query.limit, request.query.offset, await scopes.contentFilter(request.user))).map(toPlaylist),
    }),
  );
};
