import type { preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Priority } from '#protocol';
import type { Db } from '../db/client.ts';
import { ErrorBody, notFound } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import type { ScheduleService } from '../services/schedule-service.ts';

const Schedule = z.object({
  id: z.string(),
  mediaId: z.string().nullable(),
  playlistId: z.string().nullable(),
  startsAt: z.date(),
  rrule: z.string().nullable(),
  expandedUntil: z.date().nullable(),
  priority: z.string(),
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

type ScheduleRow = Omit<z.infer<typeof Schedule>, 'occurrences'> & {
  occurrences: { id: string; status: string; mediaId: string; startsAt: Date; position: number | null; station: { code: string } }[];
};
const toSchedule = (s: ScheduleRow) => ({
  ...s,
  occurrences: s.occurrences.map(({ station, ...o }) => ({
    id: o.id,
    status: o.status,
    mediaId: o.mediaId,
    startsAt: o.startsAt,
    position: o.position,
    station: station.code,
  })),
});

export const scheduleRoutes: FastifyPluginAsyncZod<{ db: Db; schedules: ScheduleService; auth: preHandlerAsyncHookHandler }> = async (
  app,
  { db, schedules, auth },
) => {
  app.post(
    '/schedules',
    {
      preHandler: auth,
      schema: {
        tags: ['schedules'],
        summary: 'Schedule a media item or a playlist at an instant on one or more stations; each station gets its manifest at once',
        description:
          'Give exactly one of mediaId and playlistId. startsAt is an instant with an offset (e.g. 2026-11-22T06:30:00+07:00 for 06:30 in Hanoi); it is stored in UTC. ' +
          'With rrule (RFC 5545, without DTSTART; DAILY to YEARLY) startsAt is the first instance and the rule runs in Asia/Ho_Chi_Minh; exdates remove instances. ' +
          'Every item must be approved and valid at its own airtime.',
        security: bearer,
        body: z.object({
          mediaId: z.string().min(1).max(64).optional(),
          playlistId: z.string().min(1).max(64).optional(),
          stations: z.array(z.string().min(1).max(64)).min(1).max(20_000),
          startsAt: z.iso.datetime({ offset: true }),
          rrule: z.string().min(6).max(500).optional(),
          exdates: z
            .array(z.iso.datetime({ offset: true }))
            .max(366)
            .optional(),
          priority: Priority.default('normal'),
        }),
        response: { 201: Schedule, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const { mediaId, playlistId, stations, startsAt, rrule, exdates, priority } = request.body;
      const created = await schedules.create({
        mediaId,
        playlistId,
        stations,
        startsAt: new Date(startsAt),
        rrule,
        exdates: exdates?.map((d) => new Date(d)),
        priority,
        userId: request.user?.id,
      });
      return reply.status(201).send(toSchedule(created));
    },
  );

  app.get(
    '/schedules/:id',
    {
      preHandler: auth,
      schema: {
        tags: ['schedules'],
        summary: 'One schedule and its occurrences',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: { 200: Schedule, 404: ErrorBody },
      },
    },
    async (request) => {
      const s = await db.schedule.findUnique({
        where: { id: request.params.id },
        include: { occurrences: { include: { station: { select: { code: true } } }, orderBy: [{ startsAt: 'asc' }] } },
      });
      if (!s) throw notFound('UNKNOWN_SCHEDULE', `unknown schedule ${request.params.id}`);
      return toSchedule(s);
    },
  );
};
