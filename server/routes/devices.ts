// Station metadata, gateways (devices) with their zones, and provisioning.

import { parse } from 'csv-parse/sync';
import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { recordFields } from '../http/audit-change.ts';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import { requireCapability, type Scopes } from '../http/scope.ts';
import type { DeviceService } from '../services/device-service.ts';
import { badRequest } from '../services/errors.ts';
import { STATION_META_COLUMNS, type StationService } from '../services/station-service.ts';
import type { UnitService } from '../services/unit-service.ts';

const zoneCode = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);
const Device = z.object({
  code: z.string(),
  station: z.string(),
  name: z.string(),
  model: z.string().nullable(),
  zones: z.array(z.object({ code: z.string(), name: z.string() })),
  enrolled: z.boolean(),
  enrolledAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  agentVersion: z.string().nullable(),
  publicKeyHex: z.string().nullable(),
});
type DeviceRow = {
  code: string;
  name: string;
  model: string | null;
  enrolledAt: Date | null;
  revokedAt: Date | null;
  agentVersion: string | null;
  publicKeyHex: string | null;
  zones: { code: string; name: string }[];
  station: { code: string };
};
const toDevice = (d: DeviceRow) => ({
  code: d.code,
  station: d.station.code,
  name: d.name,
  model: d.model,
  zones: d.zones.map((z) => ({ code: z.code, name: z.name })),
  enrolled: Boolean(d.enrolledAt) && !d.revokedAt,
  enrolledAt: d.enrolledAt,
  revokedAt: d.revokedAt,
  agentVersion: d.agentVersion,
  publicKeyHex: d.publicKeyHex,
});

export const StationMeta = z.object({
  address: z.string().max(300).nullable(),
  latitude: z.number().min(-90).max(90).nullable(),
  longitude: z.number().min(-180).max(180).nullable(),
  speakerPoints: z.int().min(0).max(100_000).nullable(),
  powerW: z.int().min(0).max(1_000_000).nullable(),
  connectivity: z.enum(['wired', '4g', 'wifi']).nullable(),
  installedAt: z.iso.date().nullable(),
});

export const deviceRoutes: FastifyPluginAsyncZod<{
  devices: DeviceService;
  stations: StationService;
  units: UnitService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { devices, stations, units, scopes, auth }) => {
  // Province administrators and district operators manage stations and gateways, each within their unit.
  const admin = [auth, requireCapability('stations')];
  const code = z.object({ code: z.string().max(64) });

  app.patch(
    '/stations/:code',
    {
      onRequest: admin,
      schema: {
        tags: ['stations'],
        summary: 'Update station metadata (address, coordinates, speaker points, power, connectivity, install date)',
        security: bearer,
        params: code,
        body: StationMeta.extend({ name: z.string().min(1).max(200) })
          .partial()
          .strict(),
        response: {
          200: StationMeta.extend({
            code: z.string(),
            name: z.string(),
            connectivity: z.string().nullable(),
            installedAt: z.date().nullable(),
          }),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const found = await stations.get(request.params.code);
      await scopes.units(request.user, [found.unitId], `station ${request.params.code}`);
      const s = await stations.update(found.id, request.body);
      recordFields(request, found, s, Object.keys(request.body) as (keyof typeof s)[]);
      return s;
    },
  );

  app.post(
    '/stations/import',
    {
      onRequest: admin,
      bodyLimit: 4 * 1024 * 1024,
      schema: {
        tags: ['stations'],
        summary: `Update station metadata from CSV (text/csv, header row: ${STATION_META_COLUMNS.join(',')}; only code is required)`,
        description:
          'For the live map: latitude and longitude (WGS 84 decimal degrees) go together. An empty cell leaves that field as it is. ' +
          'Every row is checked first (unknown station, outside your unit, twice, bad value) and nothing is written when any is wrong: 400 INVALID_IMPORT with details.rows [{row, code, message}].',
        security: bearer,
        consumes: ['text/csv', 'application/json'],
        body: z.union([z.object({ stations: z.array(z.record(z.string(), z.unknown())).max(20_000) }), z.string().max(4_000_000)]),
        response: { 200: z.object({ updated: z.number(), unchanged: z.number() }), 400: ErrorBody },
      },
    },
    async (request) => {
      const body = request.body;
      let rows: unknown[];
      if (typeof body === 'string') {
        try {
          rows = parse(body, {
            columns: true,
            skip_empty_lines: true,
            trim: true,
            bom: true,
            delimiter: [',', ';'],
            relax_column_count: true,
          });
        } catch (err) {
          throw badRequest('INVALID_CSV', (err as Error).message);
        }
      } else rows = body.stations;
      if (rows.length > 20_000) throw badRequest('INVALID_IMPORT', 'at most 20,000 rows per import');
      const mine = await scopes.subtree(request.user);
      return stations.importMeta(rows, (unitId) => !mine || mine.has(unitId));
    },
  );

  app.get(
    '/stations/:code/devices',
    {
      onRequest: auth,
      schema: {
        tags: ['devices'],
        summary: "A station's gateways and their zones",
        security: bearer,
        params: code,
        response: { 200: z.object({ items: z.array(Device) }), 404: ErrorBody },
      },
    },
    async (request) => {
      await scopes.station(request.user, request.params.code);
      const station = await stations.get(request.params.code);
      return { items: (await devices.at(station.id)).map(toDevice) };
    },
  );

  app.post(
    '/stations/:code/devices',
    {
      onRequest: admin,
      schema: {
        tags: ['devices'],
        summary: 'Provision a gateway: returns its one-time enrollment token (shown once, valid 7 days)',
        description:
          'The gateway runs `npm run agent -- --enroll-token-file <file>` (or the token on its standard input with `-`); it generates its own key pair and receives MQTT credentials. ' +
          "A station's first device takes the station code as its id unless one is given.",
        security: bearer,
        params: code,
        body: z
          .object({
            code: z
              .string()
              .regex(/^[A-Za-z0-9_-]{1,64}$/)
              .optional(),
            name: z.string().max(200).optional(),
            model: z.string().max(100).optional(),
            zones: z
              .array(z.object({ code: zoneCode, name: z.string().max(100).optional() }))
              .min(1)
              .max(16)
              .optional(),
          })
          .strict()
          .nullish(),
        response: { 201: Device.extend({ enrollToken: z.string() }), 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      await scopes.station(request.user, request.params.code);
      const { device, enrollToken } = await devices.create(request.params.code, request.body ?? {});
      return reply.status(201).send({ ...toDevice(device), enrollToken });
    },
  );

  app.post(
    '/devices/provision',
    {
      onRequest: admin,
      schema: {
        tags: ['devices'],
        summary: 'Provision the first gateway of many stations at once (a district or province roll-out); returns one-time tokens',
        description:
          'Give station codes, or a unit for every station below it. Stations that already have a device are skipped. ' +
          'Each new device has the station code as its id and one zone z1. The tokens are shown once.',
        security: bearer,
        body: z.union([
          z.object({ stations: z.array(z.string().max(64)).min(1).max(20_000) }).strict(),
          z.object({ unit: z.string().max(20) }).strict(),
        ]),
        response: {
          200: z.object({
            created: z.array(z.object({ station: z.string(), device: z.string(), enrollToken: z.string() })),
            skipped: z.array(z.string()),
          }),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const body = request.body;
      if ('stations' in body) {
        await scopes.units(request.user, await stations.unitsOf(body.stations), 'a listed station');
        return devices.provisionMany(body.stations);
      }
      const unit = (await units.tree()).get(body.unit);
      await scopes.units(request.user, [unit.id], `unit ${body.unit}`);
      return devices.provisionMany((await units.stationsBelow([unit.id])).map((st) => st.code));
    },
  );

  app.post(
    '/devices/:code/enrollment-token',
    {
      onRequest: admin,
      schema: {
        tags: ['devices'],
        summary: 'Issue a new one-time enrollment token (a replaced or reinstalled gateway); the old one stops working',
        security: bearer,
        params: code,
        response: { 200: z.object({ enrollToken: z.string() }), 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      await scopes.device(request.user, request.params.code);
      return devices.reissueToken(request.params.code);
    },
  );

  app.post(
    '/devices/:code/revoke',
    {
      onRequest: admin,
      schema: {
        tags: ['devices'],
        summary: 'Revoke a gateway: its MQTT login, messages and reports are refused from now on',
        security: bearer,
        params: code,
        response: { 204: z.null(), 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await scopes.device(request.user, request.params.code);
      await devices.revoke(request.params.code);
      request.auditChange = {
        before: { device: request.params.code, revoked: false },
        after: { device: request.params.code, revoked: true },
      };
      return reply.status(204).send(null);
    },
  );
};
