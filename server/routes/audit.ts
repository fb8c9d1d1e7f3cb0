import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody } from '../http/errors.ts';
import { bearer, page } from '../http/schemas.ts';
import { requireCapability, type Scopes } from '../http/scope.ts';
import type { AuditService } from '../services/audit-service.ts';
import { forbidden } from '../services/errors.ts';
import type { RefusedRequests } from '../services/refused-requests.ts';

const Entry = z.object({
  source: z.enum(['api', 'gateway']),
  seq: z.number().nullable(),
  at: z.date(),
  username: z.string().nullable(),
  role: z.string().nullable(),
  ip: z.string(),
  action: z.string(),
  params: z.string().nullable(),
  request: z.string().nullable(),
  status: z.number(),
  response: z.string().nullable(),
  before: z.string().nullable(),
  after: z.string().nullable(),
  requestId: z.string(),
});

export const auditRoutes: FastifyPluginAsyncZod<{
  audit: AuditService;
  refused: RefusedRequests;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { audit, refused, scopes, auth }) => {
  app.get(
    '/audit',
    {
      onRequest: [auth, requireCapability('audit')],
      config: { audit: true },
      schema: {
        tags: ['audit'],
        summary:
          'The audit log: every state-changing request and every read of compliance evidence (who, what, when, from where, what was asked, what came of it)',
        description:
          'Append-only (the database refuses updates and deletes). request and response are JSON with secrets replaced by "[redacted]". ' +
          'route filters by a part of "METHOD /path". gateways=true adds each proof of play to the same timeline (source "gateway", ' +
          'user = the station, action "MQTT report playback.<kind>", request = the signed message, response = its place in the hash chain). ' +
          'format=csv exports the same rows. A reader scoped to a unit sees the rows about its subtree (each row names the units ' +
          'its request acted on or read) and the proofs of its stations. Refused requests by nobody signed in are not rows: ' +
          'see GET /audit/refused.',
        security: bearer,
        querystring: z.object({
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
          user: z.string().max(100).optional(),
          route: z.string().max(200).optional(),
          gateways: z.stringbool().default(false),
          format: z.enum(['json', 'csv']).default('json'),
          ...page(5000, 500),
        }),
        response: { 200: z.object({ total: z.number(), items: z.array(Entry) }), 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const { from, to, format, ...rest } = request.query;
      const scope = await scopes.subtree(request.user);
      const q = { ...rest, scope, ...(from ? { from: new Date(from) } : {}), ...(to ? { to: new Date(to) } : {}) };
      if (format === 'csv') {
        reply.header('content-disposition', 'attachment; filename="nhat-ky-kiem-toan.csv"');
        return reply.type('text/csv; charset=utf-8').send((await audit.csv(q)) as never);
      }
      return audit.list(q);
    },
  );

  app.get(
    '/audit/refused',
    {
      onRequest: [auth, requireCapability('audit')],
      config: { audit: true },
      schema: {
        tags: ['audit'],
        summary: 'Refused requests by nobody signed in, counted per hour, client address, route and status (whole-tree readers)',
        description:
          'Strangers cannot grow the audit log: their refused requests (no token, wrong password, a bad body) are counted here ' +
          'instead, at most 1,000 (address, route, status) rows an hour (further addresses share "*"), kept 90 days. ' +
          'Counts reach this table within 5 seconds.',
        security: bearer,
        querystring: z.object({
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
          ...page(5000, 500),
        }),
        response: {
          200: z.object({
            total: z.number(),
            items: z.array(
              z.object({ hour: z.date(), ip: z.string(), action: z.string(), status: z.number(), count: z.number(), lastAt: z.date() }),
            ),
          }),
          403: ErrorBody,
        },
      },
    },
    async (request) => {
      if ((await scopes.subtree(request.user)) !== null)
        throw forbidden('OUT_OF_SCOPE', 'refused requests are not about any unit: whole-tree readers only');
      const { from, to, ...rest } = request.query;
      return refused.list({ ...rest, ...(from ? { from: new Date(from) } : {}), ...(to ? { to: new Date(to) } : {}) });
    },
  );
};
