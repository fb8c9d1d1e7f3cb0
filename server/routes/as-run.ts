import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DISCREPANCIES, AS_RUN_STATUSES as STATUSES } from '../compliance/as-run.ts';
import { type AsRunLine, asRunCsv, reportCsv, reportHtml, reportXlsx } from '../compliance/export.ts';
import { PDF_MAX_AIRINGS, reportPdf } from '../compliance/report-pdf.ts';
import type { AuthUser } from '../http/auth.ts';
import { ErrorBody } from '../http/errors.ts';
import { bearer, page } from '../http/schemas.ts';
import type { Scopes } from '../http/scope.ts';
import type { AsRunService } from '../services/as-run-service.ts';
import type { ReportService } from '../services/report-service.ts';

/**
 * An instant in a query string, as people type them: with an offset ("+07:00", also when the "+" arrived
 * unencoded as a space), a Hanoi wall-clock time without one, or a plain date (its Hanoi midnight).
 */
export const queryInstant = z
  .string()
  .max(40)
  .transform((v) => v.trim().replace(/ (\d{2}:?\d{2})$/, '+$1'))
  .transform((v) => (/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00+07:00` : v))
  .pipe(z.union([z.iso.datetime({ offset: true }), z.iso.datetime({ local: true })]))
  .transform((v) => (/(Z|[+-]\d{2}:?\d{2})$/.test(v) ? v : `${v.length === 16 ? `${v}:00` : v}+07:00`));
/** Which airings: a range of at most 366 days, narrowed to a station, a unit's subtree or an item. */
const airingFilter = {
  from: queryInstant,
  to: queryInstant,
  station: z.string().max(64).optional(),
  unit: z.string().max(64).optional(),
  media: z.string().max(64).optional(),
};

const Row = z.object({
  occurrenceId: z.string(),
  scheduleId: z.string(),
  station: z.string(),
  stationName: z.string(),
  /** The unit the station had at airtime. */
  unitCode: z.string().nullable(),
  unitName: z.string().nullable(),
  unitType: z.string().nullable(),
  mediaId: z.string(),
  title: z.string(),
  priority: z.string(),
  startsAt: z.date(),
  startedAt: z.date().nullable(),
  endedAt: z.date().nullable(),
  expectedMs: z.number(),
  playedMs: z.number().nullable(),
  /** Output level the gateway measured over the airing, dBFS (from its end proof). */
  rmsDbfs: z.number().nullable(),
  status: z.enum(STATUSES),
  reason: z.enum(DISCREPANCIES).optional(),
  lateMs: z.number().optional(),
  deviceReason: z.string().optional(),
});

export const asRunRoutes: FastifyPluginAsyncZod<{
  asRun: AsRunService;
  reports: ReportService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
  now: () => Date;
}> = async (app, { asRun, reports, scopes, auth, now }) => {
  /** A user reads within their unit: a unit asked for must lie in it, none asked for means theirs; a station must too. */
  const scoped = async <Q extends { unit?: string; station?: string }>(user: AuthUser | undefined, q: Q): Promise<Q> => {
    if (q.station) await scopes.station(user, q.station);
    const unit = await scopes.unit(user, q.unit);
    return { ...q, ...(unit ? { unit } : {}) };
  };
  app.get(
    '/stations/:code/proofs/:day/verify',
    {
      onRequest: auth,
      config: { audit: true },
      schema: {
        tags: ['compliance'],
        summary: "Re-check a station's proofs of play of one day (Asia/Ho_Chi_Minh): hash chain, device signatures, stored fields",
        security: bearer,
        params: z.object({ code: z.string().max(64), day: z.iso.date() }),
        response: {
          200: z.object({
            station: z.string(),
            day: z.string(),
            proofs: z.number(),
            ok: z.boolean(),
            problems: z.array(z.object({ seq: z.number().nullable(), id: z.string(), code: z.string(), message: z.string() })),
          }),
          403: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      await scopes.station(request.user, request.params.code);
      return reports.verifyDay(request.params.code, request.params.day);
    },
  );

  const ClassSchema = z.object({
    scheduled: z.number(),
    due: z.number(),
    aired: z.number(),
    late: z.number(),
    partial: z.number(),
    missed: z.number(),
    complianceRate: z.number().nullable(),
    onTimeRate: z.number().nullable(),
  });
  const TallySchema = z.object({
    scheduled: z.number(),
    ...Object.fromEntries(STATUSES.map((st) => [st, z.number()])),
    stations: z.number(),
    complianceRate: z.number().nullable(),
    onTimeRate: z.number().nullable(),
    coverageRate: z.number().nullable(),
    stationCoverageRate: z.number().nullable(),
    stationsDue: z.number(),
    stationsFullyCovered: z.number(),
    emergency: ClassSchema,
    regular: ClassSchema,
    airedMinutes: z.number(),
    limitMinutesPerDay: z.number().nullable(),
    overLimitDays: z.number(),
    maxDayMinutes: z.number(),
    uptimeRate: z.number().nullable(),
  });
  app.get(
    '/compliance/report',
    {
      onRequest: auth,
      config: { audit: true },
      schema: {
        tags: ['compliance'],
        summary: 'Compliance report: scheduled vs aired vs missed per unit (rolled up), station or item, as JSON, CSV or XLSX',
        description:
          'groupBy=unit groups by the units one level below `unit` (or below the top of the tree), counting every station at any level ' +
          'beneath by the unit it had at airtime. complianceRate = (aired + late) / (airings due that were not skipped by rule); ' +
          'onTimeRate = aired / the same. format=csv|xlsx returns a file with Vietnamese column titles; format=html a print-ready page with a chart; ' +
          'format=pdf an A4 file (embedded font) with who generated it and when, the rates over time, the table, every airing not aired in full with its reason, and a signatory block.',
        security: bearer,
        produces: [
          'application/json',
          'text/csv',
          'text/html',
          'application/pdf',
          'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
        ],
        querystring: z.object({
          ...airingFilter,
          groupBy: z.enum(['unit', 'station', 'media']).default('unit'),
          format: z.enum(['json', 'csv', 'xlsx', 'html', 'pdf']).default('json'),
        }),
        response: {
          200: z.object({
            from: z.date(),
            to: z.date(),
            unit: z.string().nullable(),
            unitName: z.string().nullable(),
            unitType: z.string().nullable(),
            groupBy: z.string(),
            total: TallySchema,
            groups: z.array(TallySchema.extend({ key: z.string(), name: z.string() })),
            series: z.array(
              ClassSchema.extend({
                period: z.string(),
                bucket: z.enum(['day', 'month']),
                skipped: z.number(),
                coverageRate: z.number().nullable(),
              }),
            ),
          }),
          400: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { format, ...asked } = request.query;
      const q = await scoped(request.user, asked);
      const report = await asRun.report({ ...q, from: new Date(q.from), to: new Date(q.to) });
      if (format === 'json') return report;
      // Pages and files bypass the JSON response schema: Fastify sends strings and buffers as they are.
      if (format === 'html') return reply.type('text/html; charset=utf-8').send(reportHtml(report) as never);
      const name = `bao-cao-${q.station ?? q.unit ?? 'all'}-${q.from.slice(0, 10)}`;
      reply.header('content-disposition', `attachment; filename="${name}.${format}"`);
      if (format === 'pdf') {
        const range = { ...q, from: new Date(q.from), to: new Date(q.to), offset: 0, limit: PDF_MAX_AIRINGS };
        const pages = await Promise.all((['missed', 'partial', 'skipped'] as const).map((status) => asRun.list({ ...range, status })));
        const notAired = pages.flatMap((p) => p.items).sort((a, b) => a.startsAt.getTime() - b.startsAt.getTime());
        const file = await reportPdf(report, {
          generatedBy: request.user?.username ?? '',
          generatedAt: now(),
          notAired: notAired.slice(0, PDF_MAX_AIRINGS),
          notAiredTotal: pages.reduce((a, p) => a + p.total, 0),
        });
        return reply.type('application/pdf').send(file as never);
      }
      const file = format === 'csv' ? reportCsv(report) : await reportXlsx(report);
      reply.type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
      return reply.send(file as never);
    },
  );

  app.get(
    '/as-run',
    {
      onRequest: auth,
      config: { audit: true },
      schema: {
        tags: ['compliance'],
        summary: 'As-run log: every scheduled airing in a range with what the proofs say happened',
        description:
          'status: aired (in full, on time), late (in full, started more than 2 s or its start window after the scheduled instant; lateMs), ' +
          'partial, missed (should have aired and did not, or aired silence), skipped (not aired by rule: preempted, policy, stale, cancelled), ' +
          'pending/playing (window still open). An airing with no end proof 10 min after its latest possible end is missed with reason offline. ' +
          'reason is the discrepancy code; deviceReason the gateway’s own code. totals count every airing in the range, before the status filter.',
        security: bearer,
        querystring: z.object({
          ...airingFilter,
          status: z.enum(STATUSES).optional(),
          /** csv: every airing of the range and filters (pages of 5,000 joined), with Vietnamese status and reason. */
          format: z.enum(['json', 'csv']).default('json'),
          ...page(5000, 500),
        }),
        response: {
          200: z.object({ total: z.number(), totals: z.record(z.enum(STATUSES), z.number()), items: z.array(Row) }),
          400: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { format, ...asked } = await scoped(request.user, request.query);
      const q = { ...asked, from: new Date(asked.from), to: new Date(asked.to) };
      if (format === 'json') return asRun.list(q);
      const rows: AsRunLine[] = [];
      for (let offset = 0; ; offset += 5000) {
        const page = await asRun.list({ ...q, limit: 5000, offset });
        rows.push(...page.items);
        if (rows.length >= page.total || !page.items.length) break;
      }
      reply.header(
        'content-disposition',
        `attachment; filename="nhat-ky-phat-${asked.unit ?? asked.station ?? 'all'}-${asked.from.slice(0, 10)}.csv"`,
      );
      return reply.type('text/csv; charset=utf-8').send(asRunCsv(rows) as never);
    },
  );
};
