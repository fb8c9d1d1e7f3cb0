import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody } from '../http/errors.ts';
import { bearer, page } from '../http/schemas.ts';
import { allow, type Scopes } from '../http/scope.ts';
import { ALERT_KINDS, ALERT_STATUSES, type HealthService } from '../services/health-service.ts';

const Alert = z.object({
  id: z.string(),
  station: z.string(),
  stationName: z.string(),
  unitCode: z.string(),
  unitName: z.string(),
  unitType: z.string(),
  kind: z.string(),
  status: z.string(),
  occurrenceId: z.string().nullable(),
  /** English, for logs and integrations. */
  message: z.string(),
  /** The same said in Vietnamese with Hanoi times, for people. */
  messageVi: z.string(),
  count: z.number(),
  raisedAt: z.date(),
  /** Hanoi wall-clock times ("2026-12-02 06:00"). */
  raisedAtLocal: z.string(),
  lastAt: z.date(),
  lastAtLocal: z.string(),
  acknowledgedAt: z.date().nullable(),
  acknowledgedBy: z.string().nullable(),
  resolvedAt: z.date().nullable(),
  resolvedBy: z.string().nullable(),
  note: z.string().nullable(),
});

const instant = z.iso.datetime({ offset: true });

export const healthRoutes: FastifyPluginAsyncZod<{ health: HealthService; scopes: Scopes; auth: onRequestAsyncHookHandler }> = async (
  app,
  { health, scopes, auth },
) => {
  app.get(
    '/stations/:code/health',
    {
      onRequest: auth,
      schema: {
        tags: ['monitoring'],
        summary: "A station's health: online/offline periods with durations, uptime, last telemetry, open alerts",
        description:
          'history lists periods of one state each, clipped to [from, to) (default: the last 7 days); the last period is ongoing while it lasts. ' +
          'telemetry is the last signed heartbeat [P-3.4]: clockOffsetMs is server clock minus device clock; manifestVersion there is what the ' +
          'gateway applied, the top-level one what the server last published.',
        security: bearer,
        params: z.object({ code: z.string().max(64) }),
        querystring: z.object({ from: instant.optional(), to: instant.optional() }),
        response: {
          200: z.object({
            station: z.string(),
            name: z.string(),
            unit: z.string(),
            unitName: z.string(),
            unitType: z.string(),
            online: z.boolean(),
            lastSeenAt: z.date().nullable(),
            telemetry: z
              .object({
                at: z.date(),
                clockOffsetMs: z.number().nullable(),
                diskFreeBytes: z.number().nullable(),
                agentVersion: z.string().nullable(),
                uptimeS: z.number().nullable(),
                cacheItems: z.number().nullable(),
                cacheMissing: z.number().nullable(),
                manifestVersion: z.number().nullable(),
              })
              .nullable(),
            manifestVersion: z.number(),
            inServiceSince: z.date().nullable(),
            from: z.date(),
            to: z.date(),
            uptimeRate: z.number().nullable(),
            offlineMs: z.number(),
            history: z.array(z.object({ online: z.boolean(), from: z.date(), to: z.date(), durationMs: z.number(), ongoing: z.boolean() })),
            openAlerts: z.array(Alert),
          }),
          400: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const { from, to } = request.query;
      await scopes.station(request.user, request.params.code);
      return health.station(request.params.code, { ...(from ? { from: new Date(from) } : {}), ...(to ? { to: new Date(to) } : {}) });
    },
  );

  app.get(
    '/alerts',
    {
      onRequest: auth,
      schema: {
        tags: ['monitoring'],
        summary: 'Alerts: a station offline while an airing was due, an airing missed, an output measured silent',
        description:
          'One open alert per station and kind: a repeat while it is open increments count and lastAt. Workflow new → acknowledged → resolved; ' +
          'an offline alert resolves itself (resolvedBy "system") when the station is heard from again.',
        security: bearer,
        querystring: z.object({
          status: z.enum(ALERT_STATUSES).optional(),
          kind: z.enum(ALERT_KINDS).optional(),
          station: z.string().max(64).optional(),
          unit: z.string().max(64).optional(),
          ...page(500, 100),
        }),
        response: { 200: z.object({ total: z.number(), items: z.array(Alert) }), 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const q = request.query;
      if (q.station) await scopes.station(request.user, q.station);
      const unit = await scopes.unit(request.user, q.unit);
      return health.alerts({ ...q, ...(unit ? { unit } : {}) });
    },
  );

  for (const move of ['acknowledge', 'resolve'] as const)
    app.post(
      `/alerts/:id/${move}`,
      {
        onRequest: auth,
        schema: {
          tags: ['monitoring'],
          summary: move === 'acknowledge' ? 'Acknowledge a new alert (someone is on it)' : 'Resolve an alert, with an optional note',
          security: bearer,
          params: z.object({ id: z.string().max(64) }),
          body: z
            .object({ note: z.string().max(2000).optional() })
            .strict()
            .optional(),
          response: { 200: Alert, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (request) => {
        const user = allow(request.user, 'alerts');
        const place = await health.alertPlace(request.params.id);
        await scopes.units(user, [place.unitId], 'the alert');
        const moved = await health.move(request.params.id, move, user.username, request.body?.note);
        request.auditChange = { before: { status: place.status }, after: { status: moved.status, note: request.body?.note ?? null } };
        return moved;
      },
    );
};
