import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { login } from '../http/auth.ts';
import { ErrorBody } from '../http/errors.ts';

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
        },
      },
    },
    async (request) => login(db, now(), request.body.username, request.body.password),
  );
};
