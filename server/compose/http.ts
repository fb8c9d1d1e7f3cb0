// HTTP: the connection limits, login throttling and refused-request counting, then the Fastify app over
// every service (app.ts), listening. The browsers' event streams and the commands awaiting a gateway end
// before the HTTP server closes (it waits for open connections).
import type { Logger } from 'pino';
import { type App, buildApp } from '../app.ts';
import { LoginThrottle } from '../auth/throttle.ts';
import type { Config } from '../config.ts';
import { ConnectionGuard, type HttpLimits } from '../http/limits.ts';
import type { Metrics } from '../metrics.ts';
import type { ComponentHealth } from '../routes/ops.ts';
import { RefusedRequests } from '../services/refused-requests.ts';
import type { RelayService } from '../services/relay-service.ts';
import type { VoiceService } from '../services/voice-service.ts';
import type { Broker } from './broker.ts';
import type { Compliance } from './compliance.ts';
import type { buildAlerts, Domain } from './domain.ts';
import type { Media } from './media.ts';
import type { Parts } from './parts.ts';
import type { Storage } from './storage.ts';

export async function startHttp(c: {
  config: Config;
  now: () => Date;
  log: Logger;
  storage: Storage;
  domain: Domain;
  compliance: Compliance;
  media: Media;
  broker: Broker;
  metrics: Metrics;
  parts: Parts;
  alerts: ReturnType<typeof buildAlerts>;
  voice: VoiceService;
  relays: RelayService;
}): Promise<{ app: App; url: string; connections: ConnectionGuard; refused: RefusedRequests; throttle: LoginThrottle }> {
  const { config, now, log, storage, domain, compliance, media, parts } = c;
  const { db } = storage;
  const limits: HttpLimits = {
    bodyTimeoutMs: config.bodyTimeoutMs,
    uploadIdleTimeoutMs: config.uploadIdleTimeoutMs,
    uploadTimeoutMs: config.uploadTimeoutMs,
    headersTimeoutMs: config.headersTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    anonymousConnectionsPerAddress: config.anonymousConnectionsPerAddress,
    uploadWaitMs: config.uploadWaitMs,
  };
  const connections = new ConnectionGuard(limits.anonymousConnectionsPerAddress);
  const refused = new RefusedRequests({ db, now, log });
  refused.start();
  const throttle = new LoginThrottle({ db, now });
  parts.add('refused-request counts', () => refused.stop());
  const app = await buildApp({
    ...domain,
    ...compliance,
    ...media,
    emergencies: c.alerts.emergencies,
    emergencyTemplates: c.alerts.templates,
    cap: c.alerts.cap,
    voice: c.voice,
    relays: c.relays,
    db,
    now,
    blobs: storage.blobs,
    key: storage.key,
    secrets: storage.secrets,
    metrics: c.metrics,
    maxUploadBytes: config.maxUploadBytes,
    loginsPerMinute: config.loginsPerMinute,
    healthPerMinute: config.healthPerMinute,
    ...(config.trustProxy ? { trustProxy: config.trustProxy } : {}),
    limits,
    connections,
    throttle,
    refused,
    brokerAccess: c.broker.access,
    brokerHookSecret: config.brokerHookSecret,
    logger: log.child({ part: 'http' }),
    health: {
      database: () => storage.ping(),
      proofs: async () => compliance.reports.storeHealth(),
      broker: c.broker.health,
      ffmpeg: async (): Promise<ComponentHealth> => media.ffmpeg,
    },
  });
  parts.add('http', () => app.close());
  parts.add('live streams', () => domain.live.close());
  parts.add('pending commands', () => domain.commands.close());
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  return { app, url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`, connections, refused, throttle };
}
