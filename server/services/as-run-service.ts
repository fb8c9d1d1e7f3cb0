// The as-run log: every scheduled airing in a range with its derived status (compliance/as-run.ts),
// from the occurrences and the end proofs the gateways sent. Read-time derivation: an airing without
// proof becomes "missed" when its window closes, with no job that could fail to run.
import { type AsRun, type AsRunStatus, asRun } from '../compliance/as-run.ts';
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
      station: { select: { code: true } },
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
    const totals = Object.fromEntries(
      (['pending', 'playing', 'aired', 'late', 'partial', 'missed', 'skipped'] as const).map((s) => [s, 0]),
    ) as Record<AsRunStatus, number>;
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
      totals[derived.status]++;
      if (q.status && derived.status !== q.status) continue;
      items.push({
        occurrenceId: o.id,
        station: o.station.code,
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
    return { total: items.length, totals, items: items.slice(q.offset, q.offset + q.limit) };
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
