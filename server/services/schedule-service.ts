// Schedules: an item or a playlist, on stations, once or recurring (RFC 5545 RRULE in
// Asia/Ho_Chi_Minh). Each instance becomes one occurrence per station and item; a playlist's items
// follow each other with their gaps. Recurring schedules are expanded up to the manifest horizon and
// extended as time moves on. Airings are written in bulk (db/occurrence-insert.ts).
import type { ConflictRule, Priority, Resolution } from '#protocol';
import type { Db } from '../db/client.ts';
import { dialectOf } from '../db/dialect.ts';
import type { Media } from '../db/generated/client.ts';
import { insertOccurrences, type OccurrenceRow } from '../db/occurrence-insert.ts';
import { type AiringRow, airingRows } from '../scheduling/outcomes.ts';
import type { Violation } from '../scheduling/policy.ts';
import { instances, nextInstance, parseRule, RecurrenceError } from '../scheduling/recurrence.ts';
import type { DispatchService } from './dispatch-service.ts';
import { badRequest, conflict, DomainError, notFound, unprocessable } from './errors.ts';
import { LibraryService } from './library-service.ts';
import { layout, type PlaylistService } from './playlist-service.ts';
import { airingsOf, groupChange } from './schedule-airings.ts';
import { evaluatePlan, type PlanItem, type PlanRule } from './schedule-check.ts';
import { assertOrdinary } from './schedule-lifecycle.ts';
import { resolveTargets, type TargetStation, type Targets } from './targets.ts';
import type { UnitService } from './unit-service.ts';

/** What PATCH /schedules/{id} may change (absent: unchanged; rrule null: a one-off from now on). */
export interface SchedulePatch {
  targets?: Targets;
  startsAt?: Date;
  rrule?: string | null;
  exdates?: Date[];
  priority?: Priority;
  conflict?: ConflictRule;
  startWindowMs?: number;
  within?: CreateScheduleInput['within'];
}

export interface CreateScheduleInput {
  /** Exactly one of mediaId and playlistId. */
  mediaId?: string;
  playlistId?: string;
  targets: Targets;
  /** The (first) instance. */
  startsAt: Date;
  /** RFC 5545 RRULE without DTSTART, e.g. FREQ=WEEKLY;BYDAY=MO,WE,FR. */
  rrule?: string;
  exdates?: Date[];
  priority: Priority;
  /** [P-5.10] What this schedule's items do when they meet another item at a station. */
  conflict?: ConflictRule;
  /** 0: hard start; else an item may start this long after its instant (when queued). */
  startWindowMs?: number;
  userId?: string;
  /** Refuses (naming the first station outside) unless every target station lies in the caller's scope. */
  within?: (stations: { code: string; unitId: string }[]) => Promise<void>;
}

export interface Overlap {
  station: string;
  /** The new airing. */
  startsAt: Date;
  endsAt: Date;
  mediaId: string;
  existing: { occurrenceId: string; scheduleId: string; startsAt: Date; endsAt: Date; priority: string; title: string };
  /** Which of the two is due while the other plays, and what it does then ([P-5.10]). */
  due: 'new' | 'existing';
  resolution: Resolution;
}

export interface Analysis {
  stations: TargetStation[];
  occurrences: number;
  violations: Violation[];
  overlaps: Overlap[];
}

/** A preview's airings, one row per station and airing (up to MAX_PREVIEW_ROWS), with the station's name. */
export interface Preview extends Analysis {
  airings: { total: number; items: (AiringRow & { stationName: string })[] };
}
/** Rows listed in a preview (every airing of a district-wide daily schedule over the horizon fits). */
const MAX_PREVIEW_ROWS = 5000;

/** A schedule may start slightly in the past (clock skew between browser and server), not more. */
const PAST_TOLERANCE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Listed in an error or preview; the totals are always given. */
const MAX_LISTED = 200;

type Item = { media: Media; offsetMs: number; position: number | null };
type Prepared = {
  rule?: ReturnType<typeof parseRule>;
  exdates: Date[];
  items: Item[];
  stations: TargetStation[];
  plan: PlanItem[];
  horizon: Date;
};

/** A schedule's first 1,000 airings, in a unique order (GET /occurrences?schedule= pages the rest). */
const FIRST_AIRINGS = {
  include: { station: { select: { code: true } } },
  orderBy: [{ startsAt: 'asc' as const }, { id: 'asc' as const }],
  take: 1000,
};

export class ScheduleService {
  constructor(
    private readonly deps: {
      db: Db;
      dispatch: DispatchService;
      playlists: PlaylistService;
      units: UnitService;
      now: () => Date;
      horizonDays: number;
    },
  ) {}

  /** What a schedule would do, without saving it: its stations, occurrences, policy refusals and overlaps. */
  /** `replacing`: the schedule an edit would change, whose own airings to come the preview does not meet. */
  /** One schedule with its airings (and their stations), by start; UNKNOWN_SCHEDULE when there is none. */
  async withAirings(id: string) {
    const s = await this.deps.db.schedule.findUnique({
      where: { id },
      include: { occurrences: { include: { station: { select: { code: true } } }, orderBy: [{ startsAt: 'asc' }] } },
    });
    if (!s) throw notFound('UNKNOWN_SCHEDULE', `unknown schedule ${id}`);
    return s;
  }

  async preview(input: CreateScheduleInput, replacing?: string): Promise<Preview> {
    const { stations, plan } = await this.prepare(input);
    const { violations, overlaps } = await this.evaluate(stations, plan, input, replacing);
    const rows = airingRows(
      stations.map((st) => st.code),
      plan.map((p) => ({ startsAt: p.startsAt, endsAt: new Date(p.startsAt.getTime() + p.media.durationMs), title: p.media.title })),
      violations,
      overlaps,
    ).slice(0, MAX_PREVIEW_ROWS);
    const named = await this.deps.db.station.findMany({
      where: { code: { in: [...new Set(rows.map((r) => r.station))] } },
      select: { code: true, name: true },
    });
    const names = new Map(named.map((st) => [st.code, st.name]));
    return {
      stations,
      occurrences: plan.length * stations.length,
      violations,
      overlaps,
      airings: {
        total: plan.length * stations.length,
        items: rows.map((r) => ({ ...r, stationName: names.get(r.station) ?? r.station })),
      },
    };
  }

  async create(input: CreateScheduleInput) {
    const { db } = this.deps;
    const prepared = await this.prepare(input);
    const { stations, plan, rule, exdates, horizon } = prepared;
    const { violations, overlaps } = await this.evaluate(stations, plan, input);
    if (violations.length) {
      const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : '';
      throw unprocessable(
        'POLICY_VIOLATION',
        `${violations[0].message} [rule ${violations[0].rule} of unit ${violations[0].unit}]${more}`,
        {
          total: violations.length,
          violations: violations.slice(0, MAX_LISTED),
        },
      );
    }
    let airings: OccurrenceRow[] = [];
    const schedule = await db.$transaction(async (tx) => {
      const s = await tx.schedule.create({
        data: {
          mediaId: input.mediaId,
          playlistId: input.playlistId,
          startsAt: input.startsAt,
          rrule: rule ? input.rrule : null,
          exdates: JSON.stringify(exdates.map((d) => d.toISOString())),
          stationCodes: JSON.stringify(stations.map((st) => st.code)),
          targets: JSON.stringify(input.targets),
          conflict: input.conflict ?? 'queue',
          startWindowMs: input.startWindowMs ?? 0,
          expandedUntil: rule ? horizon : null,
          priority: input.priority,
          createdById: input.userId,
        },
      });
      airings = airingsOf(s, stations, plan);
      await insertOccurrences(tx, dialectOf(db), airings, this.deps.now());
      return s;
    });
    await this.deps.dispatch.dispatch(
      stations.map((st) => st.id),
      { group: groupChange(airings) },
    );
    const saved = await db.schedule.findUniqueOrThrow({
      where: { id: schedule.id },
      include: { occurrences: FIRST_AIRINGS },
    });
    return { ...saved, overlaps };
  }

  /**
   * Changes a schedule's time, rule, exceptions, targets, priority or conflict handling: its airings to come
   * are laid out again from the new definition and re-checked against policy (its own replaced airings
   * do not count against it); what aired stays. The stations it left and the ones it reaches get new plans.
   */
  async update(id: string, patch: SchedulePatch) {
    const { db, now } = this.deps;
    const s = await db.schedule.findUnique({ where: { id } });
    if (!s) throw notFound('UNKNOWN_SCHEDULE', `unknown schedule ${id}`);
    assertOrdinary(s);
    if (s.status !== 'active') throw conflict('NOT_ACTIVE', `schedule ${id} is ${s.status}: resume it before changing it`);
    const stored = JSON.parse(s.targets) as Targets;
    const input: CreateScheduleInput = {
      ...(s.mediaId ? { mediaId: s.mediaId } : {}),
      ...(s.playlistId ? { playlistId: s.playlistId } : {}),
      targets: patch.targets ?? (Object.keys(stored).length ? stored : { stations: JSON.parse(s.stationCodes) as string[] }),
      startsAt: patch.startsAt ?? s.startsAt,
      ...((patch.rrule === undefined ? s.rrule : patch.rrule)
        ? { rrule: (patch.rrule === undefined ? s.rrule : patch.rrule) as string }
        : {}),
      exdates: patch.exdates ?? (JSON.parse(s.exdates) as string[]).map((d) => new Date(d)),
      priority: patch.priority ?? (s.priority as Priority),
      conflict: patch.conflict ?? (s.conflict as ConflictRule),
      startWindowMs: patch.startWindowMs ?? s.startWindowMs,
      ...(patch.within ? { within: patch.within } : {}),
    };
    const prepared = await this.prepare(input);
    const at = now();
    const plan = prepared.plan.filter((p) => p.startsAt >= at);
    const { violations, overlaps } = await this.evaluate(prepared.stations, plan, input, id);
    if (violations.length)
      throw unprocessable('POLICY_VIOLATION', `${violations[0].message} [rule ${violations[0].rule} of unit ${violations[0].unit}]`, {
        total: violations.length,
        violations: violations.slice(0, MAX_LISTED),
      });
    const replaced = { scheduleId: id, startsAt: { gte: at }, status: 'scheduled', asRun: null };
    const left = await db.occurrence.findMany({ where: replaced, distinct: ['stationId'], select: { stationId: true } });
    const updated = await db.$transaction(async (tx) => {
      // Airings to come that never aired are laid out anew (nothing refers to them but the plans they were in).
      await tx.occurrence.deleteMany({ where: replaced });
      const row = await tx.schedule.update({
        where: { id },
        data: {
          startsAt: input.startsAt,
          rrule: prepared.rule ? (input.rrule as string) : null,
          exdates: JSON.stringify(prepared.exdates.map((d) => d.toISOString())),
          stationCodes: JSON.stringify(prepared.stations.map((st) => st.code)),
          targets: JSON.stringify(input.targets),
          priority: input.priority,
          conflict: input.conflict ?? 'queue',
          startWindowMs: input.startWindowMs ?? 0,
          expandedUntil: prepared.rule ? prepared.horizon : null,
        },
      });
      await insertOccurrences(tx, dialectOf(db), airingsOf(row, prepared.stations, plan), now());
      return row;
    });
    await this.deps.dispatch.dispatch([...new Set([...left.map((o) => o.stationId), ...prepared.stations.map((st) => st.id)])]);
    const saved = await db.schedule.findUniqueOrThrow({
      where: { id: updated.id },
      include: { occurrences: FIRST_AIRINGS },
    });
    return { ...saved, overlaps };
  }

  /** Validates the request and lays out its occurrences up to the horizon. */
  private async prepare(input: CreateScheduleInput): Promise<Prepared> {
    const { now } = this.deps;
    if (Boolean(input.mediaId) === Boolean(input.playlistId))
      throw badRequest('MEDIA_OR_PLAYLIST', 'give exactly one of mediaId and playlistId');
    const rule = input.rrule ? this.rule(input.rrule, input.startsAt) : undefined;
    const exdates = input.exdates ?? [];
    const earliest = new Date(now().getTime() - PAST_TOLERANCE_MS);
    if (!rule && input.startsAt < earliest) throw badRequest('SCHEDULE_IN_PAST', `startsAt ${input.startsAt.toISOString()} is in the past`);
    const first = rule ? nextInstance(rule, input.startsAt < earliest ? earliest : input.startsAt, exdates) : input.startsAt;
    if (!first) throw badRequest('NO_OCCURRENCES', 'the rule has no instance from now on (is UNTIL or COUNT already past?)');

    const items = await this.items(input);
    // The first instance must be airable as a whole; later ones outside an item's validity are skipped.
    for (const p of this.layoutAt(items, first)) LibraryService.assertSchedulable(p.media, p.startsAt);
    const stations = await this.resolveTargets(input.targets);
    await input.within?.(stations);
    const horizon = this.horizon();
    const starts = rule ? instances(rule, first, horizon, exdates) : [first];
    return { rule, exdates, items, stations, horizon, plan: starts.flatMap((at) => this.airable(items, at)) };
  }

  /** The stations (and outputs) a set of targets reaches (targets.ts). */
  resolveTargets(targets: Targets, lenient = false): Promise<TargetStation[]> {
    return resolveTargets({ db: this.deps.db, units: this.deps.units }, targets, lenient);
  }

  /** Policy violations and overlaps of a plan at its stations (schedule-check.ts). */
  private evaluate(stations: TargetStation[], plan: PlanItem[], input: PlanRule, replacing?: string) {
    return evaluatePlan(this.deps, stations, plan, input, replacing);
  }

  /**
   * Creates the occurrences of recurring schedules that the moving horizon now covers and sends the
   * stations their new plans. Run at start and every hour; idempotent.
   */
  async extend(): Promise<{ schedules: number; occurrences: number; refused: number }> {
    const { db } = this.deps;
    const horizon = this.horizon();
    // A cancelled schedule has no more airings; a paused one gets them held, for a resume to release.
    const due = await db.schedule.findMany({
      where: { rrule: { not: null }, expandedUntil: { lt: horizon }, status: { in: ['active', 'paused'] } },
    });
    const touched = new Set<string>();
    let created = 0;
    let refused = 0;
    for (const s of due) {
      const exdates = (JSON.parse(s.exdates) as string[]).map((d) => new Date(d));
      const from = s.expandedUntil ?? s.startsAt;
      const starts = instances(this.rule(s.rrule as string, s.startsAt), from, horizon, exdates).filter((d) => d >= from);
      const items = await this.items({ mediaId: s.mediaId ?? undefined, playlistId: s.playlistId ?? undefined });
      const targets = JSON.parse(s.targets) as Targets;
      const stations = await this.resolveTargets(
        Object.keys(targets).length ? targets : { stations: JSON.parse(s.stationCodes) as string[] },
        true,
      );
      const plan = starts.flatMap((at) => this.airable(items, at));
      const rule = { priority: s.priority as Priority, conflict: s.conflict as ConflictRule, startWindowMs: s.startWindowMs };
      // Other schedules may have filled a day since this one was checked: what breaks policy now is not created.
      const { violations } = await this.evaluate(stations, plan, rule);
      const refusedAt = new Set(violations.map((v) => `${v.station} ${v.startsAt}`));
      const codeOf = new Map(stations.map((st) => [st.id, st.code]));
      const held = s.status === 'paused' ? ({ status: 'paused', asRun: 'skipped', discrepancy: 'cancelled' } as const) : {};
      const rows = airingsOf(s, stations, plan)
        .filter((r) => !refusedAt.has(`${codeOf.get(r.stationId)} ${r.startsAt.toISOString()}`))
        .map((r) => ({ ...r, ...held }));
      // Claimed by moving its horizon from the value read: a process that extends it at the same moment
      // (several servers on one PostgreSQL) finds it moved, and creates nothing.
      const claimed = await db.$transaction(async (tx) => {
        const claim = await tx.schedule.updateMany({
          where: { id: s.id, expandedUntil: s.expandedUntil },
          data: { expandedUntil: horizon },
        });
        if (claim.count === 0) return false;
        await insertOccurrences(tx, dialectOf(db), rows, this.deps.now());
        return true;
      });
      if (!claimed) continue;
      refused += plan.length * stations.length - rows.length;
      created += rows.length;
      if (s.status === 'active') for (const r of rows) touched.add(r.stationId);
    }
    if (touched.size) await this.deps.dispatch.dispatch(touched);
    return { schedules: due.length, occurrences: created, refused };
  }

  private horizon(): Date {
    return new Date(this.deps.now().getTime() + this.deps.horizonDays * DAY_MS);
  }

  private rule(rrule: string, dtstart: Date) {
    try {
      return parseRule(rrule, dtstart);
    } catch (err) {
      if (err instanceof RecurrenceError) throw new DomainError('invalid', err.code, err.message);
      throw err;
    }
  }

  /** The items of one instance, relative to its start: one item, or a playlist's items with their offsets. */
  private async items(input: { mediaId?: string; playlistId?: string }): Promise<Item[]> {
    if (input.mediaId) {
      const media = await this.deps.db.media.findUnique({ where: { id: input.mediaId } });
      if (!media) throw notFound('UNKNOWN_MEDIA', `no media item ${input.mediaId}`);
      return [{ media, offsetMs: 0, position: null }];
    }
    const playlist = await this.deps.playlists.getOrThrow(input.playlistId as string);
    const { offsets } = layout(playlist.items.map((i) => ({ durationMs: i.media.durationMs, gapAfterMs: i.gapAfterMs })));
    return playlist.items.map((item, i) => ({ media: item.media, offsetMs: offsets[i], position: item.position }));
  }

  private layoutAt(items: Item[], at: Date): PlanItem[] {
    return items.map((i) => ({ media: i.media, startsAt: new Date(at.getTime() + i.offsetMs), position: i.position }));
  }

  /** An instance's items, or none when any of them may not air then (withdrawn, or outside its window). */
  private airable(items: Item[], at: Date): PlanItem[] {
    const plan = this.layoutAt(items, at);
    return plan.every((p) => !LibraryService.whyNotSchedulable(p.media, p.startsAt)) ? plan : [];
  }
}
