// Users: a province administrator creates accounts with one of the roles below, each acting within a
// unit's subtree (http/scope.ts); an administrator with a unit creates users within it only.
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { hashPassword } from '../auth/passwords.ts';
import type { Db } from '../db/client.ts';
import { conflict, ErrorBody, notFound } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import { allow, type Scopes } from '../http/scope.ts';

export const ROLES = ['province_admin', 'district_operator', 'commune_operator', 'editor', 'approver', 'auditor', 'integration'] as const;

export const userRoutes: FastifyPluginAsyncZod<{ db: Db; scopes: Scopes; auth: preHandlerAsyncHookHandler }> = async (
  app,
  { db, scopes, auth },
) => {
  app.post(
    '/users',
    {
      preHandler: auth,
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
      const scope = unit ? await db.unit.findUnique({ where: { code: unit }, select: { id: true } }) : null;
      if (unit && !scope) throw notFound('UNKNOWN_UNIT', `unknown unit ${unit}`);
      if (scope) await scopes.units(creator, [scope.id], `unit ${unit}`);
      if (await db.user.findUnique({ where: { username } })) throw conflict('USERNAME_TAKEN', `user ${username} exists`);
      const user = await db.user.create({
        data: { username, role, unitId: scope?.id ?? creator.unitId, passwordHash: await hashPassword(password) },
      });
      const unitCode = user.unitId ? (await db.unit.findUnique({ where: { id: user.unitId }, select: { code: true } }))?.code : null;
      return reply.status(201).send({ id: user.id, username: user.username, role: user.role, unit: unitCode ?? null });
    },
  );
};
