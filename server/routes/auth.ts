import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { bearerToken, LOCKOUT, login, logout, requireUser } from '../http/auth.ts';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';

export const authRoutes: FastifyPluginAsyncZod<{ db: Db; now: () => Date }> = async (app, { db, now }) => {
  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a username and password for a bearer token',
        body: z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(200) }),
        response: {
          200: z.object({
            token: z.string(),
            expiresAt: z.date(),
            user: z.object({ id: z.string(), username: z.string(), role: z.string() }),
          }),
          401: ErrorBody,
          429: ErrorBody,
        },
        description: `After ${LOCKOUT.failures} wrong passwords in a row the account is locked for ${LOCKOUT.forMs / 60_000} minutes (429 ACCOUNT_LOCKED).`,
      },
    },
    async (request) => login(db, now(), request.body.username, request.body.password),
  );

  app.post(
    '/auth/logout',
    {
      preHandler: requireUser(db, now),
      schema: {
        tags: ['auth'],
        summary: 'End this session: its bearer token is refused from now on',
        security: bearer,
        response: { 204: z.null(), 401: ErrorBody },
      },
    },
    async (request, reply) => {
      // requireUser has checked that the token is there and live.
      await logout(db, now(), bearerToken(request) as string);
      return reply.status(204).send(null);
    },
  );
};
