// The HTTP authentication and authorization hooks an external broker calls for every CONNECT, PUBLISH
// and SUBSCRIBE, answering from the same rules as the embedded broker (mqtt/access.ts, protocol acl.ts):
// - EMQX 5 (HTTP authenticator and HTTP authorizer, POST JSON): /broker/emqx/auth and /broker/emqx/acl,
//   with the secret as "Authorization: Bearer <LP_BROKER_HOOK_SECRET>";
// - RabbitMQ's MQTT plugin with rabbitmq_auth_backend_http (GET): /broker/rabbitmq/<secret>/{user,vhost,
//   resource,topic}; RabbitMQ sends no custom headers, so its secret is a path segment.
// Only mounted when LP_BROKER_HOOK_SECRET is set. Outside /api/v1: no audit row per broker call, and not
// logged (the RabbitMQ URLs carry the secret, the auth calls a password).
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { mayPublish, maySubscribe } from '#protocol';
import { sameSecret } from '../auth/passwords.ts';
import { bearerToken } from '../http/auth.ts';
import type { BrokerAccess } from '../mqtt/access.ts';
import { DomainError } from '../services/errors.ts';

const refused = () => new DomainError('unauthenticated', 'UNAUTHORIZED', 'the broker hook secret is missing or wrong');
const field = z.string().max(1024);

/** RabbitMQ writes MQTT topics as AMQP routing keys: "/" → ".", "+" → "*" ("#" stays). */
export const topicOfRoutingKey = (key: string) =>
  key
    .split('.')
    .map((s) => (s === '*' ? '+' : s))
    .join('/');

export const brokerHookRoutes: FastifyPluginAsyncZod<{ access: BrokerAccess; secret: string }> = async (app, { access, secret }) => {
  const quiet = { logLevel: 'silent' as const, schema: { hide: true } };
  const emqxGuard = async (request: FastifyRequest) => {
    if (!sameSecret(bearerToken(request), secret)) throw refused();
  };

  // EMQX: {"result": "allow" | "deny"} with 200; a wrong hook secret is 401 (EMQX then denies).
  app.post(
    '/broker/emqx/auth',
    {
      ...quiet,
      onRequest: emqxGuard,
      schema: { hide: true, body: z.object({ username: field.optional(), password: field.optional(), clientid: field.optional() }) },
    },
    async (request) => {
      const { username, password, clientid } = request.body;
      const principal = await access.authenticate(clientid, username, password);
      return { result: principal ? 'allow' : 'deny', is_superuser: false };
    },
  );

  app.post(
    '/broker/emqx/acl',
    {
      ...quiet,
      onRequest: emqxGuard,
      schema: {
        hide: true,
        body: z.object({
          username: field.optional(),
          clientid: field.optional(),
          topic: field,
          action: z.enum(['publish', 'subscribe', 'all']),
        }),
      },
    },
    async (request) => {
      const { username, clientid, topic, action } = request.body;
      const principal = await access.principal(clientid, username);
      const ok =
        principal !== null &&
        (action === 'publish' ? mayPublish(principal, topic) : action === 'subscribe' ? maySubscribe(principal, topic) : false);
      return { result: ok ? 'allow' : 'deny' };
    },
  );

  // RabbitMQ: a plain-text "allow" or "deny" with 200.
  const rabbit = '/broker/rabbitmq/:secret';
  const guard = async (request: { params: unknown }) => {
    if (!sameSecret((request.params as { secret?: string }).secret, secret)) throw refused();
  };
  const text = (ok: boolean) => (ok ? 'allow' : 'deny');
  app.get(
    `${rabbit}/user`,
    {
      ...quiet,
      onRequest: guard,
      schema: { hide: true, querystring: z.object({ username: field, password: field, client_id: field.optional() }) },
    },
    async (request, reply) => {
      const { username, password, client_id } = request.query;
      reply.type('text/plain');
      return text((await access.authenticate(client_id ?? username, username, password)) !== null);
    },
  );
  app.get(
    `${rabbit}/vhost`,
    { ...quiet, onRequest: guard, schema: { hide: true, querystring: z.object({ username: field }).loose() } },
    async (request, reply) => {
      reply.type('text/plain');
      return text((await access.principal(undefined, request.query.username)) !== null);
    },
  );
  // Queues and the topic exchange the MQTT plugin declares for a session; topics are decided below.
  app.get(
    `${rabbit}/resource`,
    {
      ...quiet,
      onRequest: guard,
      schema: { hide: true, querystring: z.object({ username: field, resource: field, name: field }).loose() },
    },
    async (request, reply) => {
      const { username, resource, name } = request.query;
      const mqttOwned = (resource === 'queue' && name.startsWith('mqtt-')) || (resource === 'exchange' && name === 'amq.topic');
      reply.type('text/plain');
      return text(mqttOwned && (await access.principal(undefined, username)) !== null);
    },
  );
  app.get(
    `${rabbit}/topic`,
    {
      ...quiet,
      onRequest: guard,
      schema: {
        hide: true,
        querystring: z
          .object({
            username: field,
            permission: z.enum(['read', 'write']),
            routing_key: field,
            'variable_map.client_id': field.optional(),
          })
          .loose(),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const principal = await access.principal(q['variable_map.client_id'], q.username);
      const topic = topicOfRoutingKey(q.routing_key);
      reply.type('text/plain');
      return text(principal !== null && (q.permission === 'write' ? mayPublish(principal, topic) : maySubscribe(principal, topic)));
    },
  );
};
