// Reforms of the map: merging units (by hand or from a conversion table such as the 2025 merger table),
// loading the whole country's 2025 map, and confirming the unit of a station a reform split.
import { parse } from 'csv-parse/sync';
import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import { requireCapability, type Scopes } from '../http/scope.ts';
import { badRequest, forbidden } from '../services/errors.ts';
import { MergerRow, type MergerService } from '../services/merger-service.ts';
import type { UnitService } from '../services/unit-service.ts';
import { unitsInScope } from './units.ts';

export const reformRoutes: FastifyPluginAsyncZod<{
  units: UnitService;
  mergers: MergerService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { units, mergers, scopes, auth }) => {
  const admin = [auth, requireCapability('administer')];
  const inScope = unitsInScope(units, scopes);
  const _unitCode = z.object({ code: z.string().max(20) });

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
};
