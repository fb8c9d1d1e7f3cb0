// Rotating the server's signing key with overlap [P-4.7] (keys.ts): announce a new key in every manifest,
// wait until every gateway has acknowledged a manifest carrying it, then sign with it. Whole-tree
// province administrators only.
import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ServerKeyInfo } from '#protocol';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import { allow } from '../http/scope.ts';
import type { ServerKey } from '../keys.ts';
import type { DispatchService } from '../services/dispatch-service.ts';
import { conflict, DomainError, forbidden } from '../services/errors.ts';

const Status = z.object({
  active: z.string(),
  activeSince: z.string().nullable(),
  next: z.string().nullable(),
  announcedAt: z.string().nullable(),
  previous: z.string().nullable(),
  promotedAt: z.string().nullable(),
  trusted: z.array(ServerKeyInfo),
  /** Enrolled gateways that have not yet acknowledged a manifest announcing the next key. */
  pending: z.array(z.string()),
});

export const keyRoutes: FastifyPluginAsyncZod<{
  key: ServerKey;
  dispatch: DispatchService;
  auth: onRequestAsyncHookHandler;
}> = async (app, { key, dispatch, auth }) => {
  const wholeTree = async (request: { user?: { role: string; unitId: string | null } & { id: string; username: string } }) => {
    const user = allow(request.user, 'administer');
    if (user.unitId) throw forbidden('OUT_OF_SCOPE', "the server's keys are the whole tree's administrators' business");
  };
  /** Gateways that have not applied a manifest published since the next key was announced. */
  const pending = async (): Promise<string[]> => {
    const announcedAt = key.status().announcedAt;
    return announcedAt ? dispatch.unconfirmedSince(new Date(announcedAt)) : [];
  };
  const republishAll = () => dispatch.dispatchAll();
  const view = async () => ({ ...key.status(), trusted: key.trusted(), pending: await pending() });

  app.get(
    '/keys',
    {
      onRequest: [auth, wholeTree],
      schema: {
        tags: ['keys'],
        summary: "The server's signing keys: active, announced, previous; which gateways have not yet confirmed the announced one",
        security: bearer,
        response: { 200: Status, 403: ErrorBody },
      },
    },
    view,
  );

  app.post(
    '/keys/rotate',
    {
      onRequest: [auth, wholeTree],
      schema: {
        tags: ['keys'],
        summary: 'Start a key rotation: create the next key and announce it in every gateway’s manifest (nothing is signed with it yet)',
        security: bearer,
        response: { 200: Status.extend({ manifests: z.number() }), 403: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      if (key.status().next) throw conflict('ROTATION_UNDER_WAY', 'a next key is already announced; promote it first');
      const before = key.status();
      key.rotate();
      const manifests = await republishAll();
      request.auditChange = { before, after: key.status() };
      return { ...(await view()), manifests };
    },
  );

  app.post(
    '/keys/promote',
    {
      onRequest: [auth, wholeTree],
      schema: {
        tags: ['keys'],
        summary: 'Finish a rotation: sign with the announced key from now on (the old one stays trusted for 7 days)',
        description:
          'Refused with 409 ROTATION_NOT_CONFIRMED (listing them) while an enrolled gateway has not acknowledged a manifest announcing the key: ' +
          'it would refuse everything signed with the new key. force=true promotes anyway (those gateways then need a new enrollment).',
        security: bearer,
        body: z.object({ force: z.boolean().default(false) }).nullish(),
        response: { 200: Status.extend({ manifests: z.number() }), 403: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      if (!key.status().next) throw conflict('NO_ROTATION', 'no key is announced; POST /keys/rotate first');
      const waiting = await pending();
      if (waiting.length && !request.body?.force)
        throw new DomainError('conflict', 'ROTATION_NOT_CONFIRMED', `${waiting.length} gateways have not confirmed the new key`, {
          pending: waiting,
        });
      const before = key.status();
      key.promote();
      request.auditChange = { before, after: key.status() };
      const manifests = await republishAll();
      return { ...(await view()), manifests };
    },
  );
};
