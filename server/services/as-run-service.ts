// The as-run log and compliance reports, from the verdicts stored with each occurrence (set by the
// proof ingest, or by the sweep when a window closes without proof). Reports read whole Hanoi days from the
// ReportDay rollup (kept by triggers) and only cut days from the occurrences: a year of all Hanoi (~2.1 M
// airings) is ~211,000 rollup rows, summed in the database per station and weekday, rolled up here.
import { AS_RUN_RULES, AS_RUN_STATUSES, type AsRunStatus, type Discrepancy } from '../compliance/as-run.ts';
import { chunked, type Db } from '../db/client.ts';
import { sqlTime } from '../db/proof-ledger.ts';
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
      `${f.cte} SELECT o."id" AS occurrenceId, o."scheduleId" AS scheduleId, s."code" AS station, s."name" AS stationName, o."unitId" AS unitId, o."mediaId" AS mediaId,
        m."title" AS title, o."startsAt", o."startedAt", o."endedAt", m."durationMs" AS expectedMs, o."playedMs" AS playedMs,
        o."rmsDbfs" AS rmsDbfs, o."priority" AS priority, ${STATUS_SQL} AS status, o."discrepancy" AS reason, o."lateMs" AS lateMs, o."deviceReason" AS deviceReason
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
      ...AS_RUN_STATUSES.map((st) => `sum(CASE WHEN ${when} AND asRun = '${st}' THEN n ELSE 0 END) AS ${c}_${st}`),
      `sum(CASE WHEN ${when} THEN playedMs ELSE 0 END) AS ${c}_ms`,
      `sum(CASE WHEN ${when} THEN onTime ELSE 0 END) AS ${c}_on`,
      `max(CASE WHEN ${when} THEN 1 ELSE 0 END) AS ${c}_any`,
    ]);
    const outer = classes.flatMap(([c]) =>
      [...AS_RUN_STATUSES.map((st) => `${c}_${st}`), `${c}_ms`, `${c}_on`].map((k) => `sum(${k}) AS ${k}`),
    );
    const key = byMedia ? 'unitId, stationId, mediaId' : 'unitId, stationId';
    const raw = await this.query<Record<string, unknown>>(
      `${cells.sql}, d AS (SELECT day, ${key}, ${inner.join(', ')} FROM cells GROUP BY day, ${key})
       SELECT ${key}, (day + 3) % 7 + 1 AS wd, ${outer.join(', ')}, sum(r_any) AS regularDays,
        max(CASE WHEN r_any = 1 THEN r_ms END) AS maxMs${limitValues.map((_, i) => `, sum(CASE WHEN r_any = 1 AND r_ms > ? THEN 1 ELSE 0 END) AS over${i}`).join('')}
       FROM d GROUP BY ${key}, wd`,
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
      `${cells.sql} SELECT day, asRun AS status, sum(n) AS n, sum(onTime) AS onTime FROM cells GROUP BY 1, 2 ORDER BY 1`,
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
    const fromOccurrences = (from: Date, to: Date, withMedia: boolean) => ({
      sql: `SELECT o."day" AS day, coalesce(o."unitId", '') AS unitId, o."stationId" AS stationId, ${withMedia ? 'o."mediaId"' : 'NULL'} AS mediaId,
          ${STATUS_SQL} AS asRun, o."priority" = 'emergency' AS emergency, count(*) AS n,
          total(CASE WHEN ${AIRED_SQL} THEN o."playedMs" ELSE 0 END) AS playedMs, sum(${ON_TIME_SQL}) AS onTime
        FROM "Occurrence" o WHERE ${['o."startsAt" >= ? AND o."startsAt" < ?', ...scope.where('o')].join(' AND ')} GROUP BY 1, 2, 3, 4, 5, 6`,
      params: [sqlTime(from), sqlTime(to), ...scope.params],
    });
    const parts: { sql: string; params: unknown[] }[] = [];
    // The Hanoi days wholly inside [from, to): their midnights bound the rollup's part.
    const first = hanoiDayNumber(q.from) + (isHanoiMidnight(q.from) ? 0 : 1);
    const last = hanoiDayNumber(q.to) - 1;
    if (byMedia || first > last) {
      parts.push(fromOccurrences(q.from, q.to, byMedia));
    } else {
      parts.push({
        sql: `SELECT r."day" AS day, r."unitId" AS unitId, r."stationId" AS stationId, NULL AS mediaId, r."asRun" AS asRun, r."emergency" AS emergency,
            r."n" AS n, r."playedMs" AS playedMs, r."onTime" AS onTime
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

  /**
   * Share of [from, min(to, now)) each station was online, from its availability history, counted from the
   * station's entry into service (installation or its first enrollment, whichever is later): time before
   * it is not offline. A station not in service during the range has no uptime (absent from the map).
   */
  async uptime(stationIds: string[], from: Date, to: Date): Promise<Map<string, number>> {
    const end = Math.min(to.getTime(), this.deps.now().getTime());
    const out = new Map<string, number>();
    if (end <= from.getTime() || stationIds.length === 0) return out;
    const starts = new Map<string, number>();
    for (const part of chunked(stationIds))
      for (const st of await this.deps.db.station.findMany({
        where: { id: { in: part } },
        select: { id: true, installedAt: true, devices: { select: { enrolledAt: true } } },
      })) {
        const since = inServiceSince(
          st.installedAt,
          st.devices.map((d) => d.enrolledAt),
        );
        if (since && since.getTime() < end) starts.set(st.id, Math.max(from.getTime(), since.getTime()));
      }
    const events = await this.query<{ stationId: string; online: number; at: Date }>(
      `WITH ids(id) AS (SELECT value FROM json_each(?))
       SELECT e."stationId" AS stationId, e."online" AS online, e."at" AS at FROM "StationEvent" e JOIN ids ON ids.id = e."stationId"
       WHERE e."at" < ? AND (e."at" >= ? OR e."at" = (SELECT max(p."at") FROM "StationEvent" p WHERE p."stationId" = e."stationId" AND p."at" < ?))
       ORDER BY e."stationId", e."at"`,
      [JSON.stringify(stationIds), sqlTime(new Date(end)), sqlTime(from), sqlTime(from)],
    );
    const byStation = new Map<string, { online: boolean; at: number }[]>();
    for (const e of events) {
      const list = byStation.get(e.stationId) ?? [];
      list.push({ online: Boolean(e.online), at: new Date(e.at).getTime() });
      byStation.set(e.stationId, list);
    }
    for (const [id, start] of starts) out.set(id, onlineShare(byStation.get(id) ?? [], start, end));
    return out;
  }

  /** The range checks, and the WHERE clause (with a recursive unit subtree) of the as-run list. */
  private async filter(q: Omit<AsRunQuery, 'status' | 'limit' | 'offset'>): Promise<{ cte: string; where: string; params: unknown[] }> {
    const scope = await this.scope(q);
    return {
      cte: scope.cte,
      where: ['o."startsAt" >= ?', 'o."startsAt" < ?', ...scope.where('o')].join(' AND '),
      params: [...scope.cteParams, sqlTime(q.from), sqlTime(q.to), ...scope.params],
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
    return this.deps.db.$queryRawUnsafe<T[]>(sql, ...params);
  }

  private async names(table: 'Station' | 'Media', ids: string[], name = 'name'): Promise<Map<string, { key: string; name: string }>> {
    const key = table === 'Station' ? '"code"' : '"id"';
    const rows = await this.query<{ id: string; key: string; name: string }>(
      `SELECT "id" AS id, ${key} AS key, "${name}" AS name FROM "${table}" WHERE "id" IN (SELECT value FROM json_each(?))`,
      [JSON.stringify(ids)],
    );
    return new Map(rows.map((r) => [r.id, { key: r.key, name: r.name }]));
  }
}

type GroupBy = 'unit' | 'station' | 'media';
type RawRow = Omit<AsRunRow, 'reason' | 'lateMs' | 'deviceReason' | 'unitCode' | 'unitName' | 'unitType'> & {
  reason: Discrepancy | null;
  lateMs: number | null;
  deviceReason: string | null;
};
type Cell = {
  /** The station's unit at airtime. */
  unitId: string | null;
  stationId: string;
  mediaId: string | null;
  status: AsRunStatus;
  /** Emergencies are exempt from the daily limit, and counted apart. */
  emergency: boolean;
  n: number;
  playedMs: number;
  onTime: number;
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

const zeroes = () => Object.fromEntries(AS_RUN_STATUSES.map((st) => [st, 0])) as Record<AsRunStatus, number>;

/** Airings that were due: everything but those skipped by rule and those not over yet. */
const isDue = (status: AsRunStatus) => status !== 'skipped' && status !== 'pending' && status !== 'playing';

interface Group {
  key: string;
  name: string;
  counts: Record<AsRunStatus, number>;
  /** By class: emergencies apart from regular and priority airings. */
  byClass: Record<'emergency' | 'regular', Record<AsRunStatus, number>>;
  playedMs: number;
  /** Aired in full within ±2 s of the scheduled start. */
  onTime: number;
  stations: Set<string>;
  /** Per station: its due airings and those aired on time, for coverage per station. */
  perStation: Map<string, { due: number; onTime: number }>;
  limits: Set<number | null>;
  overLimitDays: number;
  maxDayMinutes: number;
}

const newGroup = (key: string, name: string): Group => ({
  key,
  name,
  counts: zeroes(),
  byClass: { emergency: zeroes(), regular: zeroes() },
  playedMs: 0,
  onTime: 0,
  stations: new Set(),
  perStation: new Map(),
  limits: new Set(),
  overLimitDays: 0,
  maxDayMinutes: 0,
});

function add(g: Group, c: Cell): void {
  const n = Number(c.n);
  g.counts[c.status] += n;
  g.byClass[c.emergency ? 'emergency' : 'regular'][c.status] += n;
  g.playedMs += Number(c.playedMs);
  g.onTime += Number(c.onTime);
  g.stations.add(c.stationId);
  const st = g.perStation.get(c.stationId) ?? { due: 0, onTime: 0 };
  if (isDue(c.status)) st.due += n;
  st.onTime += Number(c.onTime);
  g.perStation.set(c.stationId, st);
}

/** Minutes a station of `unitId` may air on an ISO weekday under its effective policy; null when unlimited. */
function dailyLimit(tree: UnitTree, unitId: string, weekday: number): number | null {
  const { policy } = tree.effectivePolicy(unitId);
  if (policy.emergencyOnly || (policy.weekdays && !policy.weekdays.includes(weekday))) return 0;
  if (policy.maxSessionMinutes === undefined || policy.maxSessionsPerDay === undefined) return null;
  return policy.maxSessionMinutes * policy.maxSessionsPerDay;
}

/** When a station entered service: the later of its installation and its first enrollment (those known); null if neither. */
export function inServiceSince(installedAt: Date | null, enrolledAt: (Date | null)[]): Date | null {
  const enrolled = enrolledAt.filter((d): d is Date => d !== null).sort((a, b) => a.getTime() - b.getTime())[0];
  const known = [installedAt, enrolled].filter((d): d is Date => d instanceof Date);
  return known.length ? new Date(Math.max(...known.map((d) => d.getTime()))) : null;
}

/** Online share of [from, end) from a station's events in order (the first may precede `from`). */
export function onlineShare(events: { online: boolean; at: number }[], from: number, end: number): number {
  let online = false;
  let since = from;
  let up = 0;
  for (const e of events) {
    const at = Math.max(e.at, from);
    if (online) up += at - since;
    online = e.online;
    since = at;
  }
  if (online) up += end - since;
  return Math.round((up / (end - from)) * 10_000) / 10_000;
}

export interface Tally extends Record<AsRunStatus, number> {
  scheduled: number;
  stations: number;
  /** Aired in full (on time or late) over the airings that were due and not skipped by rule; null when none. */
  complianceRate: number | null;
  /** Aired in full within the 2 s tolerance over the same. */
  onTimeRate: number | null;
  /** Due airings that aired in full within ±2 s of their scheduled start, over the due airings; null when none was due. */
  coverageRate: number | null;
  /** The mean, over the group's stations with a due airing, of each station's own coverage. */
  stationCoverageRate: number | null;
  /** Stations with a due airing, and those of them whose every due airing aired in full within ±2 s. */
  stationsDue: number;
  stationsFullyCovered: number;
  /** The same counts and rates for emergencies and for the rest (regular and priority airings). */
  emergency: ClassTally;
  regular: ClassTally;
  /** Audio that went out, in minutes (aired, late and partial airings). */
  airedMinutes: number;
  /** The policy's daily limit (sessions × session minutes) when every station of the group has the same; null otherwise or unlimited. */
  limitMinutesPerDay: number | null;
  /** Station-days whose aired minutes (emergencies exempt) exceeded the station's daily limit. */
  overLimitDays: number;
  /** The most minutes one station aired in one day (emergencies exempt). */
  maxDayMinutes: number;
  /** Mean share of the range its stations were online (up to now); null when the range has not begun. */
  uptimeRate: number | null;
}

export interface ClassTally {
  scheduled: number;
  due: number;
  aired: number;
  late: number;
  partial: number;
  missed: number;
  complianceRate: number | null;
  onTimeRate: number | null;
}

/** One period of a report's range: its counts and rates, as the whole report gives them. */
export interface SeriesPoint extends ClassTally {
  /** The Hanoi day (YYYY-MM-DD) or month (YYYY-MM). */
  period: string;
  bucket: 'day' | 'month';
  skipped: number;
  coverageRate: number | null;
}

export interface ComplianceReport {
  from: Date;
  to: Date;
  unit: string | null;
  /** The unit's name and type ("Huyện Sóc Sơn", "Huyện"), for people. */
  unitName: string | null;
  unitType: string | null;
  groupBy: GroupBy;
  total: Tally;
  groups: ({ key: string; name: string } & Tally)[];
  /** The range's rates over time (by day up to 62 days, by month beyond). */
  series: SeriesPoint[];
}

const round = (x: number, places = 4) => Math.round(x * 10 ** places) / 10 ** places;

const dueOf = (c: Record<AsRunStatus, number>) => AS_RUN_STATUSES.filter(isDue).reduce((a, st) => a + c[st], 0);

function classTally(c: Record<AsRunStatus, number>): ClassTally {
  const due = dueOf(c);
  const rate = (n: number) => (due > 0 ? round(n / due) : null);
  return {
    scheduled: Object.values(c).reduce((a, b) => a + b, 0),
    due,
    aired: c.aired,
    late: c.late,
    partial: c.partial,
    missed: c.missed,
    complianceRate: rate(c.aired + c.late),
    onTimeRate: rate(c.aired),
  };
}

function tally(g: Group, uptime: Map<string, number>, byMedia: boolean): Tally {
  const c = g.counts;
  const scheduled = Object.values(c).reduce((a, b) => a + b, 0);
  const due = dueOf(c);
  const rate = (n: number) => (due > 0 ? round(n / due) : null);
  const withDue = [...g.perStation.values()].filter((st) => st.due > 0);
  const ups = [...g.stations].flatMap((id) => (uptime.has(id) ? [uptime.get(id) as number] : []));
  const limits = [...g.limits];
  return {
    scheduled,
    ...c,
    stations: g.stations.size,
    complianceRate: rate(c.aired + c.late),
    onTimeRate: rate(c.aired),
    coverageRate: rate(g.onTime),
    stationCoverageRate: withDue.length ? round(withDue.reduce((a, st) => a + st.onTime / st.due, 0) / withDue.length) : null,
    stationsDue: withDue.length,
    stationsFullyCovered: withDue.filter((st) => st.onTime >= st.due).length,
    emergency: classTally(g.byClass.emergency),
    regular: classTally(g.byClass.regular),
    airedMinutes: round(g.playedMs / 60_000, 2),
    limitMinutesPerDay: !byMedia && limits.length === 1 ? (limits[0] ?? null) : null,
    overLimitDays: g.overLimitDays,
    maxDayMinutes: round(g.maxDayMinutes, 2),
    uptimeRate: ups.length ? round(ups.reduce((a, b) => a + b, 0) / ups.length) : null,
  };
}
