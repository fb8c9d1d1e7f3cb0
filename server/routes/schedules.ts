import type { preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Priority } from '#protocol';
import type { Db } from '../db/client.ts';
import { ErrorBody, notFound } from '../http/errors.ts';
import type { ScheduleService } from '../services/schedule-service.ts';

const Schedule = z.object({
  id: z.string(),
  mediaId: z.string(),
  startsAt: z.date(),
  priority: z.string(),
  createdAt: z.date(),
  occurrences: z.array(z.object({ id: z.string(), station: z.string(), status: z.string() })),
});
const security = [{ bearer: [] }];

type ScheduleRow = Omit<z.infer<typeof Schedule>, 'occurrences'> & {
  occurrences: { id: string; status: string; station: { code: string } }[];
};
const toSchedule = (s: ScheduleRow) => ({
  ...s,
  occurrences: s.occurrences.map((o) => ({ id: o.id, status: o.status, station: o.station.code })),
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
        summary: 'Schedule a media item at an instant on one or more stations; each station gets its manifest at once',
        description: 'startsAt is an instant with an offset (e.g. 2026-11-22T06:30:00+07:00 for 06:30 in Hanoi); it is stored in UTC.',
        security,
        body: z.object({
          mediaId: z.string().min(1).max(64),
          stations: z.array(z.string().min(1).max(64)).min(1).max(20_000),
          startsAt: z.iso.datetime({ offset: true }),
          priority: Priority.default('normal'),
        }),
        response: { 201: Schedule, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const { mediaId, stations, startsAt, priority } = request.body;
      const created = await schedules.create({ mediaId, stations, startsAt: new Date(startsAt), priority, userId: request.user?.id });
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
        security,
        params: z.object({ id: z.string().max(64) }),
        response: { 200: Schedule, 404: ErrorBody },
      },
    },
    async (request) => {
      const s = await db.schedule.findUnique({
        where: { id: request.params.id },
        include: { occurrences: { include: { station: { select: { code: true } } } } },
      });
      if (!s) throw notFound('UNKNOWN_SCHEDULE', `unknown schedule ${request.params.id}`);
      return toSchedule(s);
    },
  );
};
