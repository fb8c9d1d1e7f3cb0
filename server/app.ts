// The Fastify app as a function of its dependencies, so tests build exactly what `npm start` runs.

import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyMultipart from '@fastify/multipart';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { SecretBox } from './auth/secret-box.ts';
import type { LoginThrottle } from './auth/throttle.ts';
import type { Db } from './db/client.ts';
import { requireUser } from './http/auth.ts';
import { statusOf } from './http/errors.ts';
import { jsonBody } from './http/json-body.ts';
import { bodyArrived, bodyDeadline, type ConnectionGuard, closeUnfinished, type HttpLimits, limitedServer } from './http/limits.ts';
import { localized } from './http/messages-vi.ts';
import { auditUnits, Scopes } from './http/scope.ts';
import type { ServerKey } from './keys.ts';
import type { BlobStore } from './media/blob-store.ts';
import type { Metrics } from './metrics.ts';
import type { BrokerAccess } from './mqtt/access.ts';
import { asRunRoutes } from './routes/as-run.ts';
import { auditRoutes } from './routes/audit.ts';
import { authRoutes } from './routes/auth.ts';
import { brokerHookRoutes } from './routes/broker-hooks.ts';
import { commandRoutes } from './routes/commands.ts';
import { consoleRoutes } from './routes/console.ts';
import { deviceRoutes } from './routes/devices.ts';
import { emergencyRoutes } from './routes/emergencies.ts';
import { gatewayRoutes } from './routes/gateway.ts';
import { healthRoutes } from './routes/health.ts';
import { keyRoutes } from './routes/keys.ts';
import { libraryRoutes } from './routes/library.ts';
import { liveRoutes } from './routes/live.ts';
import { mediaRoutes } from './routes/media.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { type HealthCheck, opsRoutes } from './routes/ops.ts';
import { playlistRoutes } from './routes/playlists.ts';
import { reformRoutes } from './routes/reforms.ts';
import { relayRoutes } from './routes/relays.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { stationRoutes } from './routes/stations.ts';
import { unitRoutes } from './routes/units.ts';
import { userRoutes } from './routes/users.ts';
import { VOICE_MAX_MESSAGE_BYTES, voiceRoutes, voiceUpgrades } from './routes/voice.ts';
import type { AsRunService } from './services/as-run-service.ts';
import type { AuditService } from './services/audit-service.ts';
import type { CommandService } from './services/command-service.ts';
import type { DeviceService } from './services/device-service.ts';
import type { DispatchService } from './services/dispatch-service.ts';
import type { CapIntake } from './services/emergency-cap.ts';
import type { EmergencyService } from './services/emergency-service.ts';
import type { EmergencyTemplates } from './services/emergency-templates.ts';
import { DomainError } from './services/errors.ts';
import type { HealthService } from './services/health-service.ts';
import type { JobService } from './services/job-service.ts';
import type { LibraryService } from './services/library-service.ts';
import type { LiveService } from './services/live-service.ts';
import type { MediaService } from './services/media-service.ts';
import type { MergerService } from './services/merger-service.ts';
import type { NotifyService } from './services/notify-service.ts';
import type { PlaylistService } from './services/playlist-service.ts';
import type { RefusedRequests } from './services/refused-requests.ts';
import type { RelayService } from './services/relay-service.ts';
import type { ReportService } from './services/report-service.ts';
import type { ScheduleLifecycle } from './services/schedule-lifecycle.ts';
import type { ScheduleService } from './services/schedule-service.ts';
import type { StationService } from './services/station-service.ts';
import type { TtsService } from './services/tts-service.ts';
import type { UnitService } from './services/unit-service.ts';
import type { UserService } from './services/user-service.ts';
import type { VoiceService } from './services/voice-service.ts';

export interface AppDeps {
  db: Db;
  now: () => Date;
  /** Stations' live states pushed to browsers. */
  live: LiveService;
  stations: StationService;
  tts: TtsService;
  emergencies: EmergencyService;
  emergencyTemplates: EmergencyTemplates;
  cap: CapIntake;
  /** Live voice broadcasts from the console. */
  voice: VoiceService;
  /** Relays of upstream streams: created and checked. */
  relays: RelayService;
  jobs: JobService;
  /** Level strips of stored items. */
  media: MediaService;
  /** Alerts pushed out by e-mail and webhook. */
  notify: NotifyService;
  library: LibraryService;
  playlists: PlaylistService;
  schedules: ScheduleService;
  /** Pause, resume, cancel; list. */
  lifecycle: ScheduleLifecycle;
  commands: CommandService;
  devices: DeviceService;
  units: UnitService;
  /** Accounts, two-factor sign-in and API tokens. */
  users: UserService;
  /** Reforms of the map imported from conversion tables. */
  mergers: MergerService;
  dispatch: DispatchService;
  reports: ReportService;
  /** As-run lists and compliance reports. */
  asRun: AsRunService;
  /** Alerts and station uptime. */
  stationHealth: HealthService;
  /** The audit log: every change and every read of evidence is appended. */
  audit: AuditService;
  blobs: BlobStore;
  key: ServerKey;
  metrics: Metrics;
  health: HealthCheck;
  maxUploadBytes: number;
  /** Logins one client address may attempt per minute. */
  loginsPerMinute: number;
  /** /health and /metrics calls one address may make per minute. */
  healthPerMinute: number;
  /** Timeouts and the per-address connection cap (http/limits.ts). */
  limits: HttpLimits;
  connections: ConnectionGuard;
  /** Failed logins slow and block their source (auth/throttle.ts). */
  throttle: LoginThrottle;
  /** Seals TOTP secrets at rest. */
  secrets: SecretBox;
  /** Where refused anonymous requests are counted (instead of the audit log). */
  refused: RefusedRequests;
  /** Who may use the broker (for the external-broker hooks). */
  brokerAccess: BrokerAccess;
  /** Mounts the EMQX/RabbitMQ auth hooks under /broker/ when set. */
  brokerHookSecret?: string;
  /** Reverse proxies whose X-Forwarded-For names the client (comma-separated addresses or CIDR ranges). */
  trustProxy?: string;
  /** A pino logger; tests pass none for a silent app. */
  logger?: FastifyBaseLogger;
}

export type App = FastifyInstance;

/** Fastify's own request errors, under the API's codes. */
const FRAMEWORK_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EMPTY_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_CONTENT_LENGTH',
};

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A read of compliance evidence: recorded in the audit log like a change. */
    audit?: boolean;
  }
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // JSON bodies are small; uploads go through multipart with their own limit.
    bodyLimit: 1024 * 1024,
    genReqId: () => crypto.randomUUID(),
    // Node's HTTP server with header, whole-request and keep-alive timeouts, and a cap on the connections
    // one address holds before authenticating (http/limits.ts).
    serverFactory: limitedServer(deps.limits, deps.connections),
    ...(deps.trustProxy ? { trustProxy: deps.trustProxy } : {}),
    // Errors raised by the router before any route runs (a malformed URL, a path parameter over 100
    // characters) answer in the API's error shape too.
    frameworkErrors: (err, _request, reply: FastifyReply) => {
      const code = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'PARAM_TOO_LONG' : 'BAD_URL';
      return reply.status(400).send({ error: { code, message: err.message } });
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON bodies: nesting limited before parsing, prototype poisoning refused (http/json-body.ts).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, jsonBody);
  // Imports (units, mergers, station metadata) take CSV as text; each route parses it.
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  // A body must arrive within its deadline; uploads have their own guard (routes/media.ts).
  app.addHook('onRequest', bodyDeadline(deps.limits));
  app.addHook('preValidation', bodyArrived);
  app.addHook('onSend', closeUnfinished);

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof DomainError) {
      const status = statusOf(err);
      if (status >= 500) {
        request.log.error({ err }, err.message);
        // The cause is in the log under the request id; the answer names the id, never the internals.
        return reply
          .status(status)
          .send({ error: { code: err.code, message: localized(request, err.code, err.message), requestId: request.id } });
      }
      return reply
        .status(status)
        .send({ error: { code: err.code, message: localized(request, err.code, err.message), details: err.details } });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      return reply.status(400).send({
        error: {
          code: 'VALIDATION_FAILED',
          message: localized(request, 'VALIDATION_FAILED', err.message),
          details: err.validation.map((v) => ({ path: v.instancePath, message: v.message })),
        },
      });
    }
    if (err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({ error: { code: 'TOO_LARGE', message: localized(request, 'TOO_LARGE', err.message) } });
    }
    if (err.statusCode && err.statusCode < 500) {
      const code = FRAMEWORK_CODES[err.code] ?? err.code ?? 'BAD_REQUEST';
      return reply.status(err.statusCode).send({ error: { code, message: err.message } });
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send({ error: { code: 'INTERNAL', message: 'internal server error', requestId: request.id } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'NOT_FOUND', message: localized(request, 'NOT_FOUND', `no route ${request.method} ${request.url}`) } }),
  );

  // Security headers on every answer (a content security policy, nosniff, frame denial, no referrer
  // leaks, same-origin resources). No CORS plugin is registered: cross-origin browsers get no
  // Access-Control-* headers, so the API is closed to other sites by default.
  await app.register(fastifyHelmet, {
    // Scripts only from this origin, never inline, so an injected bulletin title cannot run code; inline
    // styles are allowed (the API docs page sets them from its own scripts); WebSocket for MQTT over WS.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'", 'ws:', 'wss:'],
        // The console plays what it recorded or previewed from in-memory blobs before anything is saved.
        mediaSrc: ["'self'", 'blob:'],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        frameAncestors: ["'self'"],
        formAction: ["'self'"],
      },
    },
    hsts: false,
  });
  // The browser console's session cookie (http/auth.ts); API clients use bearer tokens.
  await app.register(fastifyCookie);
  await app.register(fastifyWebsocket, { options: { maxPayload: VOICE_MAX_MESSAGE_BYTES, server: voiceUpgrades(app.server) } });
  // Rate limits only where a route asks for one (the login); the answer is the API's error shape.
  await app.register(fastifyRateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) =>
      new DomainError('rate-limited', 'RATE_LIMITED', `too many requests; try again in ${context.after}`),
  });
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'loaphuong API', version: '1', description: 'Grassroots loudspeaker broadcasting control' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  await app.register(fastifyMultipart, { limits: { fileSize: deps.maxUploadBytes, files: 1, fields: 10 } });
  await app.register(fastifyStatic, { root: deps.blobs.dir, serve: false });

  // A request that authenticated frees its connection from the per-address cap of anonymous ones.
  const auth = requireUser(deps.db, deps.now, (request) => deps.connections.trust(request.raw.socket));
  // Every state-changing API request, and every read of compliance evidence (routes with config.audit:
  // reports, as-run, proof verification, the audit log itself), is appended to the audit log before its
  // answer goes out, so no change is acknowledged without its record. A failure to record fails the request.
  // Refused requests by nobody signed in are counted instead (services/refused-requests.ts): strangers
  // cannot grow the log.
  const { audit } = deps;
  app.addHook('onSend', async (request, reply, payload) => {
    const evidence = request.routeOptions.config.audit === true;
    if ((!MUTATING.has(request.method) && !evidence) || !request.url.startsWith('/api/v1/')) return payload;
    // Unmatched URLs share one label: a stranger's paths are not stored.
    const route = request.routeOptions.url ?? '(no route)';
    if (!request.user && reply.statusCode >= 400) {
      deps.refused.count(request.ip, `${request.method} ${route}`, reply.statusCode);
      return payload;
    }
    let response: unknown = null;
    // A read of evidence records what was asked (the query), not the report it answered with, unless refused.
    if (
      (!evidence || reply.statusCode >= 400) &&
      typeof payload === 'string' &&
      String(reply.getHeader('content-type') ?? '').includes('json')
    ) {
      try {
        response = JSON.parse(payload);
      } catch {
        response = null;
      }
    }
    await audit.append({
      at: deps.now(),
      user: request.user ? { id: request.user.id, username: request.user.username, role: request.user.role } : null,
      ip: request.ip,
      method: request.method,
      route,
      params: request.params,
      request: evidence ? request.query : request.isMultipart() ? { multipart: true } : request.body,
      status: reply.statusCode,
      response,
      before: request.auditChange?.before,
      after: request.auditChange?.after,
      requestId: request.id,
      units: auditUnits(request.user),
    });
    return payload;
  });

  // Who may act where (http/scope.ts): every scoped route checks the user's unit subtree.
  const scopes = new Scopes({ db: deps.db, units: deps.units });
  await app.register(opsRoutes, { health: deps.health, metrics: deps.metrics, perMinute: deps.healthPerMinute });
  if (deps.brokerHookSecret) await app.register(brokerHookRoutes, { access: deps.brokerAccess, secret: deps.brokerHookSecret });
  await app.register(consoleRoutes);
  await app.register(gatewayRoutes, { devices: deps.devices, key: deps.key, blobs: deps.blobs, now: deps.now });
  await app.register(authRoutes, {
    login: { db: deps.db, now: deps.now, throttle: deps.throttle, secrets: deps.secrets },
    users: deps.users,
    auth,
    loginsPerMinute: deps.loginsPerMinute,
    prefix: '/api/v1',
  });
  await app.register(stationRoutes, {
    stations: deps.stations,
    dispatch: deps.dispatch,
    units: deps.units,
    scopes,
    auth,
    prefix: '/api/v1',
  });
  await app.register(unitRoutes, { units: deps.units, scopes, auth, prefix: '/api/v1' });
  await app.register(reformRoutes, { units: deps.units, mergers: deps.mergers, scopes, auth, prefix: '/api/v1' });
  await app.register(deviceRoutes, {
    devices: deps.devices,
    stations: deps.stations,
    units: deps.units,
    scopes,
    auth,
    prefix: '/api/v1',
  });
  await app.register(mediaRoutes, {
    jobs: deps.jobs,
    library: deps.library,
    tts: deps.tts,
    metrics: deps.metrics,
    auth,
    limits: deps.limits,
    prefix: '/api/v1',
  });
  await app.register(libraryRoutes, { library: deps.library, units: deps.units, media: deps.media, scopes, auth, prefix: '/api/v1' });
  await app.register(playlistRoutes, { playlists: deps.playlists, scopes, auth, prefix: '/api/v1' });
  await app.register(userRoutes, { users: deps.users, units: deps.units, scopes, auth, prefix: '/api/v1' });
  await app.register(notificationRoutes, { notify: deps.notify, units: deps.units, scopes, auth, prefix: '/api/v1' });
  await app.register(commandRoutes, { commands: deps.commands, scopes, auth, prefix: '/api/v1' });
  await app.register(emergencyRoutes, {
    emergencies: deps.emergencies,
    templates: deps.emergencyTemplates,
    cap: deps.cap,
    auth,
    prefix: '/api/v1',
  });
  await app.register(scheduleRoutes, {
    library: deps.library,
    playlists: deps.playlists,
    schedules: deps.schedules,
    lifecycle: deps.lifecycle,
    scopes,
    auth,
    prefix: '/api/v1',
  });
  await app.register(asRunRoutes, { asRun: deps.asRun, reports: deps.reports, scopes, auth, now: deps.now, prefix: '/api/v1' });
  await app.register(voiceRoutes, { voice: deps.voice, auth, prefix: '/api/v1' });
  await app.register(relayRoutes, { relays: deps.relays, library: deps.library, auth, prefix: '/api/v1' });
  await app.register(liveRoutes, { live: deps.live, scopes, auth, prefix: '/api/v1' });
  await app.register(auditRoutes, { audit, refused: deps.refused, scopes, auth, prefix: '/api/v1' });
  await app.register(keyRoutes, { key: deps.key, dispatch: deps.dispatch, auth, prefix: '/api/v1' });
  await app.register(healthRoutes, { health: deps.stationHealth, scopes, auth, prefix: '/api/v1' });
  return app;
}
