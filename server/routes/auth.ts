import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { THROTTLE } from '../auth/throttle.ts';
import {
  CSRF_COOKIE,
  CSRF_HEADER,
  csrfFor,
  type LoginDeps,
  login,
  logout,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  sessionToken,
} from '../http/auth.ts';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import type { UserService } from '../services/user-service.ts';

export const authRoutes: FastifyPluginAsyncZod<{
  login: LoginDeps;
  users: UserService;
  auth: onRequestAsyncHookHandler;
  loginsPerMinute: number;
}> = async (app, { login: deps, users, auth, loginsPerMinute }) => {
  const code = z.object({ code: z.string().max(10) });
  // What both sign-ins take, and the per-address limit they share (on top of the per-source throttle: a
  // flood of tries is cut short before any password check).
  const Credentials = z.object({
    username: z.string().min(1).max(100),
    password: z.string().min(1).max(200),
    totp: z.string().max(10).optional(),
  });
  const SignedIn = z.object({ id: z.string(), username: z.string(), role: z.string() });
  const perAddress = { rateLimit: { max: loginsPerMinute, timeWindow: 60_000 } };
  app.post(
    '/auth/login',
    {
      config: perAddress,
      schema: {
        tags: ['auth'],
        summary: 'Exchange a username and password (and a one-time code, when the account has TOTP on) for a bearer token',
        body: Credentials,
        response: {
          200: z.object({
            token: z.string(),
            expiresAt: z.date(),
            user: SignedIn,
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
      return users.setupTotp(request.user!);
    },
  );

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
      await users.enableTotp(request.user!.id, request.body.code);
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
      await users.disableTotp(request.user!.id, request.body.code);
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
      // requireUser has checked that the token is there and live (a bearer token, or the console's cookie).
      await logout(deps, sessionToken(request)?.token as string);
      return reply.clearCookie(SESSION_COOKIE, { path: '/' }).clearCookie(CSRF_COOKIE, { path: '/' }).status(204).send(null);
    },
  );

  // The browser console signs in here: the same checks as /auth/login, the session in an HttpOnly cookie.
  app.post(
    '/auth/session',
    {
      config: perAddress,
      schema: {
        tags: ['auth'],
        summary: 'Sign in from the browser: the session goes in an HttpOnly, SameSite=Strict cookie (Secure behind TLS)',
        description:
          `Same checks and throttling as /auth/login. The answer carries csrf, also set as the readable cookie ${CSRF_COOKIE}: every change ` +
          `made with the session cookie must send it back in the ${CSRF_HEADER} header (403 CSRF otherwise). POST /auth/logout ends it.`,
        body: Credentials,
        response: {
          200: z.object({
            csrf: z.string(),
            expiresAt: z.date(),
            user: SignedIn,
          }),
          401: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const session = await login(deps, request.ip, request.body.username, request.body.password, request.body.totp);
      request.user = session.user;
      const csrf = csrfFor(session.token);
      const cookie = { path: '/', sameSite: 'strict' as const, secure: request.protocol === 'https', maxAge: SESSION_TTL_MS / 1000 };
      reply.setCookie(SESSION_COOKIE, session.token, { ...cookie, httpOnly: true });
      reply.setCookie(CSRF_COOKIE, csrf, cookie);
      return { csrf, expiresAt: session.expiresAt, user: session.user };
    },
  );

  app.get(
    '/auth/me',
    {
      onRequest: auth,
      schema: {
        tags: ['auth'],
        summary: 'Who is signed in: role and the unit they act within (name and type)',
        response: {
          200: z.object({
            username: z.string(),
            role: z.string(),
            unit: z.object({ code: z.string(), name: z.string(), type: z.string() }).nullable(),
          }),
          401: ErrorBody,
        },
      },
    },
    async (request) => {
      // biome-ignore lint/style/noNonNullAssertion: the auth hook sets the user
      const user = request.user!;
      return { username: user.username, role: user.role, unit: await users.unitOf(user.unitId) };
    },
  );
};
