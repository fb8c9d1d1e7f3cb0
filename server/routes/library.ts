// The library: search, metadata, the approval workflow and its history.
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { ErrorBody, notFound } from '../http/errors.ts';
import { bearer, page } from '../http/schemas.ts';
import { CATEGORIES, type LibraryService, STATUSES } from '../services/library-service.ts';
import { MediaItem, toItem } from './media.ts';

const withUnit = { unit: { select: { code: true } } } as const;
const instant = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

export const libraryRoutes: FastifyPluginAsyncZod<{ db: Db; library: LibraryService; auth: preHandlerAsyncHookHandler }> = async (
  app,
  { db, library, auth },
) => {
  app.get(
    '/media',
    {
      preHandler: auth,
      schema: {
        tags: ['library'],
        summary: 'Search the library: text (with or without Vietnamese diacritics), status, category, unit, upload date',
        security: bearer,
        querystring: z.object({
          q: z.string().max(200).optional(),
          status: z.enum(STATUSES).optional(),
          category: z.enum(CATEGORIES).optional(),
          unit: z.string().max(20).optional(),
          from: instant.optional(),
          to: instant.optional(),
          ...page(500, 50),
        }),
        response: { 200: z.object({ total: z.number(), items: z.array(MediaItem) }) },
      },
    },
    async (request) => {
      const { unit, ...q } = request.query;
      const where = library.where({ ...q, unitCode: unit });
      const [total, rows] = await Promise.all([
        db.media.count({ where }),
        db.media.findMany({ where, include: withUnit, orderBy: { createdAt: 'desc' }, take: q.limit, skip: q.offset }),
      ]);
      return { total, items: rows.map(toItem) };
    },
  );

  app.get(
    '/media/:id',
    {
      preHandler: auth,
      schema: {
        tags: ['library'],
        summary: 'One library item',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: { 200: MediaItem, 404: ErrorBody },
      },
    },
    async (request) => {
      const item = await db.media.findUnique({ where: { id: request.params.id }, include: withUnit });
      if (!item) throw notFound('UNKNOWN_MEDIA', `unknown media ${request.params.id}`);
      return toItem(item);
    },
  );

  app.patch(
    '/media/:id',
    {
      preHandler: auth,
      schema: {
        tags: ['library'],
        summary: 'Edit title, description, category, tags, owning unit and validity window (draft or rejected items only)',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        body: z.object({
          title: z.string().min(1).max(200).optional(),
          description: z.string().max(5000).optional(),
          category: z.enum(CATEGORIES).optional(),
          tags: z.array(z.string().min(1).max(50)).max(20).optional(),
          unitCode: z.string().max(20).nullable().optional(),
          validFrom: instant.nullable().optional(),
          validUntil: instant.nullable().optional(),
        }),
        response: { 200: MediaItem, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      return toItem(await library.update(request.params.id, request.body));
    },
  );

  app.post(
    '/media/:id/:action',
    {
      preHandler: auth,
      schema: {
        tags: ['library'],
        summary: 'Move an item through the workflow: submit, approve, reject (with a reason) or archive',
        description: 'draft|rejected → submitted → approved|rejected; anything → archived. The approver is never the author.',
        security: bearer,
        params: z.object({ id: z.string().max(64), action: z.enum(['submit', 'approve', 'reject', 'archive']) }),
        body: z.object({ reason: z.string().max(500).optional() }).nullish(),
        response: { 200: MediaItem, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      const { id, action } = request.params;
      // biome-ignore lint/style/noNonNullAssertion: the auth pre-handler sets the user
      return toItem(await library.transition(id, action, request.user!, request.body?.reason));
    },
  );

  app.get(
    '/media/:id/history',
    {
      preHandler: auth,
      schema: {
        tags: ['library'],
        summary: 'Every workflow step of an item: who, when, from, to, why',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: {
          200: z.array(z.object({ from: z.string(), to: z.string(), by: z.string(), at: z.date(), reason: z.string().nullable() })),
        },
      },
    },
    async (request) =>
      (await library.history(request.params.id)).map((h) => ({ from: h.from, to: h.to, by: h.by.username, at: h.at, reason: h.reason })),
  );
};
