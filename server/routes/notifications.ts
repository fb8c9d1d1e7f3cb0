import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import { allow, type Scopes } from '../http/scope.ts';
import { type NotifyService, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../services/notify-service.ts';
import type { UnitService } from '../services/unit-service.ts';

const Channel = z.object({
  id: z.string(),
  /** email | webhook */
  kind: z.string(),
  address: z.string(),
  unitCode: z.string().nullable(),
  unitName: z.string().nullable(),
  createdAt: z.date(),
  lastSentAt: z.date().nullable(),
  lastError: z.string().nullable(),
  sent: z.number(),
});

export const notificationRoutes: FastifyPluginAsyncZod<{
  notify: NotifyService;
  units: UnitService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { notify, units, scopes, auth }) => {
  app.get(
    '/notifications/channels',
    {
      onRequest: auth,
      schema: {
        tags: ['monitoring'],
        summary: 'Where the alerts of your units are pushed out: e-mail addresses and signed webhooks',
        security: bearer,
        response: { 200: z.object({ items: z.array(Channel) }) },
      },
    },
    async (request) => ({ items: await notify.list(await scopes.subtree(allow(request.user, 'alerts'))) }),
  );

  app.post(
    '/notifications/channels',
    {
      onRequest: auth,
      schema: {
        tags: ['monitoring'],
        summary: "Push a unit's alerts to an e-mail address or a webhook, as one digest at most every LP_NOTIFY_INTERVAL_S (300 s)",
        description:
          `A webhook receives POST JSON {type: "alerts", sentAt, unit, total, alerts[]} with headers ${TIMESTAMP_HEADER} (Unix seconds) and ` +
          `${SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the channel's secret>; the secret is in this answer only. ` +
          'unit: the unit whose stations it covers (default: your own; a whole-tree user without one: every station).',
        security: bearer,
        body: z
          .object({ kind: z.enum(['email', 'webhook']), address: z.string().min(3).max(500), unit: z.string().max(20).optional() })
          .strict(),
        response: { 201: Channel.extend({ secret: z.string().optional() }), 400: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const user = allow(request.user, 'alerts');
      const tree = await units.tree();
      const code = request.body.unit ?? (user.unitId ? tree.byId.get(user.unitId)?.code : undefined) ?? null;
      const unitId = code ? tree.get(code).id : null;
      await scopes.units(user, [unitId], code ? `unit ${code}` : 'every station');
      return reply
        .status(201)
        .send(await notify.create({ kind: request.body.kind, address: request.body.address, unitCode: code, userId: user.id }));
    },
  );

  app.delete(
    '/notifications/channels/:id',
    {
      onRequest: auth,
      schema: {
        tags: ['monitoring'],
        summary: 'Stop pushing alerts to a channel',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: { 204: z.null(), 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const user = allow(request.user, 'alerts');
      await scopes.units(user, [await notify.unitOf(request.params.id)], 'the channel');
      await notify.remove(request.params.id);
      return reply.status(204).send(null);
    },
  );
};
