// Users: a province administrator creates accounts with one of the roles below, each acting within a
// unit's subtree (http/scope.ts); an administrator with a unit creates users within it only.
import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { newApiToken } from '../http/auth.ts';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import { allow, type Scopes } from '../http/scope.ts';
import { badRequest, conflict, notFound } from '../services/errors.ts';
import type { UnitService } from '../services/unit-service.ts';
import type { UserService } from '../services/user-service.ts';

export const ROLES = ['province_admin', 'district_operator', 'commune_operator', 'editor', 'approver', 'auditor', 'integration'] as const;

const ApiTokenView = z.object({
  id: z.string(),
  name: z.string(),
  user: z.string(),
  expiresAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  lastUsedAt: z.date().nullable(),
  createdAt: z.date(),
});

export const userRoutes: FastifyPluginAsyncZod<{
  users: UserService;
  units: UnitService;
  scopes: Scopes;
  auth: onRequestAsyncHookHandler;
}> = async (app, { users, units, scopes, auth }) => {
  /** A user the (administering) caller may manage: one acting within the caller's unit. */
  const managed = async (caller: Parameters<Scopes['units']>[0], username: string) => {
    const user = await users.get(username);
    await scopes.units(caller, [user.unitId], `user ${username}`);
    return user;
  };
  const toView = (t: { user: { username: string } } & Omit<z.infer<typeof ApiTokenView>, 'user'>) => ({
    id: t.id,
    name: t.name,
    user: t.user.username,
    expiresAt: t.expiresAt,
    revokedAt: t.revokedAt,
    lastUsedAt: t.lastUsedAt,
    createdAt: t.createdAt,
  });

  app.post(
    '/tokens',
    {
      onRequest: auth,
      schema: {
        tags: ['users'],
        summary: 'Issue an API token for an integration user (shown once); it acts with that user’s role and unit',
        description:
          'For other systems (a provincial dashboard reading statistics, a newsroom pushing bulletins): send it as "Authorization: Bearer lpt_…". ' +
          'Only users with the integration role get tokens; revoke with POST /tokens/{id}/revoke.',
        security: bearer,
        body: z.object({ user: z.string().max(50), name: z.string().min(1).max(100), expiresInDays: z.int().min(1).max(3650).optional() }),
        response: { 201: ApiTokenView.extend({ token: z.string() }), 400: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const caller = allow(request.user, 'administer');
      const user = await managed(caller, request.body.user);
      if (user.role !== 'integration') throw badRequest('NOT_INTEGRATION', 'API tokens are for users with the integration role');
      const { token, hash } = newApiToken();
      const { name, expiresInDays } = request.body;
      const created = await users.issueToken({ userId: user.id, createdById: caller.id, name, tokenHash: hash, expiresInDays });
      return reply.status(201).send({ ...toView(created), token });
    },
  );

  app.get(
    '/tokens',
    {
      onRequest: auth,
      schema: {
        tags: ['users'],
        summary: 'API tokens of the users in your unit (never the tokens themselves)',
        security: bearer,
        response: { 200: z.object({ items: z.array(ApiTokenView) }), 403: ErrorBody },
      },
    },
    async (request) => {
      const caller = allow(request.user, 'administer');
      const rows = await users.tokens(await scopes.unitFilter(caller));
      return { items: rows.map(toView) };
    },
  );

  app.post(
    '/tokens/:id/revoke',
    {
      onRequest: auth,
      schema: {
        tags: ['users'],
        summary: 'Revoke an API token: refused from the next request on',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        response: { 204: z.null(), 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const caller = allow(request.user, 'administer');
      const t = await users.liveToken(request.params.id);
      await scopes.units(caller, [t.user.unitId], `token ${t.id}`);
      const revokedAt = await users.revokeToken(t.id);
      request.auditChange = { before: { token: t.name, revokedAt: null }, after: { token: t.name, revokedAt } };
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/users/:username/totp/reset',
    {
      onRequest: auth,
      schema: {
        tags: ['users'],
        summary: "Turn a user's two-factor sign-in off (a lost phone); they set it up again",
        security: bearer,
        params: z.object({ username: z.string().max(50) }),
        response: { 204: z.null(), 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const user = await managed(allow(request.user, 'administer'), request.params.username);
      await users.resetTotp(user.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/users',
    {
      onRequest: auth,
      schema: {
        tags: ['users'],
        summary: 'Create a user (province administrators only)',
        security: bearer,
        body: z.object({
          username: z.string().regex(/^[a-z0-9._-]{3,50}$/),
          password: z.string().min(12).max(200),
          role: z.enum(ROLES),
          /** The unit whose subtree the user acts within; absent = the creator's (the whole tree for a whole-tree administrator). */
          unit: z.string().max(64).optional(),
        }),
        response: {
          201: z.object({ id: z.string(), username: z.string(), role: z.string(), unit: z.string().nullable() }),
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const creator = allow(request.user, 'administer');
      const { username, password, role, unit } = request.body;
      const scope = unit ? (await units.tree()).byCode.get(unit) : undefined;
      if (unit && !scope) throw notFound('UNKNOWN_UNIT', `unknown unit ${unit}`);
      // A user acts on today's map: a unit that ended (merged by a reform) has no stations to act on.
      if (scope?.endedAt) throw conflict('UNIT_ENDED', `unit ${unit} no longer exists (ended ${scope.endedAt.toISOString()})`);
      if (scope) await scopes.units(creator, [scope.id], `unit ${unit}`);
      const created = await users.create({ username, password, role, unitId: scope?.id ?? creator.unitId });
      request.auditChange = { before: null, after: created };
      return reply.status(201).send(created);
    },
  );
};
