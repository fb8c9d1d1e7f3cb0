import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Metrics } from '../metrics.ts';

export type ComponentHealth = { ok: boolean; detail?: string };
export interface HealthCheck {
  database(): Promise<ComponentHealth>;
  broker(): Promise<ComponentHealth>;
  ffmpeg(): Promise<ComponentHealth>;
}

const Component = z.object({ ok: z.boolean(), detail: z.string().optional() });

export const opsRoutes: FastifyPluginAsyncZod<{ health: HealthCheck; metrics: Metrics }> = async (app, { health, metrics }) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['operations'],
        summary: 'Health of the database, the MQTT broker link and ffmpeg',
        response: {
          200: z.object({ status: z.enum(['ok', 'degraded']), database: Component, broker: Component, ffmpeg: Component }),
          503: z.object({ status: z.enum(['ok', 'degraded']), database: Component, broker: Component, ffmpeg: Component }),
        },
      },
    },
    async (_request, reply) => {
      const [database, broker, ffmpeg] = await Promise.all([health.database(), health.broker(), health.ffmpeg()]);
      const ok = database.ok && broker.ok && ffmpeg.ok;
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', database, broker, ffmpeg });
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['operations'], summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] } },
    async (_request, reply) => {
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
};
