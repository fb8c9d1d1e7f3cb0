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
import { MergerRow, type MergerService } from '../services/merger-service.ts';
import type { UnitService } from '../services/unit-service.ts';

const CSV_COLUMNS = ['code', 'name', 'type', 'level', 'parentCode', 'stationCode', 'endedAt', 'mergedInto'];
const unitCode = z.object({ code: z.string().max(20) });
const PolicyView = z.object({ unit: z.string(), own: z.unknown(), effective: z.unknown(), source: z.record(z.string(), z.string()) });

export const unitRoutes: FastifyPluginAsyncZod<{
  units: UnitService;
  mergers: MergerService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { units, mergers, scopes, auth }) => {
  // Province administrators change the tree and its policies, within their own unit when they have one.
  const admin = [auth, requireCapability('administer')];
  const inScope = async (user: Parameters<Scopes['units']>[0], codes: (string | null | undefined)[]) => {
    const tree = await units.tree();
    for (const code of codes) if (code) await scopes.units(user, [tree.get(code).id], `unit ${code}`);
  };

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

  app.post(
    '/units/merge',
    {
      onRequest: admin,
      schema: {
        tags: ['units'],
        summary: 'Merge units into one (existing or new), as in the 2025 reform',
        description:
          'Stations and child units move to the target; occurrences not yet aired move with their stations; past ones stay attributed to the unit they aired under. ' +
          'The merged units end (kept, with mergedInto) and their history records the merge.',
        security: bearer,
        body: z
          .object({
            sources: z.array(z.string().max(20)).min(1).max(100),
            into: z.object({
              code: z.string().regex(/^[A-Za-z0-9_-]{1,20}$/),
              name: z.string().min(1).max(200).optional(),
              type: z.string().min(1).max(60).optional(),
              parentCode: z.string().max(20).nullish(),
            }),
          })
          .strict(),
        response: {
          200: z.object({ into: z.string(), ended: z.array(z.string()), stations: z.number(), movedOccurrences: z.number() }),
          400: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request) => {
      const { sources, into } = request.body;
      const tree = await units.tree();
      const existing = tree.byCode.get(into.code);
      // The merged units, the target and where the target will hang must all lie in scope.
      await inScope(request.user, [...sources, existing ? into.code : undefined, into.parentCode ?? existing?.code]);
      if (!existing && !into.parentCode && request.user?.unitId)
        throw forbidden('OUT_OF_SCOPE', 'a new unit without a parent would be a root, outside your unit');
      return units.merge({ ...request.body, byId: request.user?.id });
    },
  );

  app.post(
    '/units/merges/import',
    {
      onRequest: admin,
      // The whole country's table (10,631 rows) is about 3.3 MB as the shared file.
      bodyLimit: 16 * 1024 * 1024,
      schema: {
        tags: ['units'],
        summary:
          'Import a reform from its conversion table (old commune → new commune): preview what moves, then apply it in one transaction',
        description:
          'JSON: {table: <the conversion file, {mergers:[…]}> or rows:[…], effectiveAt, apply, decisions, policy, suffix}; or CSV (text/csv, header ' +
          'oldCode,newCode,newName,share[,oldName,newProvinceCode]) with effectiveAt, apply, policy and suffix in the query. Rows name an old ' +
          "commune, the new unit it went (wholly or partly: share full | partial | possible) into, and that unit's name. Without apply=true the " +
          'answer is the preview: new units, ended units (communes, and districts or provinces left empty), codes kept by ended units with the ' +
          "suffix, every station's move and the rule that placed it, stations of split communes needing a decision, airings from the effective " +
          'date on that move, users whose scope follows and those an administrator must decide. decisions {station: newUnitCode} place stations ' +
          "of split communes; the others are placed by the rule (full, else the unit that kept the commune's code, else one of its name, else " +
          'the first listed) and keep their candidates for an operator to confirm (POST /stations/{code}/unit).',
        security: bearer,
        consumes: ['application/json', 'text/csv'],
        querystring: z.object({
          effectiveAt: z.union([z.iso.date(), z.iso.datetime({ offset: true })]).optional(),
          apply: z.stringbool().optional(),
          policy: z.enum(['hanoi-2021', 'none']).optional(),
          suffix: z
            .string()
            .regex(/^-[A-Za-z0-9_]{1,12}$/)
            .optional(),
        }),
        body: z.union([
          z
            .object({
              table: z
                .object({ mergers: z.array(z.record(z.string(), z.unknown())).max(50_000) })
                .loose()
                .optional(),
              rows: z.array(z.record(z.string(), z.unknown())).max(50_000).optional(),
              effectiveAt: z.union([z.iso.date(), z.iso.datetime({ offset: true })]).optional(),
              apply: z.boolean().optional(),
              policy: z.enum(['hanoi-2021', 'none']).optional(),
              suffix: z
                .string()
                .regex(/^-[A-Za-z0-9_]{1,12}$/)
                .optional(),
              decisions: z.record(z.string().max(64), z.string().max(20)).optional(),
            })
            .strict(),
          z.string().max(16_000_000),
        ]),
        response: { 200: z.record(z.string(), z.unknown()), 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      if (request.user?.unitId) throw forbidden('OUT_OF_SCOPE', 'a reform of the map needs an administrator of the whole tree');
      const body = typeof request.body === 'string' ? { csv: request.body } : request.body;
      const q = request.query;
      let raw: unknown[];
      if ('csv' in body) {
        try {
          raw = parse(body.csv, { columns: true, skip_empty_lines: true, trim: true, bom: true });
        } catch (err) {
          throw badRequest('INVALID_CSV', (err as Error).message);
        }
      } else raw = body.table?.mergers ?? body.rows ?? [];
      const opts = 'csv' in body ? {} : body;
      const errors: string[] = [];
      const rows = raw.flatMap((r, i) => {
        const parsed = MergerRow.safeParse(r);
        if (parsed.success) return [parsed.data];
        errors.push(`row ${i + 1}: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
        return [];
      });
      if (errors.length)
        throw badRequest('INVALID_TABLE', errors.slice(0, 5).join(' | '), { errors: errors.slice(0, 200), total: errors.length });
      if (!rows.length) throw badRequest('INVALID_TABLE', 'the table has no rows');
      const at = opts.effectiveAt ?? q.effectiveAt ?? (('csv' in body ? undefined : (body.table?.asOf as string | undefined)) || undefined);
      if (!at)
        throw badRequest('NO_EFFECTIVE_DATE', "say when the reform takes effect (effectiveAt; the table's asOf is used when present)");
      const effectiveAt = new Date(at.length === 10 ? `${at}T00:00:00+07:00` : at);
      const input = {
        rows,
        effectiveAt,
        // The old map is named by the year before the reform ("00004-2024" for the reform of 2025).
        suffix: opts.suffix ?? q.suffix ?? `-${effectiveAt.getUTCFullYear() - 1}`,
        policy: opts.policy ?? q.policy ?? 'none',
        ...(('csv' in body ? undefined : body.decisions) ? { decisions: (body as { decisions: Record<string, string> }).decisions } : {}),
        byId: request.user?.id,
      } as const;
      const apply = opts.apply ?? q.apply ?? false;
      const plan = apply ? await mergers.apply(input) : await mergers.plan(input);
      return { applied: apply, ...plan };
    },
  );

  app.post(
    '/units/country/import',
    {
      onRequest: admin,
      schema: {
        tags: ['units'],
        summary:
          'Load the whole country on the 2025 map (34 provinces, 3,321 communes); with history, each province as it was in 2024 and merged',
        description:
          "Provinces already here are left as they are. history=true loads each other province's 2024 tree (districts, communes, one station " +
          'per commune, "VN-<code>") and applies the 2025 conversion table to it (as POST /units/merges/import would), so stations sit under ' +
          'their 2025 units. Also `npm run import:country [-- --with-history]`.',
        security: bearer,
        body: z.object({ history: z.boolean().default(false) }).strict(),
        response: {
          200: z.object({
            provinces: z.number(),
            communes: z.number(),
            historyUnits: z.number(),
            stations: z.number(),
            stationsToConfirm: z.number(),
            skippedProvinces: z.array(z.string()),
          }),
          403: ErrorBody,
        },
      },
    },
    async (request) => {
      if (request.user?.unitId) throw forbidden('OUT_OF_SCOPE', 'loading the country needs an administrator of the whole tree');
      return mergers.importCountry({ history: request.body.history, byId: request.user?.id });
    },
  );

  app.post(
    '/stations/:code/unit',
    {
      onRequest: [auth, requireCapability('stations')],
      schema: {
        tags: ['units'],
        summary: 'Confirm or change the unit a station belongs to (after a reform split its former commune, one of its candidates)',
        description:
          "Airings from now on move with the station; past ones keep the unit they aired under. The station's unitCandidates are cleared. " +
          'The station and the unit must both lie in your scope.',
        security: bearer,
        params: z.object({ code: z.string().max(64) }),
        body: z.object({ unit: z.string().max(20) }).strict(),
        response: {
          200: z.object({ station: z.string(), unit: z.string(), unitName: z.string(), from: z.string(), movedAirings: z.number() }),
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request) => {
      await scopes.station(request.user, request.params.code);
      await inScope(request.user, [request.body.unit]);
      return units.moveStation(request.params.code, request.body.unit, request.user?.id);
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
