import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { THROTTLE } from '../auth/throttle.ts';
import { acceptTotp, newTotpSecret, TOTP_OFF, totpPurpose } from '../auth/totp.ts';
import { bearerToken, type LoginDeps, login, logout } from '../http/auth.ts';
import { AppError, badRequest, conflict, ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';

export const authRoutes: FastifyPluginAsyncZod<{ login: LoginDeps; auth: onRequestAsyncHookHandler; loginsPerMinute: number }> = async (
  app,
  { login: deps, auth, loginsPerMinute },
) => {
  const { db, now, secrets } = deps;
  const code = z.object({ code: z.string().max(10) });
  app.post(
    '/auth/login',
    {
      // Per client address, on top of the per-source throttle: a flood of tries is cut short before any password check.
      config: { rateLimit: { max: loginsPerMinute, timeWindow: 60_000 } },
      schema: {
        tags: ['auth'],
        summary: 'Exchange a username and password (and a one-time code, when the account has TOTP on) for a bearer token',
        body: z.object({
          username: z.string().min(1).max(100),
          password: z.string().min(1).max(200),
          totp: z.string().max(10).optional(),
        }),
        response: {
          200: z.object({
            token: z.string(),
            expiresAt: z.date(),
            user: z.object({ id: z.string(), username: z.string(), role: z.string() }),
          }),
          401: ErrorBody,
          429: ErrorBody,
        },
        description:
          `Failures throttle their source, never the account: after ${THROTTLE.freeFailures} wrong passwords or codes for an account from one address, ` +
          `each next try from there waits twice as long (429 LOGIN_THROTTLED, details.retryAfterS), up to ${THROTTLE.maxDelayMs / 60_000} minutes; ` +
          `${THROTTLE.sourceFailures} failures from one address within ${THROTTLE.sourceWindowMs / 60_000} minutes block it for ${THROTTLE.sourceBlockMs / 60_000} (429 SOURCE_BLOCKED). ` +
          'The owner signing in from another address is not held up. ' +
          `One address may try ${loginsPerMinute} logins a minute (429 RATE_LIMITED). With TOTP on, a login without totp answers 401 TOTP_REQUIRED; ` +
          'a wrong, expired or reused code 401 BAD_TOTP.',
      },
    },
    async (request) => {
      const session = await login(deps, request.ip, request.body.username, request.body.password, request.body.totp);
      // The audit row of a login names who signed in.
      request.user = session.user;
      return session;
    },
  );

  app.post(
    '/auth/totp/setup',
    {
      onRequest: auth,
      schema: {
        tags: ['auth'],
        summary: 'Start two-factor sign-in: a new TOTP secret and its otpauth:// URI (for a QR code); on once confirmed',
        security: bearer,
        response: { 200: z.object({ secret: z.string(), uri: z.string() }), 409: ErrorBody },
      },
    },
    async (request) => {
      // biome-ignore lint/style/noNonNullAssertion: the auth pre-handler sets the user
      const user = request.user!;
      const { secret, uri } = newTotpSecret(user.username);
      const { count } = await db.user.updateMany({
        where: { id: user.id, totpEnabledAt: null },
        data: { totpSecret: secrets.seal(secret, totpPurpose(user.id)), totpLastStep: null },
      });
      if (!count) throw conflict('TOTP_ENABLED', 'two-factor sign-in is already on; turn it off first');
      return { secret, uri };
    },
  );

  const confirm = async (userId: string, given: string) => {
    const u = await db.user.findUniqueOrThrow({ where: { id: userId } });
    if (!u.totpSecret) throw conflict('TOTP_NOT_SET_UP', 'start with POST /auth/totp/setup');
    const step = acceptTotp(secrets.open(u.totpSecret, totpPurpose(u.id)), given, now(), u.totpLastStep);
    if (step === null) throw badRequest('BAD_TOTP', 'wrong, expired or already used one-time code');
    return { user: u, step };
  };
  app.post(
    '/auth/totp/enable',
    {
      onRequest: auth,
      schema: {
        tags: ['auth'],
        summary: 'Turn two-factor sign-in on with a code from the authenticator app (proves the secret was stored)',
        security: bearer,
        body: code,
        response: { 204: z.null(), 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      // biome-ignore lint/style/noNonNullAssertion: the auth pre-handler sets the user
      const { user, step } = await confirm(request.user!.id, request.body.code);
      if (user.totpEnabledAt) throw conflict('TOTP_ENABLED', 'two-factor sign-in is already on');
      await db.user.update({ where: { id: user.id }, data: { totpEnabledAt: now(), totpLastStep: step } });
      return reply.status(204).send(null);
    },
  );
  app.post(
    '/auth/totp/disable',
    {
      onRequest: auth,
      schema: {
        tags: ['auth'],
        summary: 'Turn two-factor sign-in off (needs a current code; an administrator can reset a lost one)',
        security: bearer,
        body: code,
        response: { 204: z.null(), 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      // biome-ignore lint/style/noNonNullAssertion: the auth pre-handler sets the user
      const { user } = await confirm(request.user!.id, request.body.code);
      if (!user.totpEnabledAt) throw new AppError(409, 'TOTP_NOT_ENABLED', 'two-factor sign-in is off');
      await db.user.update({ where: { id: user.id }, data: TOTP_OFF });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/auth/logout',
    {
      onRequest: auth,
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
