// Schedules: an item or a playlist, on stations, once or recurring (RFC 5545 RRULE in
// Asia/Ho_Chi_Minh). Each instance becomes one occurrence per station and item; a playlist's items
// follow each other with their gaps. Recurring schedules are expanded up to the manifest horizon and
// extended as time moves on.

import { type ConflictRule, type Priority, type Resolution, resolveConflict } from '#protocol';
import { closesAt } from '../compliance/as-run.ts';
import { chunked, type Db } from '../db/client.ts';
import type { Media, Schedule } from '../db/generated/client.ts';
import { type AiringRow, airingRows } from '../scheduling/outcomes.ts';
import { type Airing, checkPolicy, type Violation } from '../scheduling/policy.ts';
import { hanoiDayNumber, instances, nextInstance, parseRule, RecurrenceError } from '../scheduling/recurrence.ts';
import type { DispatchService } from './dispatch-service.ts';
import { badRequest, conflict, DomainError, notFound, unprocessable } from './errors.ts';
import { LibraryService } from './library-service.ts';
import { layout, type PlaylistService } from './playlist-service.ts';
import { UnitService, type UnitTree } from './unit-service.ts';

export interface Targets {
  /** Unit codes: every station at or below each unit. */
  units?: string[];
  stations?: string[];
  /** Device codes: every output of the device. */
  devices?: string[];
  /** "<device>:<zone>" pairs. */
  zones?: string[];
}

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

/** A station a schedule reaches, and on which outputs ("<device>:<zone>"; empty = all). */
export interface TargetStation {
  id: string;
  code: string;
  unitId: string;
  zones: string[];
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

type PlanItem = { media: Media; startsAt: Date; position: number | null };
type Item = { media: Media; offsetMs: number; position: number | null };
type Prepared = {
  rule?: ReturnType<typeof parseRule>;
  exdates: Date[];
  items: Item[];
  stations: TargetStation[];
  plan: PlanItem[];
  horizon: Date;
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
      for (const part of chunked(this.occurrences(s, stations, plan))) await tx.occurrence.createMany({ data: part });
      return s;
    });
    await this.deps.dispatch.dispatch(stations.map((st) => st.id));
    const saved = await db.schedule.findUniqueOrThrow({
      where: { id: schedule.id },
      include: { occurrences: { include: { station: { select: { code: true } } }, orderBy: [{ startsAt: 'asc' }], take: 1000 } },
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
      for (const part of chunked(this.occurrences(row, prepared.stations, plan))) await tx.occurrence.createMany({ data: part });
      return row;
    });
    await this.deps.dispatch.dispatch([...new Set([...left.map((o) => o.stationId), ...prepared.stations.map((st) => st.id)])]);
    const saved = await db.schedule.findUniqueOrThrow({
      where: { id: updated.id },
      include: { occurrences: { include: { station: { select: { code: true } } }, orderBy: [{ startsAt: 'asc' }], take: 1000 } },
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

  /** The stations (and outputs) a set of targets reaches. Unknown or merged targets are refused unless `lenient`. */
  async resolveTargets(targets: Targets, lenient = false): Promise<TargetStation[]> {
    const { db } = this.deps;
    const units = targets.units ?? [];
    const stationCodes = targets.stations ?? [];
    const deviceCodes = [...new Set([...(targets.devices ?? []), ...(targets.zones ?? []).map((z) => z.split(':')[0])])];
    if (!units.length && !stationCodes.length && !deviceCodes.length)
      throw badRequest('NO_TARGETS', 'give at least one unit, station, device or zone');
    const fail = (err: DomainError) => {
      if (!lenient) throw err;
    };
    const byId = new Map<string, TargetStation>();
    const whole = (st: { id: string; code: string; unitId: string }) => byId.set(st.id, { ...st, zones: [] });

    if (units.length) {
      const tree = await this.deps.units.tree();
      const unitIds: string[] = [];
      for (const code of new Set(units)) {
        const u = tree.byCode.get(code);
        if (!u) {
          fail(notFound('UNKNOWN_UNIT', `unknown unit ${code}`));
          continue;
        }
        try {
          UnitService.assertCurrent(u, tree);
        } catch (err) {
          fail(err as DomainError);
          continue;
        }
        unitIds.push(u.id);
      }
      for (const st of await this.deps.units.stationsBelow(unitIds)) whole(st);
    }
    const codes = [...new Set(stationCodes)];
    const found = (
      await Promise.all(
        chunked(codes).map((part) =>
          db.station.findMany({ where: { code: { in: part } }, select: { id: true, code: true, unitId: true } }),
        ),
      )
    ).flat();
    if (found.length !== codes.length) {
      const known = new Set(found.map((s) => s.code));
      fail(
        notFound(
          'UNKNOWN_STATION',
          `unknown station(s): ${codes
            .filter((c) => !known.has(c))
            .slice(0, 20)
            .join(', ')}`,
        ),
      );
    }
    for (const st of found) whole(st);

    if (deviceCodes.length) {
      const devices = (
        await Promise.all(
          chunked(deviceCodes).map((part) =>
            db.device.findMany({
              where: { code: { in: part }, revokedAt: null },
              include: { zones: { select: { code: true } }, station: { select: { id: true, code: true, unitId: true } } },
            }),
          ),
        )
      ).flat();
      const byCode = new Map(devices.map((d) => [d.code, d]));
      const missing = deviceCodes.filter((c) => !byCode.has(c));
      if (missing.length) fail(notFound('UNKNOWN_DEVICE', `unknown or revoked device(s): ${missing.slice(0, 20).join(', ')}`));
      const wanted = new Map<string, Set<string>>();
      for (const d of targets.devices ?? []) if (byCode.has(d)) wanted.set(d, new Set(['*']));
      for (const z of targets.zones ?? []) {
        const [device, zone] = z.split(':');
        const d = byCode.get(device);
        if (!d) continue;
        if (!zone || !d.zones.some((x) => x.code === zone)) {
          fail(notFound('UNKNOWN_ZONE', `device ${device} has no zone "${zone ?? ''}"`));
          continue;
        }
        if (!wanted.get(device)?.has('*')) wanted.set(device, new Set([...(wanted.get(device) ?? []), zone]));
      }
      for (const [device, zones] of wanted) {
        const st = (byCode.get(device) as (typeof devices)[number]).station;
        const existing = byId.get(st.id);
        if (existing && existing.zones.length === 0) continue; // the whole station is targeted already
        const entry = existing ?? { ...st, zones: [] as string[] };
        entry.zones.push(...[...zones].map((z) => `${device}:${z}`));
        byId.set(st.id, entry);
      }
    }
    return [...byId.values()].sort((a, b) => a.code.localeCompare(b.code));
  }

  /**
   * Checks the new airings against each station's inherited policy (emergencies are exempt) and finds
   * where they meet what is already scheduled there, with the [P-5.10] outcome.
   */
  private async evaluate(
    stations: TargetStation[],
    plan: PlanItem[],
    input: { priority: Priority; conflict?: ConflictRule; startWindowMs?: number },
    /** A schedule being changed: its own airings to come are what the plan replaces, not what it meets. */
    replacing?: string,
  ): Promise<{ violations: Violation[]; overlaps: Overlap[] }> {
    if (!plan.length || !stations.length) return { violations: [], overlaps: [] };
    const ends = plan.map((p) => p.startsAt.getTime() + p.media.durationMs);
    const from = new Date(Math.min(...plan.map((p) => p.startsAt.getTime())) - DAY_MS);
    const to = new Date(Math.max(...ends) + DAY_MS);
    const existing = new Map<string, Awaited<ReturnType<typeof this.existingAirings>>>();
    for (const part of chunked(stations.map((s) => s.id)))
      for (const o of await this.existingAirings(part, from, to))
        if (!(replacing && o.scheduleId === replacing && o.startsAt >= this.deps.now()))
          existing.set(o.stationId, [...(existing.get(o.stationId) ?? []), o]);
    const tree = input.priority === 'emergency' ? undefined : await this.deps.units.tree();
    const policies = new Map<string, ReturnType<UnitTree['effectivePolicy']>>();
    const violations: Violation[] = [];
    const overlaps: Overlap[] = [];
    for (const st of stations) {
      const theirs = existing.get(st.id) ?? [];
      if (tree) {
        if (!policies.has(st.unitId)) policies.set(st.unitId, tree.effectivePolicy(st.unitId));
        const airings: Airing[] = [
          ...plan.map((p, i) => ({ startsAt: p.startsAt, endsAt: new Date(ends[i]), priority: input.priority, isNew: true })),
          ...theirs.map((o) => ({
            startsAt: o.startsAt,
            endsAt: new Date(o.startsAt.getTime() + o.media.durationMs),
            priority: o.priority,
            isNew: false,
          })),
        ];
        violations.push(...checkPolicy(st.code, policies.get(st.unitId) as ReturnType<UnitTree['effectivePolicy']>, airings));
      }
      for (const [i, p] of plan.entries()) {
        for (const o of theirs) {
          const oEnd = o.startsAt.getTime() + o.media.durationMs;
          if (!(o.startsAt.getTime() < ends[i] && p.startsAt.getTime() < oEnd)) continue;
          const newDue = p.startsAt >= o.startsAt;
          const resolution = newDue
            ? resolveConflict(
                { priority: input.priority, conflict: input.conflict, slackMs: input.startWindowMs },
                { priority: o.priority as Priority },
                oEnd - p.startsAt.getTime(),
              )
            : resolveConflict(
                { priority: o.priority as Priority, conflict: o.schedule.conflict as ConflictRule, slackMs: o.schedule.startWindowMs },
                { priority: input.priority },
                ends[i] - o.startsAt.getTime(),
              );
          overlaps.push({
            station: st.code,
            startsAt: p.startsAt,
            endsAt: new Date(ends[i]),
            mediaId: p.media.id,
            existing: {
              occurrenceId: o.id,
              scheduleId: o.scheduleId,
              startsAt: o.startsAt,
              endsAt: new Date(oEnd),
              priority: o.priority,
              title: o.media.title,
            },
            due: newDue ? 'new' : 'existing',
            resolution,
          });
        }
      }
    }
    return { violations, overlaps };
  }

  private existingAirings(stationIds: string[], from: Date, to: Date) {
    return this.deps.db.occurrence.findMany({
      where: {
        stationId: { in: stationIds },
        startsAt: { gte: from, lt: to },
        status: { in: ['scheduled', 'playing', 'aired', 'partial'] },
      },
      select: {
        id: true,
        stationId: true,
        scheduleId: true,
        startsAt: true,
        priority: true,
        media: { select: { durationMs: true, title: true } },
        schedule: { select: { conflict: true, startWindowMs: true } },
      },
      orderBy: { startsAt: 'asc' },
    });
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
      const rows = this.occurrences(s, stations, plan)
        .filter((r) => !refusedAt.has(`${codeOf.get(r.stationId)} ${r.startsAt.toISOString()}`))
        .map((r) => ({ ...r, ...held }));
      refused += plan.length * stations.length - rows.length;
      await db.$transaction([
        ...chunked(rows).map((part) => db.occurrence.createMany({ data: part })),
        db.schedule.update({ where: { id: s.id }, data: { expandedUntil: horizon } }),
      ]);
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
    try {
      for (const p of plan) LibraryService.assertSchedulable(p.media, p.startsAt);
      return plan;
    } catch {
      return [];
    }
  }

  private occurrences(s: Schedule, stations: TargetStation[], plan: PlanItem[]) {
    return stations.flatMap((st) =>
      plan.map((p) => ({
        scheduleId: s.id,
        stationId: st.id,
        unitId: st.unitId,
        zones: JSON.stringify(st.zones),
        mediaId: p.media.id,
        startsAt: p.startsAt,
        day: hanoiDayNumber(p.startsAt),
        closesAt: closesAt({ startsAt: p.startsAt, expectedMs: p.media.durationMs, startWindowMs: s.startWindowMs }),
        position: p.position,
        priority: s.priority,
      })),
    );
  }
}
