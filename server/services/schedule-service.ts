// Schedules: an item or a playlist, on stations, once or recurring (RFC 5545 RRULE in
// Asia/Ho_Chi_Minh). Each instance becomes one occurrence per station and item; a playlist's items
// follow each other with their gaps. Recurring schedules are expanded up to the manifest horizon and
// extended as time moves on.
import type { Priority } from '#protocol';
import type { Db } from '../db/client.ts';
import type { Media, Schedule } from '../db/generated/client.ts';
import { AppError, badRequest, notFound } from '../http/errors.ts';
import { instances, nextInstance, parseRule, RecurrenceError } from '../scheduling/recurrence.ts';
import type { DispatchService } from './dispatch-service.ts';
import { LibraryService } from './library-service.ts';
import { layout, type PlaylistService } from './playlist-service.ts';

export interface CreateScheduleInput {
  /** Exactly one of mediaId and playlistId. */
  mediaId?: string;
  playlistId?: string;
  stations: string[];
  /** The (first) instance. */
  startsAt: Date;
  /** RFC 5545 RRULE without DTSTART, e.g. FREQ=WEEKLY;BYDAY=MO,WE,FR. */
  rrule?: string;
  exdates?: Date[];
  priority: Priority;
  userId?: string;
}

/** A schedule may start slightly in the past (clock skew between browser and server), not more. */
const PAST_TOLERANCE_MS = 60_000;
const DAY_MS = 86_400_000;

type PlanItem = { media: Media; startsAt: Date; position: number | null };

export class ScheduleService {
  constructor(
    private readonly deps: { db: Db; dispatch: DispatchService; playlists: PlaylistService; now: () => Date; horizonDays: number },
  ) {}

  async create(input: CreateScheduleInput) {
    const { db, now } = this.deps;
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
    const codes = [...new Set(input.stations)];
    const stations = await db.station.findMany({ where: { code: { in: codes } }, select: { id: true, code: true } });
    if (stations.length !== codes.length) {
      const known = new Set(stations.map((s) => s.code));
      const unknown = codes.filter((c) => !known.has(c));
      throw notFound('UNKNOWN_STATION', `unknown station(s): ${unknown.slice(0, 20).join(', ')}`);
    }
    const horizon = this.horizon();
    const starts = rule ? instances(rule, first, horizon, exdates) : [first];
    const schedule = await db.$transaction(async (tx) => {
      const s = await tx.schedule.create({
        data: {
          mediaId: input.mediaId,
          playlistId: input.playlistId,
          startsAt: input.startsAt,
          rrule: rule ? input.rrule : null,
          exdates: JSON.stringify(exdates.map((d) => d.toISOString())),
          stationCodes: JSON.stringify(codes),
          expandedUntil: rule ? horizon : null,
          priority: input.priority,
          createdById: input.userId,
        },
      });
      await tx.occurrence.createMany({
        data: this.occurrences(
          s,
          stations,
          starts.flatMap((at) => this.airable(items, at)),
        ),
      });
      return s;
    });
    await this.deps.dispatch.dispatch(stations.map((s) => s.id));
    return db.schedule.findUniqueOrThrow({
      where: { id: schedule.id },
      include: { occurrences: { include: { station: { select: { code: true } } }, orderBy: [{ startsAt: 'asc' }] } },
    });
  }

  /**
   * Creates the occurrences of recurring schedules that the moving horizon now covers and sends the
   * stations their new plans. Run at start and every hour; idempotent.
   */
  async extend(): Promise<{ schedules: number; occurrences: number }> {
    const { db } = this.deps;
    const horizon = this.horizon();
    const due = await db.schedule.findMany({ where: { rrule: { not: null }, expandedUntil: { lt: horizon } } });
    const touched = new Set<string>();
    let created = 0;
    for (const s of due) {
      const exdates = (JSON.parse(s.exdates) as string[]).map((d) => new Date(d));
      const from = s.expandedUntil ?? s.startsAt;
      const starts = instances(this.rule(s.rrule as string, s.startsAt), from, horizon, exdates).filter((d) => d >= from);
      const items = await this.items({ mediaId: s.mediaId ?? undefined, playlistId: s.playlistId ?? undefined });
      const stations = await db.station.findMany({ where: { code: { in: JSON.parse(s.stationCodes) as string[] } }, select: { id: true } });
      const rows = this.occurrences(
        s,
        stations,
        starts.flatMap((at) => this.airable(items, at)),
      );
      await db.$transaction([
        db.occurrence.createMany({ data: rows }),
        db.schedule.update({ where: { id: s.id }, data: { expandedUntil: horizon } }),
      ]);
      created += rows.length;
      if (rows.length) for (const st of stations) touched.add(st.id);
    }
    if (touched.size) await this.deps.dispatch.dispatch(touched);
    return { schedules: due.length, occurrences: created };
  }

  private horizon(): Date {
    return new Date(this.deps.now().getTime() + this.deps.horizonDays * DAY_MS);
  }

  private rule(rrule: string, dtstart: Date) {
    try {
      return parseRule(rrule, dtstart);
    } catch (err) {
      if (err instanceof RecurrenceError) throw new AppError(400, err.code, err.message);
      throw err;
    }
  }

  /** The items of one instance, relative to its start: one item, or a playlist's items with their offsets. */
  private async items(input: {
    mediaId?: string;
    playlistId?: string;
  }): Promise<{ media: Media; offsetMs: number; position: number | null }[]> {
    if (input.mediaId) {
      const media = await this.deps.db.media.findUnique({ where: { id: input.mediaId } });
      if (!media) throw notFound('UNKNOWN_MEDIA', `no media item ${input.mediaId}`);
      return [{ media, offsetMs: 0, position: null }];
    }
    const playlist = await this.deps.playlists.getOrThrow(input.playlistId as string);
    const { offsets } = layout(playlist.items.map((i) => ({ durationMs: i.media.durationMs, gapAfterMs: i.gapAfterMs })));
    return playlist.items.map((item, i) => ({ media: item.media, offsetMs: offsets[i], position: item.position }));
  }

  private layoutAt(items: { media: Media; offsetMs: number; position: number | null }[], at: Date): PlanItem[] {
    return items.map((i) => ({ media: i.media, startsAt: new Date(at.getTime() + i.offsetMs), position: i.position }));
  }

  /** An instance's items, or none when any of them may not air then (withdrawn, or outside its window). */
  private airable(items: { media: Media; offsetMs: number; position: number | null }[], at: Date): PlanItem[] {
    const plan = this.layoutAt(items, at);
    try {
      for (const p of plan) LibraryService.assertSchedulable(p.media, p.startsAt);
      return plan;
    } catch {
      return [];
    }
  }

  private occurrences(s: Schedule, stations: { id: string }[], plan: PlanItem[]) {
    return stations.flatMap((st) =>
      plan.map((p) => ({
        scheduleId: s.id,
        stationId: st.id,
        mediaId: p.media.id,
        startsAt: p.startsAt,
        position: p.position,
        priority: s.priority,
      })),
    );
  }
}
