// The administrative tree: browse, import and export (CSV, JSON), rename, merge with history, and the
// broadcast policy each unit sets for the stations below it.
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody } from '../http/errors.ts';
import { bearer, page } from '../http/schemas.ts';
import { requireCapability, type Scopes } from '../http/scope.ts';
import { Policy } from '../scheduling/policy.ts';
import { badRequest, forbidden } from '../services/errors.ts';
import type { UnitService } from '../services/unit-service.ts';

const CSV_COLUMNS = ['code', 'name', 'type', 'level', 'parentCode', 'stationCode', 'endedAt', 'mergedInto'];
const unitCode = z.object({ code: z.string().max(20) });
const PolicyView = z.object({ unit: z.string(), own: z.unknown(), effective: z.unknown(), source: z.record(z.string(), z.string()) });

/** Refuses (naming it) the first of the units that lies outside the user's unit. */
export const unitsInScope =
  (units: UnitService, scopes: Scopes) => async (user: Parameters<Scopes['units']>[0], codes: (string | null | undefined)[]) => {
    const tree = await units.tree();
    for (const code of codes) if (code) await scopes.units(user, [tree.get(code).id], `unit ${code}`);
  };

export const unitRoutes: FastifyPluginAsyncZod<{
  units: UnitService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { units, scopes, auth }) => {
  // Province administrators change the tree and its policies, within their own unit when they have one.
  const admin = [auth, requireCapability('administer')];
  const inScope = unitsInScope(units, scopes);

  app.get(
    '/units',
    {
      onRequest: auth,
      schema: {
        tags: ['units'],
        summary: 'Administrative units, optionally the children of one unit; merged units only when asked',
        security: bearer,
        description:
          'at=<instant> shows the tree as it was then (units that existed at that instant, under the parents they had): ' +
          "at=2025-03-01 gives Hanoi's 2024 map of districts and communes, today the two-tier map of the 2025 reform.",
        querystring: z.object({
          parent: z.string().max(20).optional(),
          includeEnded: z.stringbool().default(false),
          at: z.union([z.iso.date(), z.iso.datetime({ offset: true })]).optional(),
          ...page(1000, 100),
        }),
        response: {
          200: z.object({
            total: z.number(),
            items: z.array(
              z.object({
                code: z.string(),
                name: z.string(),
                type: z.string(),
                level: z.number(),
                parentCode: z.string().nullable(),
                endedAt: z.date().nullable(),
                validFrom: z.date().nullable(),
                mergedInto: z.string().nullable(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => {
      const { total, rows } = await units.list(request.query);
      return {
        total,
        items: rows.map((u) => ({
          code: u.code,
          name: u.name,
          type: u.type,
          level: u.level,
          parentCode: u.parent?.code ?? null,
          endedAt: u.endedAt,
          validFrom: u.validFrom,
          mergedInto: u.mergedInto?.code ?? null,
        })),
      };
    },
  );

  app.get(
    '/units/export',
    {
      onRequest: auth,
      schema: {
        tags: ['units'],
        summary: 'Every unit, merged ones included, as CSV (header row) or JSON',
        security: bearer,
        querystring: z.object({ format: z.enum(['csv', 'json']).default('json') }),
        produces: ['application/json', 'text/csv'],
      },
    },
    async (request, reply) => {
      const rows = await units.export();
      if (request.query.format === 'json') return { units: rows };
      reply.header('content-disposition', 'attachment; filename="units.csv"');
      return reply.type('text/csv; charset=utf-8').send(stringify(rows, { header: true, columns: CSV_COLUMNS }));
    },
  );

  app.post(
    '/units/import',
    {
      onRequest: admin,
      // The whole country's list (~11,000 units) is about 2 MB.
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        tags: ['units'],
        summary:
          'Create and update units from CSV (text/csv, header row: code,name,type,parentCode[,level,stationCode]) or JSON ({units:[…]})',
        description:
          'Existing units (by code) get the name, type and parent given; new codes are created; nothing is deleted. A stationCode creates that station for the unit. ' +
          'Every row is checked first and nothing is written when any is wrong (400 INVALID_IMPORT lists the rows).',
        security: bearer,
        consumes: ['application/json', 'text/csv'],
        body: z.union([z.object({ units: z.array(z.record(z.string(), z.unknown())).max(20_000) }), z.string().max(5_000_000)]),
        response: {
          200: z.object({ created: z.number(), updated: z.number(), unchanged: z.number(), stationsCreated: z.number() }),
          400: ErrorBody,
        },
      },
    },
    async (request) => {
      // An import may create roots and move anything: a whole-tree administrator's job.
      if (request.user?.unitId) throw forbidden('OUT_OF_SCOPE', 'importing units needs an administrator of the whole tree');
      const body = request.body;
      let rows: unknown[];
      if (typeof body === 'string') {
        try {
          rows = parse(body, { columns: true, skip_empty_lines: true, trim: true, bom: true });
        } catch (err) {
          throw badRequest('INVALID_CSV', (err as Error).message);
        }
      } else rows = body.units;
      return units.import(rows, request.user?.id);
    },
  );

  app.patch(
    '/units/:code',
    {
      onRequest: admin,
      schema: {
        tags: ['units'],
        summary: 'Rename a unit or change its type; the old values stay in its history',
        security: bearer,
        params: unitCode,
        body: z.object({ name: z.string().min(1).max(200).optional(), type: z.string().min(1).max(60).optional() }).strict(),
        response: { 200: z.object({ name: z.string(), type: z.string() }), 404: ErrorBody },
      },
    },
    async (request) => {
      await inScope(request.user, [request.params.code]);
      const unit = (await units.tree()).get(request.params.code);
      const after = await units.rename(request.params.code, request.body, request.user?.id);
      request.auditChange = { before: { name: unit.name, type: unit.type }, after };
      return after;
    },
  );

  app.get(
    '/units/:code/history',
    {
      onRequest: auth,
      schema: {
        tags: ['units'],
        summary: "A unit's history: created, imported, renamed, moved, merged, policy changed",
        security: bearer,
        params: unitCode,
        response: {
          200: z.object({
            items: z.array(
              z.object({ kind: z.string(), at: z.date(), before: z.unknown(), after: z.unknown(), byId: z.string().nullable() }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: (await units.history(request.params.code)).map((e) => ({
        kind: e.kind,
        at: e.at,
        before: JSON.parse(e.before),
        after: JSON.parse(e.after),
        byId: e.byId,
      })),
    }),
  );

  app.get(
    '/units/:code/policy',
    {
      onRequest: auth,
      schema: {
        tags: ['units'],
        summary: "A unit's own broadcast rules, the effective ones after inheritance, and which unit sets each",
        security: bearer,
        params: unitCode,
        response: { 200: PolicyView, 404: ErrorBody },
      },
    },
    async (request) => units.policy(request.params.code),
  );

  app.put(
    '/units/:code/policy',
    {
      onRequest: admin,
      schema: {
        tags: ['units'],
        summary: "Replace a unit's own broadcast rules ({} inherits everything); applies to schedules created from now on",
        description:
          'Fields: emergencyOnly, weekdays (1 = Monday … 7), windows [{start,end}] (HH:MM, Hanoi time), maxSessionMinutes, maxSessionsPerDay, ' +
          'quietHours [{start,end}] (may cross midnight), maxVolume [{start,end,level}]. Emergencies are exempt from all of them.',
        security: bearer,
        params: unitCode,
        body: Policy,
        response: { 200: PolicyView, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      await inScope(request.user, [request.params.code]);
      const before = await units.policy(request.params.code);
      const after = await units.setPolicy(request.params.code, request.body, request.user?.id);
      request.auditChange = { before: before.own, after: after.own };
      return after;
    },
  );
};
