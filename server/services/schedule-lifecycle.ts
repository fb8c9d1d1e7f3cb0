// What happens to a schedule after it is made: listed, paused, resumed, cancelled, or one of its airings
// cancelled. Only airings still to come change; each change re-plans exactly the stations it touches
// (their gateways get new manifests). A held or cancelled airing is "skipped" with reason "cancelled" in
// the as-run (deliberate, never "missed"); resuming puts the future ones back.
import { chunked, type Db } from '../db/client.ts';
import type { Prisma } from '../db/generated/client.ts';
import type { DispatchService } from './dispatch-service.ts';
import { conflict, notFound } from './errors.ts';

export type ScheduleStatus = 'active' | 'paused' | 'cancelled';

export interface ScheduleFilter {
  /** Unit ids whose airings count (a scope, or a unit's subtree); absent: all. */
  units?: string[];
  mediaId?: string;
  status?: ScheduleStatus;
  /** Schedules with an airing in [from, to). */
  from?: Date;
  to?: Date;
  limit: number;
  offset: number;
}

const HELD = { asRun: 'skipped', discrepancy: 'cancelled' } as const;

export class ScheduleLifecycle {
  constructor(private readonly deps: { db: Db; dispatch: DispatchService; now: () => Date }) {}

  async list(f: ScheduleFilter) {
    const airing: Prisma.OccurrenceWhereInput = {
      ...(f.units ? { unitId: { in: f.units } } : {}),
      ...(f.from || f.to ? { startsAt: { ...(f.from ? { gte: f.from } : {}), ...(f.to ? { lt: f.to } : {}) } } : {}),
    };
    const where: Prisma.ScheduleWhereInput = {
      ...(f.mediaId ? { mediaId: f.mediaId } : {}),
      ...(f.status ? { status: f.status } : {}),
      ...(Object.keys(airing).length ? { occurrences: { some: airing } } : {}),
    };
    const [total, rows] = await Promise.all([
      this.deps.db.schedule.count({ where }),
      this.deps.db.schedule.findMany({
        where,
        include: { media: { select: { title: true } }, playlist: { select: { title: true } } },
        orderBy: [{ startsAt: 'desc' }, { id: 'asc' }],
        take: f.limit,
        skip: f.offset,
      }),
    ]);
    const at = this.deps.now();
    const counts = new Map<string, { upcoming: number; held: number }>();
    for (const part of chunked(rows.map((r) => r.id))) {
      const grouped = await this.deps.db.occurrence.groupBy({
        by: ['scheduleId', 'status'],
        where: { scheduleId: { in: part }, startsAt: { gte: at }, ...(f.units ? { unitId: { in: f.units } } : {}) },
        _count: true,
      });
      for (const g of grouped) {
        const c = counts.get(g.scheduleId) ?? { upcoming: 0, held: 0 };
        if (g.status === 'scheduled') c.upcoming += g._count;
        else if (g.status === 'paused') c.held += g._count;
        counts.set(g.scheduleId, c);
      }
    }
    return {
      total,
      items: rows.map((s) => ({
        id: s.id,
        mediaId: s.mediaId,
        playlistId: s.playlistId,
        title: s.media?.title ?? s.playlist?.title ?? '',
        startsAt: s.startsAt,
        rrule: s.rrule,
        priority: s.priority,
        status: s.status as ScheduleStatus,
        stations: JSON.parse(s.stationCodes) as string[],
        upcoming: counts.get(s.id)?.upcoming ?? 0,
        held: counts.get(s.id)?.held ?? 0,
      })),
    };
  }

  /** The unit ids of a schedule's airings (for the caller's scope check: a change needs all of them). */
  async units(id: string): Promise<string[]> {
    const s = await this.deps.db.schedule.findUnique({ where: { id }, select: { id: true, emergencyId: true, broadcastId: true } });
    if (!s) throw notFound('UNKNOWN_SCHEDULE', `unknown schedule ${id}`);
    assertOrdinary(s);
    const rows = await this.deps.db.occurrence.findMany({ where: { scheduleId: id }, distinct: ['unitId'], select: { unitId: true } });
    return rows.map((r) => r.unitId).filter((u): u is string => u !== null);
  }

  /** Holds every airing still to come: they leave the gateways' plans until resumed. */
  pause(id: string) {
    return this.change(id, { from: ['active'], to: 'paused', occurrences: ['scheduled'], set: { status: 'paused', ...HELD } });
  }

  /** Puts the held airings still to come back on the gateways' plans. */
  resume(id: string) {
    return this.change(id, {
      from: ['paused'],
      to: 'active',
      occurrences: ['paused'],
      set: { status: 'scheduled', asRun: null, discrepancy: null },
    });
  }

  /** Cancels the schedule for good: no airing to come, no new ones as the horizon moves. */
  cancel(id: string) {
    return this.change(id, {
      from: ['active', 'paused'],
      to: 'cancelled',
      occurrences: ['scheduled', 'paused'],
      set: { status: 'cancelled', ...HELD },
    });
  }

  /** One airing's unit and station; UNKNOWN_OCCURRENCE when there is none. */
  async airing(id: string) {
    const o = await this.deps.db.occurrence.findUnique({ where: { id }, select: { unitId: true, station: { select: { code: true } } } });
    if (!o) throw notFound('UNKNOWN_OCCURRENCE', `unknown airing ${id}`);
    return o;
  }

  /** Cancels one airing still to come. */
  async cancelOccurrence(id: string) {
    const { db } = this.deps;
    const o = await db.occurrence.findUnique({ where: { id }, select: { id: true, stationId: true, startsAt: true, status: true } });
    if (!o) throw notFound('UNKNOWN_OCCURRENCE', `unknown airing ${id}`);
    if (o.startsAt <= this.deps.now() || !['scheduled', 'paused'].includes(o.status))
      throw conflict(
        'NOT_UPCOMING',
        `airing ${id} is ${o.status} and ${o.startsAt <= this.deps.now() ? 'no longer to come' : 'cannot be cancelled'}`,
      );
    const { count } = await db.occurrence.updateMany({ where: { id, status: o.status }, data: { status: 'cancelled', ...HELD } });
    if (!count) throw conflict('NOT_UPCOMING', `airing ${id} changed meanwhile`);
    const stations = await this.deps.dispatch.dispatch([o.stationId]);
    return { id, status: 'cancelled' as const, stations };
  }

  /** Cancels every airing still to come of a media item (withdrawn from the library); returns how many. */
  async cancelMedia(mediaId: string): Promise<number> {
    const { db } = this.deps;
    const where = { mediaId, startsAt: { gte: this.deps.now() }, status: { in: ['scheduled', 'paused'] } };
    const stations = await db.occurrence.findMany({ where, distinct: ['stationId'], select: { stationId: true } });
    const { count } = await db.occurrence.updateMany({ where, data: { status: 'cancelled', ...HELD } });
    if (stations.length) await this.deps.dispatch.dispatch(stations.map((s) => s.stationId));
    return count;
  }

  private async change(
    id: string,
    move: { from: ScheduleStatus[]; to: ScheduleStatus; occurrences: string[]; set: Prisma.OccurrenceUpdateManyMutationInput },
  ) {
    const { db } = this.deps;
    const at = this.deps.now();
    const s = await db.schedule.findUnique({ where: { id }, select: { status: true } });
    if (!s) throw notFound('UNKNOWN_SCHEDULE', `unknown schedule ${id}`);
    const where = { scheduleId: id, startsAt: { gte: at }, status: { in: move.occurrences } };
    const result = await db.$transaction(async (tx) => {
      // Conditional on the status, so two operators cannot both move the same schedule.
      const moved = await tx.schedule.updateMany({ where: { id, status: { in: move.from } }, data: { status: move.to } });
      if (!moved.count) throw conflict('INVALID_TRANSITION', `schedule ${id} is ${s.status}: it cannot become ${move.to}`);
      const stations = await tx.occurrence.findMany({ where, distinct: ['stationId'], select: { stationId: true } });
      const { count } = await tx.occurrence.updateMany({ where, data: move.set });
      return { airings: count, stationIds: stations.map((r) => r.stationId) };
    });
    // Exactly the stations whose plans changed get new ones.
    await this.deps.dispatch.dispatch(result.stationIds);
    return { id, status: move.to, airings: result.airings, stations: result.stationIds.length };
  }
}

/** Alerts and live broadcasts own their schedules: they are changed through those, never as schedules. */
export function assertOrdinary(s: { id: string; emergencyId: string | null; broadcastId: string | null }): void {
  if (s.emergencyId)
    throw conflict('EMERGENCY_SCHEDULE', `schedule ${s.id} airs an emergency alert: correct or cancel it at /emergencies/${s.emergencyId}`);
  if (s.broadcastId) throw conflict('LIVE_SCHEDULE', `schedule ${s.id} is the airing of live broadcast ${s.broadcastId}, not a plan`);
}
