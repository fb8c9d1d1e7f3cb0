import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ConflictRule, Priority } from '#protocol';
import type { AuthUser } from '../http/auth.ts';
import { ErrorBody } from '../http/errors.ts';
import { bearer, page } from '../http/schemas.ts';
import { allow, type Scopes } from '../http/scope.ts';
import { forbidden, notFound } from '../services/errors.ts';
import type { LibraryService } from '../services/library-service.ts';
import type { PlaylistService } from '../services/playlist-service.ts';
import type { ScheduleLifecycle } from '../services/schedule-lifecycle.ts';
import type { ScheduleService } from '../services/schedule-service.ts';
import {
  code,
  DEFAULT_QUEUE_WINDOW_MINUTES,
  hanoiInstant,
  hanoiLocal,
  listOverlaps,
  Overlaps,
  Schedule,
  ScheduleBody,
  toInput,
  toSchedule,
} from './schedule-schemas.ts';

export const scheduleRoutes: FastifyPluginAsyncZod<{
  library: LibraryService;
  playlists: PlaylistService;
  schedules: ScheduleService;
  lifecycle: ScheduleLifecycle;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { library, playlists, schedules, lifecycle, scopes, auth }) => {
  /** One check per unit; the refusal names the first station outside the user's units. */
  const withinScope = (user: AuthUser) => async (stations: { code: string; unitId: string }[]) => {
    for (const [unitId, code] of new Map(stations.map((st) => [st.unitId, st.code]))) await scopes.units(user, [unitId], `station ${code}`);
  };
  /** Operators only, and every station a schedule reaches must lie in the user's unit. */
  const scoped = async (authUser: AuthUser | undefined, body: z.infer<typeof ScheduleBody>) => {
    const user = allow(authUser, 'schedule');
    // What airs must be content the user may use (another commune's bulletin is unknown to them).
    const id = body.mediaId ?? body.playlistId;
    const owned = body.mediaId ? await library.owner(body.mediaId) : body.playlistId ? await playlists.owner(body.playlistId) : null;
    if (owned && id) {
      const [code, what] = body.mediaId ? ['UNKNOWN_MEDIA', 'media'] : ['UNKNOWN_PLAYLIST', 'playlist'];
      await scopes.content(user, owned, 'use', `${what} ${id}`, () => notFound(code, `unknown ${what} ${id}`));
    }
    return { ...toInput(body, user.id), within: withinScope(user) };
  };
  app.post(
    '/schedules',
    {
      onRequest: auth,
      schema: {
        tags: ['schedules'],
        summary: 'Schedule a media item or a playlist at an instant on one or more stations; each station gets its manifest at once',
        description:
          'Give exactly one of mediaId and playlistId. startsAt is an instant with an offset (e.g. 2026-11-22T06:30:00+07:00 for 06:30 in Hanoi); it is stored in UTC. ' +
          'With rrule (RFC 5545, without DTSTART; DAILY to YEARLY) startsAt is the first instance and the rule runs in Asia/Ho_Chi_Minh; exdates remove instances. ' +
          'Every item must be approved and valid at its own airtime. Targets mix units (every station below), stations, devices and zones ("<device>:<zone>"). ' +
          'A non-emergency schedule breaking the inherited policy of any station it reaches is refused with 422 POLICY_VIOLATION naming the rule, unit, station and occurrence. ' +
          'conflict (preempt, queue, skip) and startWindowMinutes decide what happens when an item meets another at a station; see POST /schedules/preview.',
        security: bearer,
        body: ScheduleBody,
        response: {
          201: Schedule.extend({ overlaps: Overlaps }),
          400: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
          422: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const created = await schedules.create(await scoped(request.user, request.body));
      return reply.status(201).send({ ...toSchedule(created), overlaps: listOverlaps(created.overlaps) });
    },
  );

  app.post(
    '/schedules/preview',
    {
      onRequest: auth,
      schema: {
        tags: ['schedules'],
        summary: 'What a schedule would do, without saving it: stations reached, occurrences, policy refusals, overlaps',
        description:
          'Same body as POST /schedules. violations lists every policy rule the schedule would break (rule, the unit that sets it, station, occurrence); ' +
          'overlaps lists where its airings meet what is already scheduled and what happens then (preempt, queue or skip, [P-5.10]); ' +
          'skipped (first) counts the new airings that would not air, with a warning. airings lists every new airing per station and date (up to 5000) ' +
          'with its outcome: airs, refused (rule, ruleUnit, message), or what happens where it meets another (other): skipped, waits (queued until it ends), ' +
          'preempts (cuts it), cut (by it), delays (it waits for this one), displaces (it is skipped). ?replacing=<schedule id> previews an edit of that schedule. Times may be Hanoi wall-clock times without an offset. ' +
          `A queued item without startWindowMinutes may start up to ${DEFAULT_QUEUE_WINDOW_MINUTES} minutes late.`,
        security: bearer,
        querystring: z.object({
          /** Previewing an edit: the schedule it changes (its own airings to come are replaced, not met). */
          replacing: z.string().max(64).optional(),
        }),
        body: ScheduleBody,
        response: {
          200: z.object({
            /** New airings that would not air because they meet others (resolution skip), said first. */
            skipped: z.number(),
            warning: z.string().optional(),
            stations: z.number(),
            occurrences: z.number(),
            violations: z.object({
              total: z.number(),
              items: z.array(
                z.object({ rule: z.string(), unit: z.string(), station: z.string(), startsAt: z.string(), message: z.string() }),
              ),
            }),
            overlaps: Overlaps,
            airings: z.object({
              total: z.number(),
              items: z.array(
                z.object({
                  station: z.string(),
                  stationName: z.string(),
                  startsAt: z.date(),
                  startsAtLocal: z.string(),
                  endsAt: z.date(),
                  title: z.string(),
                  outcome: z.enum(['airs', 'refused', 'skipped', 'cut', 'waits', 'preempts', 'displaces', 'delays']),
                  rule: z.string().optional(),
                  ruleUnit: z.string().optional(),
                  message: z.string().optional(),
                  other: z.object({ startsAt: z.date(), startsAtLocal: z.string(), title: z.string(), priority: z.string() }).optional(),
                }),
              ),
            }),
          }),
          400: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request) => {
      const r = await schedules.preview(await scoped(request.user, request.body), request.query.replacing);
      const airings = r.airings.items.map(({ other, ...row }) => ({
        ...row,
        startsAtLocal: hanoiLocal(row.startsAt),
        ...(other ? { other: { ...other, startsAtLocal: hanoiLocal(other.startsAt) } } : {}),
      }));
      const skipped = r.overlaps.filter((o) => o.due === 'new' && o.resolution === 'skip').length;
      return {
        skipped,
        ...(skipped ? { warning: `${skipped} of the new airings would be skipped: they meet airings already scheduled` } : {}),
        stations: r.stations.length,
        occurrences: r.occurrences,
        violations: { total: r.violations.length, items: r.violations.slice(0, 200) },
        overlaps: listOverlaps(r.overlaps),
        airings: { total: r.airings.total, items: airings },
      };
    },
  );

  app.get(
    '/schedules/:id',
    {
      onRequest: auth,
      schema: {
        tags: ['schedules'],
        summary: 'One schedule and its occurrences',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: { 200: Schedule, 404: ErrorBody },
      },
    },
    async (request) => {
      const s = await schedules.withAirings(request.params.id);
      // A scoped user sees the airings at their own stations, and no schedule that reaches none of them.
      const mine = await scopes.subtree(request.user);
      if (!mine) return toSchedule(s);
      const occurrences = s.occurrences.filter((o) => o.unitId !== null && mine.has(o.unitId));
      if (!occurrences.length) throw forbidden('OUT_OF_SCOPE', `schedule ${request.params.id} airs outside your unit`);
      return toSchedule({ ...s, occurrences });
    },
  );

  const ListItem = z.object({
    id: z.string(),
    mediaId: z.string().nullable(),
    playlistId: z.string().nullable(),
    title: z.string(),
    startsAt: z.date(),
    rrule: z.string().nullable(),
    priority: z.string(),
    status: z.enum(['active', 'paused', 'cancelled']),
    stations: z.array(z.string()),
    upcoming: z.number(),
    held: z.number(),
  });
  app.get(
    '/schedules',
    {
      onRequest: auth,
      schema: {
        tags: ['schedules'],
        summary: 'Schedules reaching your units, newest first: filters unit, media, status, and an airing in [from, to)',
        description: 'upcoming and held count the airings still to come in your scope (held: paused).',
        security: bearer,
        querystring: z.object({
          unit: z.string().max(20).optional(),
          media: z.string().max(64).optional(),
          status: z.enum(['active', 'paused', 'cancelled']).optional(),
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
          ...page(500, 50),
        }),
        response: { 200: z.object({ total: z.number(), items: z.array(ListItem) }), 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const { unit, media, status, from, to, limit, offset } = request.query;
      const code = await scopes.unit(request.user, unit);
      const units = code ? await scopes.subtreeOf(code) : undefined;
      return lifecycle.list({
        ...(units ? { units } : {}),
        ...(media ? { mediaId: media } : {}),
        ...(status ? { status } : {}),
        ...(from ? { from: new Date(from) } : {}),
        ...(to ? { to: new Date(to) } : {}),
        limit,
        offset,
      });
    },
  );

  app.patch(
    '/schedules/:id',
    {
      onRequest: auth,
      schema: {
        tags: ['schedules'],
        summary: 'Change a schedule: time, repetition rule, exceptions, targets, priority, conflict handling',
        description:
          'Its airings to come are laid out again from the changed definition and re-checked against policy (422 POLICY_VIOLATION; its own ' +
          'replaced airings do not count against it); what already aired stays. rrule null makes it a one-off. The stations it leaves and ' +
          'the ones it reaches get new plans. A paused or cancelled schedule is not changed (409 NOT_ACTIVE). Every station before and after ' +
          'must lie in your units.',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        body: z
          .object({
            stations: z.array(code).max(20_000).optional(),
            targets: ScheduleBody.shape.targets,
            startsAt: hanoiInstant.optional(),
            rrule: z.string().min(6).max(500).nullable().optional(),
            exdates: z.array(hanoiInstant).max(366).optional(),
            priority: z.optional(Priority),
            conflict: z.optional(ConflictRule),
            startWindowMinutes: z.int().min(0).max(240).optional(),
          })
          .strict(),
        response: { 200: Schedule, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody },
      },
    },
    async (request) => {
      const user = allow(request.user, 'schedule');
      const { id } = request.params;
      await scopes.units(user, await lifecycle.units(id), `schedule ${id}`);
      const b = request.body;
      const targets =
        b.targets || b.stations ? { ...b.targets, stations: [...(b.targets?.stations ?? []), ...(b.stations ?? [])] } : undefined;
      const saved = await schedules.update(id, {
        ...(targets ? { targets } : {}),
        ...(b.startsAt ? { startsAt: new Date(b.startsAt) } : {}),
        ...(b.rrule !== undefined ? { rrule: b.rrule } : {}),
        ...(b.exdates ? { exdates: b.exdates.map((d) => new Date(d)) } : {}),
        ...(b.priority ? { priority: b.priority } : {}),
        ...(b.conflict ? { conflict: b.conflict } : {}),
        ...(b.startWindowMinutes !== undefined ? { startWindowMs: b.startWindowMinutes * 60_000 } : {}),
        within: withinScope(user),
      });
      return toSchedule(saved);
    },
  );

  const Changed = z.object({ id: z.string(), status: z.string(), airings: z.number(), stations: z.number() });
  app.post(
    '/schedules/:id/:action',
    {
      onRequest: auth,
      schema: {
        tags: ['schedules'],
        summary: 'Pause, resume or cancel a schedule: its airings still to come are held, put back or cancelled',
        description:
          'Only airings still to come change; held and cancelled ones are "skipped" with reason cancelled in the as-run (never missed). ' +
          'The gateways of exactly the stations touched get new plans. A cancelled schedule makes no new airings. Every station the ' +
          'schedule reaches must lie in your units.',
        security: bearer,
        params: z.object({ id: z.string().max(64), action: z.enum(['pause', 'resume', 'cancel']) }),
        response: { 200: Changed, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      const user = allow(request.user, 'schedule');
      const { id, action } = request.params;
      await scopes.units(user, await lifecycle.units(id), `schedule ${id}`);
      return action === 'pause' ? lifecycle.pause(id) : action === 'resume' ? lifecycle.resume(id) : lifecycle.cancel(id);
    },
  );

  app.post(
    '/occurrences/:id/cancel',
    {
      onRequest: auth,
      schema: {
        tags: ['schedules'],
        summary: 'Cancel one airing still to come; its station gets a new plan',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: {
          200: z.object({ id: z.string(), status: z.literal('cancelled'), stations: z.number() }),
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request) => {
      const user = allow(request.user, 'schedule');
      const o = await lifecycle.airing(request.params.id);
      await scopes.units(user, [o.unitId], `station ${o.station.code}`);
      return lifecycle.cancelOccurrence(request.params.id);
    },
  );
};
