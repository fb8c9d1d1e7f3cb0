import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Metrics } from '../metrics.ts';

export type ComponentHealth = { ok: boolean; detail?: string };
export interface HealthCheck {
  database(): Promise<ComponentHealth>;
  broker(): Promise<ComponentHealth>;
  ffmpeg(): Promise<ComponentHealth>;
  /** Whether proofs of play are being committed (and so receipted to gateways). */
  proofs(): Promise<ComponentHealth>;
}

const Component = z.object({ ok: z.boolean(), detail: z.string().optional() });
const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  database: Component,
  proofs: Component,
  broker: Component,
  ffmpeg: Component,
});

type HealthAnswer = { ok: boolean; body: z.infer<typeof Health> };

export const opsRoutes: FastifyPluginAsyncZod<{ health: HealthCheck; metrics: Metrics; perMinute: number }> = async (
  app,
  { health, metrics, perMinute },
) => {
  // Anyone may call these, so they stay cheap: calls that arrive while a check runs share its answer,
  // and one address may call perMinute times a minute (429 RATE_LIMITED past it).
  let running: Promise<HealthAnswer> | undefined;
  const check = async (): Promise<HealthAnswer> => {
    const [database, proofs, broker, ffmpeg] = await Promise.all([health.database(), health.proofs(), health.broker(), health.ffmpeg()]);
    const ok = database.ok && proofs.ok && broker.ok && ffmpeg.ok;
    return { ok, body: { status: ok ? 'ok' : 'degraded', database, proofs, broker, ffmpeg } };
  };
  const limited = { rateLimit: { max: perMinute, timeWindow: 60_000 } };
  app.get(
    '/health',
    {
      config: limited,
      schema: {
        tags: ['operations'],
        summary: 'Health of the database, the proof store, the MQTT broker link and ffmpeg',
        response: { 200: Health, 503: Health },
      },
    },
    async (_request, reply) => {
      running ??= check().finally(() => {
        running = undefined;
      });
      const { ok, body } = await running;
      return reply.status(ok ? 200 : 503).send(body);
    },
  );

  app.get(
    '/metrics',
    { config: limited, schema: { tags: ['operations'], summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] } },
    async (_request, reply) => {
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
};
