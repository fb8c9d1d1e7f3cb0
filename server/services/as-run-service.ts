// The as-run log: every scheduled airing in a range with its derived status (compliance/as-run.ts),
// from the occurrences and the end proofs the gateways sent. Read-time derivation: an airing without
// proof becomes "missed" when its window closes, with no job that could fail to run.
import { AS_RUN_STATUSES, type AsRun, type AsRunStatus, asRun } from '../compliance/as-run.ts';
import { chunked, type Db } from '../db/client.ts';
import type { Prisma } from '../db/generated/client.ts';
import { badRequest } from '../http/errors.ts';
import type { UnitService } from './unit-service.ts';

/** The longest range one request may cover (a month report is the largest the office asks for). */
export const MAX_RANGE_MS = 31 * 86_400_000;

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

export interface AsRunRow extends AsRun {
  occurrenceId: string;
  station: string;
  stationName: string;
  /** The station's unit at airtime. */
  unitId: string | null;
  mediaId: string;
  title: string;
  startsAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
  expectedMs: number;
  playedMs: number | null;
  priority: string;
}

export class AsRunService {
  constructor(private readonly deps: { db: Db; now: () => Date; units: UnitService }) {}

  async list(q: AsRunQuery): Promise<{ total: number; totals: Record<AsRunStatus, number>; items: AsRunRow[] }> {
    const rows = await this.airings(q);
    const totals = countByStatus(rows);
    const items = q.status ? rows.filter((r) => r.status === q.status) : rows;
    return { total: items.length, totals, items: items.slice(q.offset, q.offset + q.limit) };
  }

  /**
   * Scheduled vs aired vs missed per group: the child units of `unit` (or of the top of the tree), by the
   * unit each station had at airtime, rolled up from every level below; or per station; or per item.
   */
  async report(q: Omit<AsRunQuery, 'status' | 'limit' | 'offset'> & { groupBy: 'unit' | 'station' | 'media' }): Promise<ComplianceReport> {
    const rows = await this.airings(q);
    const tree = await this.deps.units.tree();
    const base = q.unit ? tree.get(q.unit) : undefined;
    const depth = base ? tree.chain(base.id).length : 1;
    const keyOf = (r: AsRunRow): { key: string; name: string } => {
      if (q.groupBy === 'station') return { key: r.station, name: r.stationName };
      if (q.groupBy === 'media') return { key: r.mediaId, name: r.title };
      // The unit one level below the base on the path from the root to the station's unit at airtime.
      const chain = r.unitId ? tree.chain(r.unitId) : [];
      const u = chain[depth] ?? chain.at(-1);
      return u ? { key: u.code, name: u.name } : { key: '', name: '' };
    };
    const groups = new Map<string, { key: string; name: string; rows: AsRunRow[] }>();
    for (const r of rows) {
      const { key, name } = keyOf(r);
      const g = groups.get(key) ?? { key, name, rows: [] };
      g.rows.push(r);
      groups.set(key, g);
    }
    const lines = [...groups.values()]
      .sort((a, b) => a.key.localeCompare(b.key))
      .map((g) => ({ key: g.key, name: g.name, ...tally(g.rows) }));
    return { from: q.from, to: q.to, unit: q.unit ?? null, groupBy: q.groupBy, total: tally(rows), groups: lines };
  }

  /** Every airing in the range, with its derived status, in start order. */
  private async airings(q: Omit<AsRunQuery, 'status' | 'limit' | 'offset'>): Promise<AsRunRow[]> {
    if (q.to <= q.from) throw badRequest('INVALID_RANGE', '`to` must be after `from`');
    if (q.to.getTime() - q.from.getTime() > MAX_RANGE_MS) throw badRequest('RANGE_TOO_LONG', 'at most 31 days per request');
    const { db } = this.deps;
    let unitIds: string[] | undefined;
    if (q.unit) {
      const tree = await this.deps.units.tree();
      unitIds = tree.subtree(tree.get(q.unit).id).map((u) => u.id);
    }
    const base = {
      startsAt: { gte: q.from, lt: q.to },
      ...(q.station ? { station: { code: q.station } } : {}),
      ...(q.media ? { mediaId: q.media } : {}),
    };
    const select = {
      id: true,
      startsAt: true,
      startedAt: true,
      endedAt: true,
      playedMs: true,
      priority: true,
      mediaId: true,
      unitId: true,
      station: { select: { code: true, name: true } },
      media: { select: { title: true, durationMs: true } },
      schedule: { select: { startWindowMs: true } },
      // The latest end proof decides (a gateway may send one more than once; they agree).
      reports: { where: { kind: { in: ['completed', 'failed'] } }, orderBy: { receivedAt: 'desc' }, take: 1 },
    } satisfies Prisma.OccurrenceSelect;
    const rows = [];
    for (const part of unitIds ? chunked(unitIds) : [undefined])
      rows.push(
        ...(await db.occurrence.findMany({
          where: { ...base, ...(part ? { unitId: { in: part } } : {}) },
          select,
          orderBy: [{ startsAt: 'asc' }, { id: 'asc' }],
        })),
      );
    const now = this.deps.now();
    const items: AsRunRow[] = [];
    for (const o of rows) {
      const proof = o.reports[0];
      const derived = asRun(
        {
          startsAt: o.startsAt,
          expectedMs: o.media.durationMs,
          startWindowMs: o.schedule.startWindowMs,
          startedAt: o.startedAt,
          ...(proof
            ? {
                end: {
                  kind: proof.kind as 'completed' | 'failed',
                  playedMs: proof.playedMs,
                  rmsDbfs: proof.rmsDbfs,
                  reason: reasonOf(proof.raw),
                },
              }
            : {}),
        },
        now,
      );
      items.push({
        occurrenceId: o.id,
        station: o.station.code,
        stationName: o.station.name,
        unitId: o.unitId,
        mediaId: o.mediaId,
        title: o.media.title,
        startsAt: o.startsAt,
        startedAt: o.startedAt,
        endedAt: o.endedAt,
        expectedMs: o.media.durationMs,
        playedMs: o.playedMs,
        priority: o.priority,
        ...derived,
      });
    }
    if (unitIds) items.sort((a, b) => a.startsAt.getTime() - b.startsAt.getTime() || a.occurrenceId.localeCompare(b.occurrenceId));
    return items;
  }
}

/** The device's reason code, read from the stored signed report (verified when it was received). */
function reasonOf(raw: string): string | undefined {
  try {
    const reason = (JSON.parse(raw) as { body?: { reason?: unknown } }).body?.reason;
    return typeof reason === 'string' ? reason : undefined;
  } catch {
    return undefined;
  }
}

function countByStatus(rows: AsRunRow[]): Record<AsRunStatus, number> {
  const totals = Object.fromEntries(AS_RUN_STATUSES.map((st) => [st, 0])) as Record<AsRunStatus, number>;
  for (const r of rows) totals[r.status]++;
  return totals;
}

export interface Tally extends Record<AsRunStatus, number> {
  scheduled: number;
  stations: number;
  /** Aired in full (on time or late) over the airings that were due and not skipped by rule; null when none. */
  complianceRate: number | null;
  /** Aired in full within the 2 s tolerance over the same. */
  onTimeRate: number | null;
  /** Audio that went out, in minutes (aired, late and partial airings). */
  airedMinutes: number;
}

export interface ComplianceReport {
  from: Date;
  to: Date;
  unit: string | null;
  groupBy: 'unit' | 'station' | 'media';
  total: Tally;
  groups: ({ key: string; name: string } & Tally)[];
}

function tally(rows: AsRunRow[]): Tally {
  const counts = countByStatus(rows);
  const due = rows.length - counts.skipped - counts.pending - counts.playing;
  const rate = (n: number) => (due > 0 ? Math.round((n / due) * 10_000) / 10_000 : null);
  const playedMs = rows.reduce((sum, r) => sum + (['aired', 'late', 'partial'].includes(r.status) ? (r.playedMs ?? 0) : 0), 0);
  return {
    scheduled: rows.length,
    ...counts,
    stations: new Set(rows.map((r) => r.station)).size,
    complianceRate: rate(counts.aired + counts.late),
    onTimeRate: rate(counts.aired),
    airedMinutes: Math.round((playedMs / 60_000) * 100) / 100,
  };
}
