import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { ErrorBody } from '../http/errors.ts';
import { bearer, page } from '../http/schemas.ts';
import type { Scopes } from '../http/scope.ts';
import type { DispatchService } from '../services/dispatch-service.ts';
import { notFound } from '../services/errors.ts';

const Station = z.object({
  code: z.string(),
  name: z.string(),
  unitCode: z.string(),
  unitName: z.string(),
  unitType: z.string(),
  /** After a reform split the former commune: the units the station could belong to, to confirm (POST /stations/{code}/unit). */
  unitCandidates: z.array(z.object({ code: z.string(), name: z.string(), share: z.string() })).nullable(),
  online: z.boolean(),
  lastSeenAt: z.date().nullable(),
  manifestVersion: z.number(),
  address: z.string().nullable(),
  latitude: z.number().nullable(),
  longitude: z.number().nullable(),
  speakerPoints: z.number().nullable(),
  powerW: z.number().nullable(),
  connectivity: z.string().nullable(),
  installedAt: z.date().nullable(),
});
const Occurrence = z.object({
  id: z.string(),
  scheduleId: z.string(),
  station: z.string(),
  mediaId: z.string(),
  startsAt: z.date(),
  priority: z.string(),
  status: z.string(),
  startedAt: z.date().nullable(),
  endedAt: z.date().nullable(),
  playedMs: z.number().nullable(),
});
const Report = z.object({
  id: z.string(),
  kind: z.string(),
  reportedAt: z.date(),
  receivedAt: z.date(),
  playedMs: z.number().nullable(),
  rmsDbfs: z.number().nullable(),
  peakDbfs: z.number().nullable(),
});

type StationRow = Omit<z.infer<typeof Station>, 'unitCode' | 'unitName' | 'unitType' | 'unitCandidates'> & {
  unit: { code: string; name: string; type: string };
  unitCandidates: string | null;
};
const UNIT = { unit: { select: { code: true, name: true, type: true } } };
const toStation = ({ unit, ...s }: StationRow) => ({
  code: s.code,
  name: s.name,
  unitCode: unit.code,
  unitName: unit.name,
  unitType: unit.type,
  unitCandidates: s.unitCandidates ? (JSON.parse(s.unitCandidates) as { code: string; name: string; share: string }[]) : null,
  online: s.online,
  lastSeenAt: s.lastSeenAt,
  manifestVersion: s.manifestVersion,
  address: s.address,
  latitude: s.latitude,
  longitude: s.longitude,
  speakerPoints: s.speakerPoints,
  powerW: s.powerW,
  connectivity: s.connectivity,
  installedAt: s.installedAt,
});

/** A unit and everything below it, for trees up to four levels (province → district → commune → village). */
const belowUnit = (code: string) => ({
  OR: [{ code }, { parent: { code } }, { parent: { parent: { code } } }, { parent: { parent: { parent: { code } } } }],
});

const Delivery = z.object({
  station: z.string(),
  device: z.string(),
  version: z.number(),
  entries: z.number(),
  status: z.enum(['pending', 'delivered', 'failed', 'expired', 'superseded']),
  publishedAt: z.date(),
  ackedAt: z.date().nullable(),
  expiresAt: z.date(),
  errorCode: z.string().nullable(),
});

export const stationRoutes: FastifyPluginAsyncZod<{
  db: Db;
  dispatch: DispatchService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { db, dispatch, scopes, auth }) => {
  // Lists show the stations of the user's unit only; one station outside it is refused.
  app.get(
    '/deliveries',
    {
      onRequest: auth,
      schema: {
        tags: ['stations'],
        summary: 'Manifest deliveries (pending → delivered | failed | expired | superseded) with counts by status',
        description: 'Filter by station, by unit (every station below it), by status, or by publication time (since).',
        security: bearer,
        querystring: z.object({
          station: z.string().max(64).optional(),
          unit: z.string().max(20).optional(),
          status: Delivery.shape.status.optional(),
          since: z.iso.datetime({ offset: true }).optional(),
          ...page(1000, 100),
        }),
        response: {
          200: z.object({ total: z.number(), byStatus: z.record(z.string(), z.number()), items: z.array(Delivery) }),
        },
      },
    },
    async (request) => {
      const q = request.query;
      await dispatch.expireDeliveries();
      const mine = await scopes.unitFilter(request.user);
      const where = {
        AND: [{ station: mine }],
        ...(q.station ? { station: { code: q.station } } : {}),
        ...(q.unit
          ? { station: { unit: { OR: [{ code: q.unit }, { parent: { code: q.unit } }, { parent: { parent: { code: q.unit } } }] } } }
          : {}),
        ...(q.since ? { publishedAt: { gte: new Date(q.since) } } : {}),
      };
      const [groups, rows] = await Promise.all([
        db.manifestDelivery.groupBy({ by: ['status'], where, _count: { _all: true } }),
        db.manifestDelivery.findMany({
          where: { ...where, ...(q.status ? { status: q.status } : {}) },
          include: { station: { select: { code: true } } },
          orderBy: [{ publishedAt: 'desc' }, { version: 'desc' }, { device: 'asc' }],
          take: q.limit,
          skip: q.offset,
        }),
      ]);
      const byStatus = Object.fromEntries(groups.map((g) => [g.status, g._count._all]));
      return {
        total: q.status ? (byStatus[q.status] ?? 0) : groups.reduce((n, g) => n + g._count._all, 0),
        byStatus,
        items: rows.map(({ station, ...d }) => ({ ...d, station: station.code, status: d.status as z.infer<typeof Delivery>['status'] })),
      };
    },
  );

  app.get(
    '/stations',
    {
      onRequest: auth,
      schema: {
        tags: ['stations'],
        summary: 'Stations, optionally those of one commune or district',
        security: bearer,
        querystring: z.object({ unit: z.string().max(20).optional(), ...page(1000, 100) }),
        response: { 200: z.object({ total: z.number(), items: z.array(Station) }) },
      },
    },
    async (request) => {
      const { unit, limit, offset } = request.query;
      const where = { ...(unit ? { unit: belowUnit(unit) } : {}), ...(await scopes.unitFilter(request.user)) };
      const [total, rows] = await Promise.all([
        db.station.count({ where }),
        db.station.findMany({ where, include: UNIT, orderBy: { code: 'asc' }, take: limit, skip: offset }),
      ]);
      return { total, items: rows.map(toStation) };
    },
  );

  app.get(
    '/stations/:code',
    {
      onRequest: auth,
      schema: {
        tags: ['stations'],
        summary: 'One station',
        security: bearer,
        params: z.object({ code: z.string().max(64) }),
        response: { 200: Station, 404: ErrorBody },
      },
    },
    async (request) => {
      await scopes.station(request.user, request.params.code);
      const s = await db.station.findUnique({ where: { code: request.params.code }, include: UNIT });
      if (!s) throw notFound('UNKNOWN_STATION', `unknown station ${request.params.code}`);
      return toStation(s);
    },
  );

  app.get(
    '/occurrences',
    {
      onRequest: auth,
      schema: {
        tags: ['occurrences'],
        summary: 'Scheduled airings and their status (scheduled, playing, aired, partial, failed)',
        security: bearer,
        querystring: z.object({
          station: z.string().max(64).optional(),
          schedule: z.string().max(64).optional(),
          status: z.enum(['scheduled', 'playing', 'aired', 'partial', 'failed']).optional(),
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
          ...page(1000, 100),
        }),
        response: { 200: z.object({ total: z.number(), items: z.array(Occurrence) }) },
      },
    },
    async (request) => {
      const q = request.query;
      const where = {
        AND: [{ station: await scopes.unitFilter(request.user) }],
        ...(q.station ? { station: { code: q.station } } : {}),
        ...(q.schedule ? { scheduleId: q.schedule } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.from || q.to ? { startsAt: { ...(q.from ? { gte: new Date(q.from) } : {}), ...(q.to ? { lt: new Date(q.to) } : {}) } } : {}),
      };
      const [total, rows] = await Promise.all([
        db.occurrence.count({ where }),
        db.occurrence.findMany({
          where,
          include: { station: { select: { code: true } } },
          orderBy: { startsAt: 'asc' },
          take: q.limit,
          skip: q.offset,
        }),
      ]);
      return { total, items: rows.map(({ station, ...o }) => ({ ...o, station: station.code })) };
    },
  );

  app.get(
    '/occurrences/:id',
    {
      onRequest: auth,
      schema: {
        tags: ['occurrences'],
        summary: 'One airing with the playback reports that prove it',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: { 200: Occurrence.extend({ reports: z.array(Report) }), 404: ErrorBody },
      },
    },
    async (request) => {
      const o = await db.occurrence.findUnique({
        where: { id: request.params.id },
        include: { station: { select: { code: true } }, reports: { orderBy: { receivedAt: 'asc' } } },
      });
      if (!o) throw notFound('UNKNOWN_OCCURRENCE', `unknown occurrence ${request.params.id}`);
      await scopes.station(request.user, o.station.code);
      const { station, reports, ...rest } = o;
      return { ...rest, station: station.code, reports };
    },
  );
};
