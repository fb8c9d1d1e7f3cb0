import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody } from '../http/errors.ts';
import { bearer, page } from '../http/schemas.ts';
import type { Scopes } from '../http/scope.ts';
import type { DispatchService } from '../services/dispatch-service.ts';
import type { StationService } from '../services/station-service.ts';
import type { UnitService } from '../services/unit-service.ts';

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
  stations: StationService;
  dispatch: DispatchService;
  units: UnitService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { stations, dispatch, units, scopes, auth }) => {
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
      const { total, byStatus, rows } = await dispatch.deliveries(request.query, await scopes.unitFilter(request.user));
      return {
        total,
        byStatus,
        items: rows.map(({ station, ...d }) => ({ ...d, station: station.code, status: d.status as z.infer<typeof Delivery>['status'] })),
      };
    },
  );

  app.get(
    '/group-plans',
    {
      onRequest: auth,
      schema: {
        tags: ['stations'],
        summary: "Group plans [P-3.10]: each unit's current plan and how many gateways below it acknowledged that version",
        description:
          'gateways: enrolled gateways (of your stations) below the unit that hold group plans; held: those whose ack names this version.',
        security: bearer,
        response: {
          200: z.object({
            items: z.array(
              z.object({
                unit: z.string(),
                unitName: z.string(),
                version: z.number(),
                entries: z.number(),
                sha256: z.string(),
                publishedAt: z.date(),
                gateways: z.number(),
                held: z.number(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({ items: await dispatch.groupPlans.list(await scopes.unitFilter(request.user), await units.tree()) }),
  );

  app.get(
    '/group-deliveries',
    {
      onRequest: auth,
      schema: {
        tags: ['stations'],
        summary: 'Deliveries of the group plans published since an instant [P-3.10]: one per gateway below the unit',
        description:
          'Beside GET /deliveries (manifests): a change for a whole unit reaches gateways that hold group plans as a new group plan version, not a new manifest.',
        security: bearer,
        querystring: z.object({ since: z.iso.datetime({ offset: true }) }),
        response: {
          200: z.object({
            items: z.array(
              z.object({
                unit: z.string(),
                version: z.number(),
                station: z.string(),
                device: z.string(),
                status: z.enum(['pending', 'delivered']),
                publishedAt: z.date(),
                ackedAt: z.date().nullable(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: await dispatch.groupPlans.deliveries(new Date(request.query.since), await scopes.unitFilter(request.user), await units.tree()),
    }),
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
      const { total, rows } = await stations.list(request.query, await scopes.unitFilter(request.user));
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
      return toStation(await stations.get(request.params.code));
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
      const { total, rows } = await stations.occurrences(request.query, await scopes.unitFilter(request.user));
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
      const o = await stations.occurrence(request.params.id);
      await scopes.station(request.user, o.station.code);
      const { station, reports, ...rest } = o;
      return { ...rest, station: station.code, reports };
    },
  );
};
