// One-off schedules: an item or a playlist, a set of stations, an instant. Each item becomes one
// occurrence per station; a playlist's items follow each other with their gaps.
import type { Priority } from '#protocol';
import type { Db } from '../db/client.ts';
import type { Media } from '../db/generated/client.ts';
import { badRequest, notFound } from '../http/errors.ts';
import type { DispatchService } from './dispatch-service.ts';
import { LibraryService } from './library-service.ts';
import { layout, type PlaylistService } from './playlist-service.ts';

export interface CreateScheduleInput {
  /** Exactly one of mediaId and playlistId. */
  mediaId?: string;
  playlistId?: string;
  stations: string[];
  startsAt: Date;
  priority: Priority;
  userId?: string;
}

/** A schedule may start slightly in the past (clock skew between browser and server), not more. */
const PAST_TOLERANCE_MS = 60_000;

export class ScheduleService {
  constructor(private readonly deps: { db: Db; dispatch: DispatchService; playlists: PlaylistService; now: () => Date }) {}

  async create(input: CreateScheduleInput) {
    const { db, now } = this.deps;
    if (input.startsAt.getTime() < now().getTime() - PAST_TOLERANCE_MS) {
      throw badRequest('SCHEDULE_IN_PAST', `startsAt ${input.startsAt.toISOString()} is in the past`);
    }
    if (Boolean(input.mediaId) === Boolean(input.playlistId))
      throw badRequest('MEDIA_OR_PLAYLIST', 'give exactly one of mediaId and playlistId');
    // What airs, item by item, each at its own instant: one item, or a playlist laid out with its gaps.
    let plan: { media: Media; startsAt: Date; position: number | null }[];
    if (input.mediaId) {
      const media = await db.media.findUnique({ where: { id: input.mediaId } });
      if (!media) throw notFound('UNKNOWN_MEDIA', `no media item ${input.mediaId}`);
      plan = [{ media, startsAt: input.startsAt, position: null }];
    } else {
      const playlist = await this.deps.playlists.getOrThrow(input.playlistId as string);
      const { offsets } = layout(playlist.items.map((i) => ({ durationMs: i.media.durationMs, gapAfterMs: i.gapAfterMs })));
      plan = playlist.items.map((item, i) => ({
        media: item.media,
        startsAt: new Date(input.startsAt.getTime() + offsets[i]),
        position: item.position,
      }));
    }
    for (const p of plan) LibraryService.assertSchedulable(p.media, p.startsAt);
    const codes = [...new Set(input.stations)];
    const stations = await db.station.findMany({ where: { code: { in: codes } }, select: { id: true, code: true } });
    if (stations.length !== codes.length) {
      const known = new Set(stations.map((s) => s.code));
      const unknown = codes.filter((c) => !known.has(c));
      throw notFound('UNKNOWN_STATION', `unknown station(s): ${unknown.slice(0, 20).join(', ')}`);
    }
    const schedule = await db.$transaction(async (tx) => {
      const s = await tx.schedule.create({
        data: {
          mediaId: input.mediaId,
          playlistId: input.playlistId,
          startsAt: input.startsAt,
          priority: input.priority,
          createdById: input.userId,
        },
      });
      await tx.occurrence.createMany({
        data: stations.flatMap((st) =>
          plan.map((p) => ({
            scheduleId: s.id,
            stationId: st.id,
            mediaId: p.media.id,
            startsAt: p.startsAt,
            position: p.position,
            priority: input.priority,
          })),
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
}
