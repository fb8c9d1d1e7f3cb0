// The as-run log and compliance reports, from the verdicts stored with each occurrence (set by the
// proof ingest, or by the sweep when a window closes without proof). Reports read whole Hanoi days from the
// ReportDay rollup (kept by triggers) and only cut days from the occurrences: a year of all Hanoi (~2.1 M
// airings) is ~211,000 rollup rows, summed in the database per station and weekday, rolled up here.
import { AS_RUN_RULES, AS_RUN_STATUSES, type AsRunStatus, type Discrepancy } from '../compliance/as-run.ts';
import {
  add,
  type Cell,
  type ComplianceReport,
  classTally,
  dailyLimit,
  type Group,
  type GroupBy,
  newGroup,
  round,
  type SeriesPoint,
  tally,
  zeroes,
} from '../compliance/tally.ts';
import { uptimeShares } from '../compliance/uptime.ts';
import type { Db } from '../db/client.ts';
import { dialectOf } from '../db/dialect.ts';
import { DAY_MS, dayOfNumber, HANOI_OFFSET_MS, hanoiDayNumber, isHanoiMidnight } from '../scheduling/recurrence.ts';
import { badRequest, notFound } from './errors.ts';
import type { UnitService, UnitTree } from './unit-service.ts';

/** The longest range one request may cover: a year (a leap year's 366 days). */
export const MAX_RANGE_MS = 366 * DAY_MS;

export interface AsRunQuery {
  from: Date;
  to: Date;
  station?: string;
  /** A unit code: airings of stations at or below it, by the unit the station had at airtime. */
  unit?: string;
  media?: string;
  status?: AsRunStatus;
  limit: number;
  offset: number;
}

export interface AsRunRow {
  occurrenceId: string;
  scheduleId: string;
  station: string;
  stationName: string;
  /** The station's unit at airtime: its id, code, name and type. */
  unitId: string | null;
  unitCode: string | null;
  unitName: string | null;
  unitType: string | null;
  mediaId: string;
  title: string;
  startsAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
  expectedMs: number;
  playedMs: number | null;
  /** The output level the gateway measured over the airing (its end proof), dBFS. */
  rmsDbfs: number | null;
  priority: string;
  status: AsRunStatus;
  reason?: Discrepancy;
  lateMs?: number;
  deviceReason?: string;
}

/** Airings with neither a start proof nor a verdict are pending. */
const STATUS_SQL = `COALESCE(o."asRun", 'pending')`;
const AIRED_SQL = `o."asRun" IN ('aired', 'late', 'partial')`;
/** Aired in full within the tolerance (the ReportDay triggers say the same in SQL). */
const ON_TIME_SQL = `CASE WHEN o."asRun" = 'aired' AND coalesce(o."lateMs", 0) <= ${AS_RUN_RULES.lateToleranceMs} THEN 1 ELSE 0 END`;

export class AsRunService {
  constructor(private readonly deps: { db: Db; now: () => Date; units: UnitService; sweep: () => Promise<unknown> }) {}

  async list(q: AsRunQuery): Promise<{ total: number; totals: Record<AsRunStatus, number>; items: AsRunRow[] }> {
    const f = await this.filter(q);
    const totals = zeroes();
    for (const r of await this.query<{ status: AsRunStatus; n: number }>(
      `${f.cte} SELECT ${STATUS_SQL} AS status, count(*) AS n FROM "Occurrence" o WHERE ${f.where} GROUP BY 1`,
      f.params,
    ))
      totals[r.status] = Number(r.n);
    const byStatus = q.status ? { where: ` AND ${STATUS_SQL} = ?`, params: [q.status] } : { where: '', params: [] };
    const rows = await this.query<RawRow>(
      `${f.cte} SELECT o."id" AS "occurrenceId", o."scheduleId" AS "scheduleId", s."code" AS station, s."name" AS "stationName", o."unitId" AS "unitId",
        o."mediaId" AS "mediaId", m."title" AS title, o."startsAt", o."startedAt", o."endedAt", m."durationMs" AS "expectedMs", o."playedMs" AS "playedMs",
        o."rmsDbfs" AS "rmsDbfs", o."priority" AS priority, ${STATUS_SQL} AS status, o."discrepancy" AS reason, o."lateMs" AS "lateMs",
        o."deviceReason" AS "deviceReason"
       FROM "Occurrence" o JOIN "Station" s ON s."id" = o."stationId" JOIN "Media" m ON m."id" = o."mediaId"
       WHERE ${f.where}${byStatus.where} ORDER BY o."startsAt", o."id" LIMIT ? OFFSET ?`,
      [...f.params, ...byStatus.params, q.limit, q.offset],
    );
    const total = q.status ? totals[q.status] : Object.values(totals).reduce((a, b) => a + b, 0);
    const tree = await this.deps.units.tree();
    return { total, totals, items: rows.map((r) => toRow(r, tree)) };
  }

  /**
   * Scheduled vs aired vs missed per group: the child units of `unit` (or of the top of the tree), by the
   * unit each station had at airtime, rolled up from every level below; or per station; or per item.
   * With coverage (stations that aired within ±2 s), minutes against the policy's daily limit, uptime.
   */
  async report(q: Omit<AsRunQuery, 'status' | 'limit' | 'offset'> & { groupBy: GroupBy }): Promise<ComplianceReport> {
    const byMedia = q.groupBy === 'media';
    const cells = await this.cells(q, byMedia || Boolean(q.media));
    const tree = await this.deps.units.tree();
    const { rows, days } = await this.stationWeekdays(cells, tree, byMedia);
    const stationIds = [...new Set(rows.map((c) => c.stationId))];
    const stations = await this.names('Station', stationIds);
    const media = byMedia ? await this.names('Media', [...new Set(rows.map((c) => c.mediaId as string))], 'title') : new Map();
    const uptime = await this.uptime(stationIds, q.from, q.to);

    const base = q.unit ? tree.get(q.unit) : undefined;
    const depth = base ? tree.chain(base.id).length : 1;
    const keyOf = (unitId: string | null, stationId: string, mediaId: string | null): { key: string; name: string } => {
      if (q.groupBy === 'station') return stations.get(stationId) ?? { key: stationId, name: '' };
      if (byMedia) return { key: mediaId ?? '', name: media.get(mediaId ?? '')?.name ?? '' };
      // The unit one level below the base on the path from the root to the station's unit at airtime.
      const chain = unitId ? tree.chain(unitId) : [];
      const u = chain[depth] ?? chain.at(-1);
      return u ? { key: u.code, name: u.name } : { key: '', name: '' };
    };
    const groups = new Map<string, Group>();
    const all = newGroup('', '');
    const groupOf = (k: { key: string; name: string }) => {
      const g = groups.get(k.key) ?? newGroup(k.key, k.name);
      groups.set(k.key, g);
      return g;
    };
    for (const c of rows) {
      const g = groupOf(keyOf(c.unitId, c.stationId, c.mediaId));
      for (const x of [g, all]) add(x, c);
    }
    // Station-days against the policy's daily limit (emergencies exempt).
    for (const d of days) {
      const g = groupOf(keyOf(d.unitId, d.stationId, null));
      for (const x of [g, all]) {
        x.limits.add(d.limit);
        x.maxDayMinutes = Math.max(x.maxDayMinutes, d.maxMs / 60_000);
        x.overLimitDays += d.overDays;
      }
    }
    const lines = [...groups.values()]
      .sort((a, b) => a.key.localeCompare(b.key))
      .map((g) => ({ key: g.key, name: g.name, ...tally(g, uptime, byMedia) }));
    return {
      from: q.from,
      to: q.to,
      unit: q.unit ?? null,
      unitName: base?.name ?? null,
      unitType: base?.type ?? null,
      groupBy: q.groupBy,
      total: tally(all, uptime, byMedia),
      groups: lines,
      series: await this.series(cells, q),
    };
  }

  /**
   * One pass over the cells: each Hanoi day of each station (and item) summed in index order, then per unit at
   * airtime, station (item) and weekday: the airings by status and class, audio out, on-time airings, and the
   * days whose non-emergency audio exceeded each daily limit the policies name (a weekday has one limit per unit).
   */
  private async stationWeekdays(
    cells: { sql: string; params: unknown[] },
    tree: UnitTree,
    byMedia: boolean,
  ): Promise<{
    rows: Cell[];
    days: { unitId: string | null; stationId: string; limit: number | null; overDays: number; maxMs: number }[];
  }> {
    const limitValues = byMedia
      ? []
      : [...new Set([...tree.byId.keys()].flatMap((u) => [1, 2, 3, 4, 5, 6, 7].map((wd) => dailyLimit(tree, u, wd))))].filter(
          (l) => l !== null,
        );
    const classes = [
      ['e', 'emergency'],
      ['r', 'NOT emergency'],
    ] as const;
    const inner = classes.flatMap(([c, when]) => [
      ...AS_RUN_STATUSES.map((st) => `sum(CASE WHEN ${when} AND "asRun" = '${st}' THEN n ELSE 0 END) AS ${c}_${st}`),
      `sum(CASE WHEN ${when} THEN "playedMs" ELSE 0 END) AS ${c}_ms`,
      `sum(CASE WHEN ${when} THEN "onTime" ELSE 0 END) AS ${c}_on`,
      `max(CASE WHEN ${when} THEN 1 ELSE 0 END) AS ${c}_any`,
    ]);
    const outer = classes.flatMap(([c]) =>
      [...AS_RUN_STATUSES.map((st) => `${c}_${st}`), `${c}_ms`, `${c}_on`].map((k) => `sum(${k}) AS ${k}`),
    );
    const key = byMedia ? '"unitId", "stationId", "mediaId"' : '"unitId", "stationId"';
    const raw = await this.query<Record<string, unknown>>(
      `${cells.sql}, d AS (SELECT day, ${key}, ${inner.join(', ')} FROM cells GROUP BY day, ${key})
       SELECT ${key}, (day + 3) % 7 + 1 AS wd, ${outer.join(', ')}, sum(r_any) AS "regularDays",
        max(CASE WHEN r_any = 1 THEN r_ms END) AS "maxMs"${limitValues.map((_, i) => `, sum(CASE WHEN r_any = 1 AND r_ms > ? THEN 1 ELSE 0 END) AS over${i}`).join('')}
       FROM d GROUP BY ${key}, (day + 3) % 7 + 1`,
      [...cells.params, ...limitValues.map((l) => l * 60_000)],
    );
    const rows: Cell[] = [];
    const days: { unitId: string | null; stationId: string; limit: number | null; overDays: number; maxMs: number }[] = [];
    for (const r of raw) {
      const unitId = (r.unitId as string) || null;
      const stationId = r.stationId as string;
      const mediaId = byMedia ? (r.mediaId as string) : null;
      for (const [c] of classes) {
        const emergency = c === 'e';
        const counts = AS_RUN_STATUSES.map((st) => [st, Number(r[`${c}_${st}`])] as const).filter(([, n]) => n > 0);
        if (!counts.length) continue;
        // Audio out and on-time airings ride on the class's "aired" cell (present, with n = 0 if none aired).
        if (!counts.some(([st]) => st === 'aired')) counts.push(['aired', 0]);
        for (const [status, n] of counts)
          rows.push({
            unitId,
            stationId,
            mediaId,
            status,
            emergency,
            n,
            playedMs: status === 'aired' ? Number(r[`${c}_ms`]) : 0,
            onTime: status === 'aired' ? Number(r[`${c}_on`]) : 0,
          });
      }
      if (byMedia || Number(r.regularDays) === 0) continue;
      const limit = unitId ? dailyLimit(tree, unitId, Number(r.wd)) : null;
      days.push({
        unitId,
        stationId,
        limit,
        maxMs: Number(r.maxMs),
        overDays: limit === null ? 0 : Number(r[`over${limitValues.indexOf(limit)}`]),
      });
    }
    return { rows, days };
  }

  /** The range's rates over time: by Hanoi day up to 62 days, by Hanoi month beyond. */
  private async series(cells: { sql: string; params: unknown[] }, q: { from: Date; to: Date }): Promise<SeriesPoint[]> {
    const bucket = q.to.getTime() - q.from.getTime() > 62 * DAY_MS ? 'month' : 'day';
    const raw = await this.query<{ day: number; status: AsRunStatus; n: number; onTime: number }>(
      `${cells.sql} SELECT day, "asRun" AS status, sum(n) AS n, sum("onTime") AS "onTime" FROM cells GROUP BY 1, 2 ORDER BY 1`,
      cells.params,
    );
    const points = new Map<string, { counts: Record<AsRunStatus, number>; onTime: number }>();
    for (const r of raw) {
      const day = dayOfNumber(Number(r.day));
      const period = bucket === 'month' ? day.slice(0, 7) : day;
      const p = points.get(period) ?? { counts: zeroes(), onTime: 0 };
      p.counts[r.status] += Number(r.n);
      p.onTime += Number(r.onTime);
      points.set(period, p);
    }
    return [...points].map(([period, p]) => {
      const c = classTally(p.counts);
      return { period, bucket, ...c, skipped: p.counts.skipped, coverageRate: c.due > 0 ? round(p.onTime / c.due) : null };
    });
  }

  /**
   * The airings of a report as a `cells` CTE (day, unitId, stationId, mediaId, asRun, emergency, n, playedMs,
   * onTime): whole Hanoi days from the ReportDay rollup, the cut days at either end (a range that does not
   * start or end at a Hanoi midnight) from the occurrences themselves; everything from the occurrences when
   * the item matters (the rollup does not keep it).
   */
  private async cells(q: Omit<AsRunQuery, 'status' | 'limit' | 'offset'>, byMedia: boolean): Promise<{ sql: string; params: unknown[] }> {
    const scope = await this.scope(q);
    const d = dialectOf(this.deps.db);
    const fromOccurrences = (from: Date, to: Date, withMedia: boolean) => ({
      sql: `SELECT o."day" AS day, coalesce(o."unitId", '') AS "unitId", o."stationId" AS "stationId", ${withMedia ? 'o."mediaId"' : 'NULL'} AS "mediaId",
          ${STATUS_SQL} AS "asRun", o."priority" = 'emergency' AS emergency, count(*) AS n,
          ${d.total(`CASE WHEN ${AIRED_SQL} THEN o."playedMs" ELSE 0 END`)} AS "playedMs", sum(${ON_TIME_SQL}) AS "onTime"
        FROM "Occurrence" o WHERE ${['o."startsAt" >= ? AND o."startsAt" < ?', ...scope.where('o')].join(' AND ')} GROUP BY 1, 2, 3, 4, 5, 6`,
      params: [d.time(from), d.time(to), ...scope.params],
    });
    const parts: { sql: string; params: unknown[] }[] = [];
    // The Hanoi days wholly inside [from, to): their midnights bound the rollup's part.
    const first = hanoiDayNumber(q.from) + (isHanoiMidnight(q.from) ? 0 : 1);
    const last = hanoiDayNumber(q.to) - 1;
    if (byMedia || first > last) {
      parts.push(fromOccurrences(q.from, q.to, byMedia));
    } else {
      parts.push({
        sql: `SELECT r."day" AS day, r."unitId" AS "unitId", r."stationId" AS "stationId", NULL AS "mediaId", r."asRun" AS "asRun",
            r."emergency" AS emergency, r."n" AS n, r."playedMs" AS "playedMs", r."onTime" AS "onTime"
          FROM "ReportDay" r WHERE ${['r."day" >= ? AND r."day" <= ?', ...scope.where('r')].join(' AND ')}`,
        params: [first, last, ...scope.params],
      });
      const firstMidnight = new Date(first * DAY_MS - HANOI_OFFSET_MS);
      const lastMidnight = new Date((last + 1) * DAY_MS - HANOI_OFFSET_MS);
      if (q.from < firstMidnight) parts.push(fromOccurrences(q.from, firstMidnight, false));
      if (q.to > lastMidnight) parts.push(fromOccurrences(lastMidnight, q.to, false));
    }
    return {
      sql: `${scope.cte ? `${scope.cte}, ` : 'WITH '}cells AS (${parts.map((p) => p.sql).join(' UNION ALL ')})`,
      params: [...scope.cteParams, ...parts.flatMap((p) => p.params)],
    };
  }

  /** Share of the range each station in service was online (compliance/uptime.ts). */
  uptime(stationIds: string[], from: Date, to: Date): Promise<Map<string, number>> {
    return uptimeShares(this.deps.db, stationIds, from, new Date(Math.min(to.getTime(), this.deps.now().getTime())));
  }

  /** The range checks, and the WHERE clause (with a recursive unit subtree) of the as-run list. */
  private async filter(q: Omit<AsRunQuery, 'status' | 'limit' | 'offset'>): Promise<{ cte: string; where: string; params: unknown[] }> {
    const scope = await this.scope(q);
    return {
      cte: scope.cte,
      where: ['o."startsAt" >= ?', 'o."startsAt" < ?', ...scope.where('o')].join(' AND '),
      params: [...scope.cteParams, dialectOf(this.deps.db).time(q.from), dialectOf(this.deps.db).time(q.to), ...scope.params],
    };
  }

  /**
   * Checks the range and names the airings' station filter: a unit's subtree (a recursive CTE over the
   * units, by the unit at airtime), a station, an item. `where(alias)` gives the conditions on a table with
   * "unitId", "stationId" (and "mediaId"), whose values are `params`.
   */
  private async scope(q: Omit<AsRunQuery, 'status' | 'limit' | 'offset'>): Promise<{
    cte: string;
    cteParams: unknown[];
    where: (alias: string) => string[];
    params: unknown[];
  }> {
    if (q.to <= q.from) throw badRequest('INVALID_RANGE', '`to` must be after `from`');
    if (q.to.getTime() - q.from.getTime() > MAX_RANGE_MS) throw badRequest('RANGE_TOO_LONG', 'at most 366 days per request');
    // Verdicts of windows that closed by now are written before anyone reads them.
    await this.deps.sweep();
    // A unit that is the only root holds every airing: no subtree test per row then.
    let subtree = false;
    if (q.unit) {
      const tree = await this.deps.units.tree();
      const unit = tree.get(q.unit); // UNKNOWN_UNIT before any query
      const roots = [...tree.byId.values()].filter((u) => !u.parentId);
      subtree = !(roots.length === 1 && roots[0]?.id === unit.id);
    }
    const conditions: ((alias: string) => string)[] = [];
    const params: unknown[] = [];
    if (subtree) conditions.push((a) => `${a}."unitId" IN (SELECT id FROM sub)`);
    if (q.station) {
      const st = await this.deps.db.station.findUnique({ where: { code: q.station }, select: { id: true } });
      if (!st) throw notFound('UNKNOWN_STATION', `unknown station ${q.station}`);
      conditions.push((a) => `${a}."stationId" = ?`);
      params.push(st.id);
    }
    if (q.media) {
      conditions.push((a) => `${a}."mediaId" = ?`);
      params.push(q.media);
    }
    return {
      cte: subtree
        ? `WITH RECURSIVE sub(id) AS (SELECT "id" FROM "Unit" WHERE "code" = ? UNION ALL SELECT u."id" FROM "Unit" u JOIN sub ON u."parentId" = sub.id)`
        : '',
      cteParams: subtree ? [q.unit] : [],
      where: (alias) => conditions.map((c) => c(alias)),
      params,
    };
  }

  private query<T>(sql: string, params: unknown[]): Promise<T[]> {
    return this.deps.db.$queryRawUnsafe<T[]>(dialectOf(this.deps.db).sql(sql), ...params);
  }

  private async names(table: 'Station' | 'Media', ids: string[], name = 'name'): Promise<Map<string, { key: string; name: string }>> {
    const key = table === 'Station' ? '"code"' : '"id"';
    const rows = await this.query<{ id: string; key: string; name: string }>(
      `SELECT "id" AS id, ${key} AS key, "${name}" AS name FROM "${table}" WHERE "id" IN (${dialectOf(this.deps.db).jsonIds})`,
      [JSON.stringify(ids)],
    );
    return new Map(rows.map((r) => [r.id, { key: r.key, name: r.name }]));
  }
}

type RawRow = Omit<AsRunRow, 'reason' | 'lateMs' | 'deviceReason' | 'unitCode' | 'unitName' | 'unitType'> & {
  reason: Discrepancy | null;
  lateMs: number | null;
  deviceReason: string | null;
};
function toRow(r: RawRow, tree: UnitTree): AsRunRow {
  const { reason, lateMs, deviceReason, ...rest } = r;
  const unit = r.unitId ? tree.byId.get(r.unitId) : undefined;
  return {
    ...rest,
    unitCode: unit?.code ?? null,
    unitName: unit?.name ?? null,
    unitType: unit?.type ?? null,
    expectedMs: Number(r.expectedMs),
    playedMs: r.playedMs === null ? null : Number(r.playedMs),
    ...(reason ? { reason } : {}),
    ...(lateMs !== null ? { lateMs: Number(lateMs) } : {}),
    ...(deviceReason ? { deviceReason } : {}),
  };
}
