// The shapes of schedules on the API: the body that creates or previews one (Hanoi local times), the
// schedule with its airings, and overlaps with what is already planned.
import { z } from 'zod';
import { ConflictRule, Priority } from '#protocol';
import type { CreateScheduleInput, Overlap } from '../services/schedule-service.ts';

export const OverlapOut = z.object({
  station: z.string(),
  startsAt: z.date(),
  endsAt: z.date(),
  mediaId: z.string(),
  existing: z.object({
    occurrenceId: z.string(),
    scheduleId: z.string(),
    startsAt: z.date(),
    endsAt: z.date(),
    priority: z.string(),
    title: z.string(),
  }),
  due: z.enum(['new', 'existing']),
  resolution: z.enum(['preempt', 'queue', 'skip']),
});
export const Overlaps = z.object({ total: z.number(), items: z.array(OverlapOut) });
export const listOverlaps = (o: Overlap[]) => ({ total: o.length, items: o.slice(0, 200) });

export const code = z.string().min(1).max(64);
/** Hanoi is UTC+7 all year: a time without an offset is read as Hanoi's. */
export const hanoiInstant = z
  .union([z.iso.datetime({ offset: true }), z.iso.datetime({ local: true })])
  .transform((v) => (/(Z|[+-]\d{2}:?\d{2})$/.test(v) ? v : `${v.length === 16 ? `${v}:00` : v}+07:00`));
/** A queued item's start window when none is given. */
export const DEFAULT_QUEUE_WINDOW_MINUTES = 15;
/** An instant as Hanoi wall-clock time, with its offset ("2026-12-03T06:00:00+07:00"). */
export const hanoiLocal = (d: Date) => `${new Date(d.getTime() + 7 * 3600_000).toISOString().slice(0, 19)}+07:00`;
export const ScheduleBody = z
  .object({
    mediaId: z.string().min(1).max(64).optional(),
    playlistId: z.string().min(1).max(64).optional(),
    /** Shorthand for targets.stations. */
    stations: z.array(code).max(20_000).optional(),
    targets: z
      .object({
        units: z.array(code).max(1000).optional(),
        stations: z.array(code).max(20_000).optional(),
        devices: z.array(code).max(20_000).optional(),
        zones: z
          .array(z.string().regex(/^[A-Za-z0-9_-]{1,64}:[A-Za-z0-9_-]{1,32}$/, 'expected <device>:<zone>'))
          .max(20_000)
          .optional(),
      })
      .strict()
      .optional(),
    /** An instant with its offset, or a Hanoi wall-clock time without one ("2026-12-03T06:00"). */
    startsAt: hanoiInstant,
    rrule: z.string().min(6).max(500).optional(),
    exdates: z.array(hanoiInstant).max(366).optional(),
    priority: z.enum(Priority.options).default('normal'),
    conflict: z.enum(ConflictRule.options).default('queue'),
    /**
     * 0 = hard start at the instant; else the item may start up to this many minutes late (when queued).
     * Unset: 15 minutes for conflict "queue" (a queued item with no window could only be skipped), else 0.
     */
    startWindowMinutes: z.int().min(0).max(240).optional(),
  })
  .strict();
export const toInput = (b: z.infer<typeof ScheduleBody>, userId?: string): CreateScheduleInput => ({
  mediaId: b.mediaId,
  playlistId: b.playlistId,
  targets: { ...b.targets, stations: [...(b.targets?.stations ?? []), ...(b.stations ?? [])] },
  startsAt: new Date(b.startsAt),
  rrule: b.rrule,
  exdates: b.exdates?.map((d) => new Date(d)),
  priority: b.priority,
  conflict: b.conflict,
  startWindowMs: (b.startWindowMinutes ?? (b.conflict === 'queue' ? DEFAULT_QUEUE_WINDOW_MINUTES : 0)) * 60_000,
  userId,
});

export const Schedule = z.object({
  id: z.string(),
  mediaId: z.string().nullable(),
  playlistId: z.string().nullable(),
  startsAt: z.date(),
  /** The same instant as Hanoi wall-clock time. */
  startsAtLocal: z.string(),
  rrule: z.string().nullable(),
  expandedUntil: z.date().nullable(),
  priority: z.string(),
  conflict: z.string(),
  startWindowMs: z.number(),
  stationCodes: z.string().transform((j) => JSON.parse(j) as string[]),
  /** The targets as given (units, stations, devices, zones), for an edit to start from. */
  targets: z.string().transform((j) => JSON.parse(j) as Record<string, string[]>),
  /** Instances removed from the rule. */
  exdates: z.string().transform((j) => JSON.parse(j) as string[]),
  status: z.string(),
  createdAt: z.date(),
  occurrences: z.array(
    z.object({
      id: z.string(),
      station: z.string(),
      mediaId: z.string(),
      startsAt: z.date(),
      position: z.number().nullable(),
      status: z.string(),
    }),
  ),
});

export type ScheduleRow = Omit<z.input<typeof Schedule>, 'occurrences' | 'startsAtLocal'> & {
  occurrences: { id: string; status: string; mediaId: string; startsAt: Date; position: number | null; station: { code: string } }[];
};
export const toSchedule = (s: ScheduleRow) => ({
  ...s,
  startsAtLocal: hanoiLocal(s.startsAt),
  occurrences: s.occurrences.map(({ station, ...o }) => ({
    id: o.id,
    status: o.status,
    mediaId: o.mediaId,
    startsAt: o.startsAt,
    position: o.position,
    station: station.code,
  })),
});
