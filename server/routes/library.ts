// The library: search, metadata, the approval workflow and its history.
import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { recordFields } from '../http/audit-change.ts';
import type { AuthUser } from '../http/auth.ts';
import { ErrorBody } from '../http/errors.ts';
import { bearer, page } from '../http/schemas.ts';
import { allow, type Scopes } from '../http/scope.ts';
import { notFound } from '../services/errors.ts';
import { CATEGORIES, type LibraryService, STATUSES } from '../services/library-service.ts';
import type { MediaService } from '../services/media-service.ts';
import type { UnitService } from '../services/unit-service.ts';
import { MediaItem, toItem } from './media.ts';

const instant = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

export const libraryRoutes: FastifyPluginAsyncZod<{
  library: LibraryService;
  units: UnitService;
  media: MediaService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { library, units, media, scopes, auth }) => {
  /** Refuses an item out of the user's sight (404) or, to change it, outside their unit (403). */
  const reach = async (user: AuthUser | undefined, id: string, mode: 'use' | 'edit') => {
    const item = await library.owner(id);
    const unknown = () => notFound('UNKNOWN_MEDIA', `unknown media ${id}`);
    if (!item) throw unknown();
    await scopes.content(user, item, mode, `media ${id}`, unknown);
  };
  app.get(
    '/media',
    {
      onRequest: auth,
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
          /** edit: only what this user may change or approve (owned by their unit or below), e.g. their approval queue. */
          reach: z.enum(['use', 'edit']).default('use'),
          ...page(500, 50),
        }),
        response: { 200: z.object({ total: z.number(), items: z.array(MediaItem) }) },
      },
    },
    async (request) => {
      const { unit, reach, ...q } = request.query;
      const where = {
        AND: [
          library.where({ ...q, unitCode: unit }),
          await scopes.contentFilter(request.user),
          ...(reach === 'edit' ? [await scopes.editFilter(request.user)] : []),
        ],
      };
      const { total, rows } = await library.search(where, q);
      return { total, items: rows.map(toItem) };
    },
  );

  app.get(
    '/media/:id',
    {
      onRequest: auth,
      schema: {
        tags: ['library'],
        summary: 'One library item',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: { 200: MediaItem, 404: ErrorBody },
      },
    },
    async (request) => {
      await reach(request.user, request.params.id, 'use');
      return toItem(await library.get(request.params.id));
    },
  );

  app.get(
    '/media/:id/levels',
    {
      onRequest: auth,
      schema: {
        tags: ['library'],
        summary: 'The level strip of an item: RMS and peak level (dBFS, whole dB, floor -90) of each of up to 200 equal slices',
        description:
          'Measured on the stored audio when it is made (items stored earlier: on the first request). 404 NO_LEVELS when the audio is not in the store.',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: {
          200: z.object({ sliceMs: z.number(), rmsDbfs: z.array(z.number()), peakDbfs: z.array(z.number()) }),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      await reach(request.user, request.params.id, 'use');
      const levels = await media.levelsOf(request.params.id);
      if (!levels) throw notFound('NO_LEVELS', `the audio of media ${request.params.id} is not in the store`);
      return levels;
    },
  );

  app.patch(
    '/media/:id',
    {
      onRequest: auth,
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
      const user = allow(request.user, 'content');
      await reach(user, request.params.id, 'edit');
      const { unitCode } = request.body;
      // A new owner must lie in the editor's unit too (only a whole-tree user can hand an item to the province).
      if (unitCode !== undefined) {
        const unit = unitCode === null ? null : (await units.tree()).byCode.get(unitCode);
        if (unitCode === null || unit) await scopes.units(user, [unit?.id ?? null], `unit ${unitCode ?? '(province)'}`);
      }
      const before = toItem(await library.get(request.params.id));
      const after = toItem(await library.update(request.params.id, request.body));
      recordFields(request, before, after, Object.keys(request.body) as (keyof typeof after)[]);
      return after;
    },
  );

  app.post(
    '/media/:id/:action',
    {
      onRequest: auth,
      schema: {
        tags: ['library'],
        summary: 'Move an item through the workflow: submit, approve, reject (with a reason) or archive',
        description:
          'draft|rejected → submitted → approved|rejected; anything → archived. The approver is never the author. Archiving (or rejecting) an ' +
          'approved item cancels its airings still to come (skipped, reason cancelled; the gateways get new plans): cancelledAirings says how many.',
        security: bearer,
        params: z.object({ id: z.string().max(64), action: z.enum(['submit', 'approve', 'reject', 'archive']) }),
        body: z.object({ reason: z.string().max(500).optional() }).nullish(),
        response: {
          200: MediaItem.extend({ cancelledAirings: z.number().optional() }),
          400: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request) => {
      const { id, action } = request.params;
      // Approval is the approver's (checked by the workflow); submitting and archiving are the authors'.
      const user = action === 'approve' || action === 'reject' ? request.user : allow(request.user, 'content');
      await reach(user, id, 'edit');
      const { status } = await library.get(id);
      // biome-ignore lint/style/noNonNullAssertion: the auth pre-handler sets the user
      const moved = await library.transition(id, action, user!, request.body?.reason);
      const after = toItem(moved);
      request.auditChange = { before: { status }, after: { status: after.status, reason: request.body?.reason ?? null } };
      // Withdrawing an approved item cancels its airings to come; the answer says how many.
      return { ...after, ...(moved.cancelledAirings ? { cancelledAirings: moved.cancelledAirings } : {}) };
    },
  );

  app.get(
    '/media/:id/history',
    {
      onRequest: auth,
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
    async (request) => {
      await reach(request.user, request.params.id, 'use');
      return (await library.history(request.params.id)).map((h) => ({
        from: h.from,
        to: h.to,
        by: h.by.username,
        at: h.at,
        reason: h.reason,
      }));
    },
  );
};
