import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Reply } from '#protocol';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import { allow, type Scopes } from '../http/scope.ts';
import type { CommandService } from '../services/command-service.ts';

export const commandRoutes: FastifyPluginAsyncZod<{ commands: CommandService; scopes: Scopes; auth: onRequestAsyncHookHandler }> = async (
  app,
  { commands, scopes, auth },
) => {
  app.post(
    '/stations/:code/commands',
    {
      onRequest: auth,
      schema: {
        tags: ['commands'],
        summary: "Send a remote command to a station's gateway and wait for its reply",
        description:
          'The body is a command of PROTOCOL.md §P-3.5 without txn, e.g. {"action":"volume","level":60} or {"action":"self-test"}. ' +
          "The answer is the gateway's signed reply. A reply that refuses the command is no success: it answers 422 DEVICE_REFUSED, " +
          "the message naming the gateway's code and reason, details.reply the signed reply itself.",
        security: bearer,
        params: z.object({ code: z.string().max(64) }),
        body: z.looseObject({ action: z.string().min(1).max(32) }),
        response: { 200: Reply, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, 504: ErrorBody },
      },
    },
    async (request, reply) => {
      await scopes.station(allow(request.user, 'command'), request.params.code);
      const answer = await commands.send(request.params.code, request.body);
      if (answer.ok) return answer;
      const { code, message } = answer.error;
      return reply.status(422).send({
        error: { code: 'DEVICE_REFUSED', message: `the gateway refused the command: ${code}: ${message}`, details: { reply: answer } },
      });
    },
  );
};
