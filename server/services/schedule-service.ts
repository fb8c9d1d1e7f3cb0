// One-off schedules: an item, a set of stations, an instant. Each becomes one occurrence per station.
import type { Priority } from '#protocol';
import type { Db } from '../db/client.ts';
import { badRequest, notFound } from '../http/errors.ts';
import type { DispatchService } from './dispatch-service.ts';
import { LibraryService } from './library-service.ts';

export interface CreateScheduleInput {
  mediaId: string;
  stations: string[];
  startsAt: Date;
  priority: Priority;
  userId?: string;
}

/** A schedule may start slightly in the past (clock skew between browser and server), not more. */
const PAST_TOLERANCE_MS = 60_000;

export class ScheduleService {
  constructor(private readonly deps: { db: Db; dispatch: DispatchService; now: () => Date }) {}

  async create(input: CreateScheduleInput) {
    const { db, now } = this.deps;
    if (input.startsAt.getTime() < now().getTime() - PAST_TOLERANCE_MS) {
      throw badRequest('SCHEDULE_IN_PAST', `startsAt ${input.startsAt.toISOString()} is in the past`);
    }
    const media = await db.media.findUnique({ where: { id: input.mediaId } });
    if (!media) throw notFound('UNKNOWN_MEDIA', `no media item ${input.mediaId}`);
    LibraryService.assertSchedulable(media, input.startsAt);
    const codes = [...new Set(input.stations)];
    const stations = await db.station.findMany({ where: { code: { in: codes } }, select: { id: true, code: true } });
    if (stations.length !== codes.length) {
      const known = new Set(stations.map((s) => s.code));
      const unknown = codes.filter((c) => !known.has(c));
      throw notFound('UNKNOWN_STATION', `unknown station(s): ${unknown.slice(0, 20).join(', ')}`);
    }
    const schedule = await db.$transaction(async (tx) => {
      const s = await tx.schedule.create({
        data: { mediaId: media.id, startsAt: input.startsAt, priority: input.priority, createdById: input.userId },
      });
      await tx.occurrence.createMany({
        data: stations.map((st) => ({
          scheduleId: s.id,
          stationId: st.id,
          mediaId: media.id,
          startsAt: input.startsAt,
          priority: input.priority,
        })),
      });
      return s;
    });
    await this.deps.dispatch.dispatch(stations.map((s) => s.id));
    return db.schedule.findUniqueOrThrow({
      where: { id: schedule.id },
      include: { occurrences: { include: { station: { select: { code: true } } } } },
    });
  }
}
