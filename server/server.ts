// The composition root: storage → link → domain → compliance → media → broker → HTTP → timers, each
// a module of compose/ that returns its parts and registers what stops them. Stopped in reverse.
import { join } from 'node:path';
import pino from 'pino';
import type { App } from './app.ts';
import { type Broker, startBroker, withoutLogin } from './compose/broker.ts';
import { buildCompliance } from './compose/compliance.ts';
import { buildAlerts, buildDomain, buildRelays, buildVoice, type Domain, type Endpoints } from './compose/domain.ts';
import { startHttp } from './compose/http.ts';
import { buildMedia } from './compose/media.ts';
import { startOpeners } from './compose/openers.ts';
import { Parts } from './compose/parts.ts';
import { openStorage, type Storage } from './compose/storage.ts';
import { startTimers } from './compose/timers.ts';
import type { Config } from './config.ts';
import { type Leadership, openLeadership } from './db/leadership.ts';
import type { ConnectionGuard } from './http/limits.ts';
import { type Runner, spawnRunner } from './media/process-runner.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import type { EmbeddedBroker } from './mqtt/broker.ts';
import { MqttLink } from './mqtt/link.ts';
import type { EmergencyService } from './services/emergency-service.ts';
import type { JobService } from './services/job-service.ts';
import type { RefusedRequests } from './services/refused-requests.ts';
import type { ReportService } from './services/report-service.ts';
import type { VoiceService } from './services/voice-service.ts';

export interface ServerDeps {
  now: () => Date;
  run: Runner;
}

export type RunningServer = Pick<Storage, 'db' | 'key' | 'seed' | 'appliedMigrations' | 'blobs'> &
  Pick<Domain, 'dispatch' | 'commands' | 'schedules' | 'units' | 'devices' | 'live' | 'notify'> & {
    app: App;
    metrics: Metrics;
    reports: ReportService;
    jobs: JobService;
    emergencies: EmergencyService;
    /** Live voice broadcasts ([P-5.6]). */
    voice: VoiceService;
    /** Refused anonymous requests, counted (flushed every few seconds; tests flush at once). */
    refused: RefusedRequests;
    /** The embedded broker (absent with an external one). */
    broker?: EmbeddedBroker;
    /** Per-address connection cap of the HTTP server. */
    connections: ConnectionGuard;
    /** Base HTTP URL actually listened on. */
    url: string;
    /** MQTT URL of the broker the server uses. */
    mqttUrl: string;
    /** The server's own login to the embedded broker (absent with an external broker): for tests, never served. */
    brokerLogin?: Broker['brokerLogin'];
    /** Takes reports, acks and states from the broker, or stops (as a follower does); the conformance kit withholds receipts so. */
    ingest(on: boolean): Promise<void>;
    /** Whether this process leads (several on one PostgreSQL: db/leadership.ts). */
    leadership: Leadership;
    stop(): Promise<void>;
  };

export async function startServer(config: Config, deps: Partial<ServerDeps> = {}): Promise<RunningServer> {
  const now = deps.now ?? (() => new Date());
  const run = deps.run ?? spawnRunner;
  const log = pino({ level: config.logLevel, redact: ['req.headers.authorization', '*.password', '*.token'] });
  const parts = new Parts(log);
  const stop = () => parts.stop();
  try {
    const storage = await openStorage(config, log, now, parts);
    const metrics = createMetrics();
    // Made first, connected by the broker module once every handler is registered.
    // One persistent MQTT session per process: a second process under the same id would take the first one's.
    const instance = config.instance ? `-${config.instance}` : '';
    const link = new MqttLink({ clientId: `loaphuong-server-${storage.key.publicKeyHex.slice(0, 8)}${instance}`, log });
    const leadership = await openLeadership(config.database, log);
    parts.add('leadership', () => leadership.stop());
    await link.setIngest(leadership.leader);
    leadership.onChange(
      (leads) => void link.setIngest(leads).catch((err: Error) => log.warn({ err: err.message }, 'ingest switch failed')),
    );
    const endpoints: Endpoints = { mqtt: config.mqttPublicUrl ?? withoutLogin(config.mqttUrl) };
    const openers = startOpeners(parts);
    const domain = buildDomain({ config, now, log, storage, link, metrics, endpoints, openers });
    const compliance = buildCompliance({ now, log, storage, domain, link, metrics, parts, openers });
    const media = await buildMedia({ config, now, log, run, storage, metrics, parts });
    const broker = await startBroker({ config, now, log, domain, link, metrics, endpoints, storage, parts });
    // Before the link closes: what was received is stored and its receipts go out.
    parts.add('proof queue', () => compliance.reports.drain());
    const alerts = buildAlerts({
      config,
      domain,
      tts: media.tts,
      blobFile: (sha) => join(storage.blobs.dir, storage.blobs.fileName(sha)),
      now,
      log,
    });
    const voice = buildVoice({ config, domain, storage, link, now, log });
    const relays = buildRelays({ config, domain, run });
    const http = await startHttp({ config, now, log, storage, domain, compliance, media, broker, metrics, parts, alerts, voice, relays });
    // Before the link closes: broadcasts on the air end with their last frame and live.stop.
    parts.add('live broadcasts', () => voice.close());
    await broker.open(http.app.server);
    const { refused, throttle } = http;
    startTimers({ config, log, domain, compliance, refused, throttleSweep: () => throttle.sweep(), parts, leads: () => leadership.leader });
    // Recurring schedules follow the moving horizon: extended now (and hourly); plans not yet sent go out.
    // The leader's work: a process that joins a running deployment finds both done (the broker keeps the
    // retained plans; only the embedded broker, always a single leading process, forgets them).
    const leads = leadership.leader;
    const extended = leads ? await domain.schedules.extend() : 'follower';
    const republished = leads ? await domain.dispatch.dispatchPending() : 'follower';
    log.info({ url: http.url, mqttUrl: broker.url(), republished, extended }, 'loaphuong server started');
    return {
      ...storage,
      ...domain,
      emergencies: alerts.emergencies,
      voice,
      app: http.app,
      metrics,
      reports: compliance.reports,
      jobs: media.jobs,
      refused,
      ...(broker.broker ? { broker: broker.broker } : {}),
      connections: http.connections,
      url: http.url,
      mqttUrl: broker.url(),
      brokerLogin: broker.brokerLogin,
      leadership,
      ingest: (on) => link.setIngest(on && leadership.leader),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
