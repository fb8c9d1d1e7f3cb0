// Composition root: builds every part from the configuration, starts them in order, and stops
// them in reverse, each in its own try/catch so one failure does not keep the rest running.

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import pino from 'pino';
import { Piscina } from 'piscina';
import { receiptTopic, seal } from '#protocol';
import { type App, buildApp } from './app.ts';
import { loadOrCreateSecretBox } from './auth/secret-box.ts';
import { LoginThrottle } from './auth/throttle.ts';
import { sealStoredTotpSecrets } from './auth/totp.ts';
import type { OpenResult, OpenTask } from './compliance/open-worker.ts';
import type { Config } from './config.ts';
import { type Db, openDatabase } from './db/client.ts';
import { applyMigrations } from './db/migrate.ts';
import { ProofLedger } from './db/proof-ledger.ts';
import { type SeedResult, seedIfEmpty } from './db/seed.ts';
import { ConnectionGuard, type HttpLimits } from './http/limits.ts';
import { loadOrCreateServerKey, type ServerKey } from './keys.ts';
import { createBlobStore } from './media/blob-store.ts';
import { type Runner, spawnRunner } from './media/process-runner.ts';
import { espeakEngine, httpEngine } from './media/tts.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { BrokerAccess } from './mqtt/access.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from './mqtt/broker.ts';
import { type MqttLink, startMqttLink } from './mqtt/link.ts';
import { CommandService } from './services/command-service.ts';
import { DeviceService } from './services/device-service.ts';
import { DispatchService } from './services/dispatch-service.ts';
import { JobService } from './services/job-service.ts';
import { LibraryService } from './services/library-service.ts';
import { LiveService } from './services/live-service.ts';
import { MediaService } from './services/media-service.ts';
import { MergerService } from './services/merger-service.ts';
import { NotifyService } from './services/notify-service.ts';
import { PlaylistService } from './services/playlist-service.ts';
import { RefusedRequests } from './services/refused-requests.ts';
import { ReportService } from './services/report-service.ts';
import { ScheduleLifecycle } from './services/schedule-lifecycle.ts';
import { ScheduleService } from './services/schedule-service.ts';
import { StationService } from './services/station-service.ts';
import { TtsService } from './services/tts-service.ts';
import { UnitService } from './services/unit-service.ts';

/** [P-4.6] A storage receipt's lifetime. */
const RECEIPT_TTL_MS = 3600_000;

/** The server's own MQTT user on the embedded broker; no device code can take it (codes have no dot). */
const SERVER_MQTT_USER = 'loaphuong.server';

export interface ServerDeps {
  now: () => Date;
  run: Runner;
}

export interface RunningServer {
  app: App;
  db: Db;
  key: ServerKey;
  metrics: Metrics;
  reports: ReportService;
  dispatch: DispatchService;
  commands: CommandService;
  schedules: ScheduleService;
  units: UnitService;
  devices: DeviceService;
  jobs: JobService;
  /** Refused anonymous requests, counted (flushed every few seconds; tests flush at once). */
  refused: RefusedRequests;
  /** Stations' live states pushed to browsers (tests wait on `idle()`). */
  live: LiveService;
  /** Alerts pushed out (ticks every LP_NOTIFY_TICK_MS; tests tick at once). */
  notify: NotifyService;
  /** The embedded broker (absent with an external one). */
  broker?: EmbeddedBroker;
  /** Per-address connection cap of the HTTP server. */
  connections: ConnectionGuard;
  /** Base HTTP URL actually listened on. */
  url: string;
  /** MQTT URL of the broker the server uses. */
  mqttUrl: string;
  /** The server's own login to the embedded broker (absent with an external broker): for tests, never served. */
  brokerLogin?: { username: string; password: string };
  seed: SeedResult;
  appliedMigrations: string[];
  stop(): Promise<void>;
}

export async function startServer(config: Config, deps: Partial<ServerDeps> = {}): Promise<RunningServer> {
  const now = deps.now ?? (() => new Date());
  const run = deps.run ?? spawnRunner;
  const log = pino({ level: config.logLevel, redact: ['req.headers.authorization', '*.password', '*.token'] });
  const stops: { name: string; stop: () => Promise<void> }[] = [];
  const stop = async () => {
    for (const part of stops.reverse()) {
      try {
        await part.stop();
      } catch (err) {
        log.error({ err, part: part.name }, 'error while stopping');
      }
    }
  };

  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    // Password hashes, TOTP secrets and the signing keys live here: only the server's user may read them.
    const dirMode = (await stat(config.dataDir)).mode & 0o777;
    if (dirMode & 0o077)
      log.warn({ dataDir: config.dataDir, mode: dirMode.toString(8) }, 'the data directory is readable by other users: chmod 700 it');
    const appliedMigrations = await applyMigrations(config.databaseFile);
    // SQLite gives its -wal and -shm files the database file's mode, so this one chmod covers them too.
    for (const file of [config.databaseFile, `${config.databaseFile}-wal`, `${config.databaseFile}-shm`])
      await chmod(file, 0o600).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    if (appliedMigrations.length) log.info({ migrations: appliedMigrations }, 'database migrated');
    const db = await openDatabase(config.databaseFile);
    stops.push({ name: 'database', stop: () => db.$disconnect() });
    const seed =
      config.seed !== 'none'
        ? await seedIfEmpty(db, { adminPassword: config.adminPassword, policy: config.seedPolicy, map: config.seed })
        : { seeded: false, units: 0, stations: 0 };

    const key = loadOrCreateServerKey(config.dataDir, () => now().getTime());
    // TOTP secrets are sealed with a key file beside the signing keys; any stored in clear are sealed now.
    const secrets = loadOrCreateSecretBox(config.dataDir);
    const sealed = await sealStoredTotpSecrets(db, secrets);
    if (sealed) log.info({ users: sealed }, 'sealed TOTP secrets stored in clear');
    if (seed.admin) {
      // The first administrator's password goes to a file only the server's user reads, never to the log.
      seed.admin.passwordFile = join(config.dataDir, 'first-admin-password.txt');
      await writeFile(seed.admin.passwordFile, `${seed.admin.username}\n${seed.admin.password}\n`, { mode: 0o600 });
      await chmod(seed.admin.passwordFile, 0o600);
    }
    const metrics = createMetrics();
    const blobs = await createBlobStore(join(config.dataDir, 'blobs'));

    let broker: EmbeddedBroker | undefined;
    let link: MqttLink | undefined;
    // ffmpeg is probed once at start (and its answer reused): /health must stay cheap, and anyone may call it.
    const probeFfmpeg = async () => {
      try {
        const r = await run({ cmd: config.ffmpegPath, args: ['-hide_banner', '-version'] }, { timeoutMs: 5000 });
        return r.code === 0 ? { ok: true, detail: r.stdout.split('\n')[0] } : { ok: false, detail: `exit ${r.code}` };
      } catch (err) {
        return { ok: false, detail: (err as Error).message };
      }
    };
    const ffmpegHealth = await probeFfmpeg();
    if (!ffmpegHealth.ok)
      log.warn({ ffmpeg: config.ffmpegPath, detail: ffmpegHealth.detail }, 'ffmpeg does not run: uploads and TTS will fail');
    const ffmpegCheck = async () => ffmpegHealth;

    // Late-bound: the app needs the link's state, the link's handlers need the services.
    const lazyLink: MqttLink = {
      publish: (topic, payload, opts) => {
        if (!link) throw new Error('mqtt link not started');
        return link.publish(topic, payload, opts);
      },
      on: (kind, handler) => link?.on(kind, handler),
      connected: () => link?.connected() ?? false,
      stop: async () => link?.stop(),
    };
    // An external Mosquitto's password and ACL files follow enrollments, revocations and merges (written
    // one at a time; a change during a write schedules one more).
    let mosquitto: Promise<unknown> = Promise.resolve();
    let mosquittoAgain = false;
    const rewriteMosquitto = (): Promise<unknown> => {
      const dir = config.mosquittoDir;
      if (!dir || mosquittoAgain) return mosquitto;
      mosquittoAgain = true;
      mosquitto = mosquitto.then(async () => {
        mosquittoAgain = false;
        // brokerAccess is declared below; this only runs once the server is composed.
        const written = await brokerAccess
          .writeMosquittoFiles(dir)
          .catch((err: Error) => log.error({ err: err.message }, 'mosquitto files not written'));
        if (written?.missing.length)
          log.warn({ devices: written.missing }, 'enrolled before Mosquitto hashes were kept: issue new enrollment tokens');
      });
      return mosquitto;
    };
    const units: UnitService = new UnitService({
      db,
      now,
      onStationsChanged: (ids): Promise<number> => dispatch.dispatch(ids),
      // Moved gateways' unit chains changed: the external broker's ACL is rewritten, and their sessions on the
      // embedded broker are closed so they log in again (at once) with the new group rights.
      onStationsMoved: async (ids) => {
        brokerAccess.forget();
        await rewriteMosquitto();
        const moved = await db.device.findMany({ where: { stationId: { in: ids } }, select: { code: true } });
        for (const d of moved) broker?.disconnect(d.code);
      },
    });
    let mqttUrl = config.mqttUrl;
    const devices = new DeviceService({
      db,
      now,
      key,
      onStationChanged: (id): Promise<number> => dispatch.dispatch([id]),
      onRevoked: (code) => {
        brokerAccess.forget(code);
        broker?.disconnect(code);
      },
      onCredentialsChanged: () => {
        // A new enrollment issued a password: what the embedded broker knew of that login is stale.
        brokerAccess.forget();
        return rewriteMosquitto();
      },
      mqttUrl: () => config.mqttPublicUrl ?? mqttUrl ?? '',
    });
    const dispatch = new DispatchService({
      db,
      link: lazyLink,
      key,
      devices,
      units,
      metrics,
      now,
      horizonDays: config.manifestHorizonDays,
      log,
    });
    const playlists = new PlaylistService({ db });
    const schedules = new ScheduleService({ db, dispatch, playlists, units, now, horizonDays: config.manifestHorizonDays });
    const lifecycle = new ScheduleLifecycle({ db, dispatch, now });
    const ledger = new ProofLedger(config.databaseFile);
    // Stations' live states, pushed to the console's map and lists as the ingest and the sweep change them.
    const live = new LiveService({ db, now, log });
    // Signature checks of proofs and heartbeats on every core (Ed25519 verify is the ingest's largest cost).
    const openers = Math.max(1, availableParallelism());
    const pool = new Piscina<OpenTask, OpenResult[]>({
      filename: new URL('./compliance/open-worker.ts', import.meta.url).href,
      minThreads: openers,
      maxThreads: openers,
    });
    stops.push({ name: 'signature workers', stop: () => pool.destroy() });
    const reports = new ReportService({
      db,
      ledger,
      devices,
      now,
      metrics,
      log,
      open: (task) => pool.run(task),
      openers,
      onStationsChanged: (ids) => live.changed(ids),
      // [P-3.8] Only after the commit: the gateway deletes what a receipt lists.
      receipt: (device, body) =>
        lazyLink.publish(receiptTopic(device), JSON.stringify(seal('receipt', body, key.signer, { now: now(), ttlMs: RECEIPT_TTL_MS })), {
          retain: false,
        }),
    });
    stops.push({
      name: 'proof ledger',
      stop: async () => {
        await reports.drain();
        ledger.close();
      },
    });
    const commands = new CommandService({ db, devices, link: lazyLink, key, now, timeoutMs: config.commandTimeoutMs, log });
    const media = new MediaService({
      db,
      run,
      blobs,
      tmpDir: join(config.dataDir, 'tmp'),
      ffmpegPath: config.ffmpegPath,
      ffprobePath: config.ffprobePath,
      soxPath: config.soxPath,
      opusBitrateKbps: config.opusBitrateKbps,
      opusComplexity: config.opusComplexity,
      maxDurationS: config.maxDurationS,
      loudness: { integratedLufs: config.loudnessLufs, truePeakDbtp: config.truePeakDbtp },
      mp3RenditionKbps: config.mp3RenditionKbps,
    });

    const jobs = new JobService({
      db,
      media,
      now,
      concurrency: config.jobConcurrency,
      uploadsDir: join(config.dataDir, 'uploads'),
      tmpDir: join(config.dataDir, 'tmp'),
      observeSeconds: (s) => metrics.transcodeSeconds.observe(s),
      log,
    });
    const recovered = await jobs.recover();
    if (recovered.requeued || recovered.failed) log.info(recovered, 'media jobs recovered after restart');
    stops.push({ name: 'media jobs', stop: () => jobs.stop() });

    if (config.ttsEngine === 'http' && !config.ttsHttpUrl) throw new Error('LP_TTS_HTTP_URL is required when LP_TTS_ENGINE=http');
    const tts = new TtsService({
      engine:
        config.ttsEngine === 'http' && config.ttsHttpUrl
          ? httpEngine({ url: config.ttsHttpUrl, token: config.ttsHttpToken, fetch, timeoutMs: 120_000 })
          : espeakEngine({ run, espeakPath: config.espeakPath, tmpFile: () => join(config.dataDir, 'tmp', `${crypto.randomUUID()}.txt`) }),
      jobs,
      run,
      ffmpegPath: config.ffmpegPath,
      chimeFile: config.ttsChimeFile ?? fileURLToPath(new URL('../audio-samples/chuong-bao-hieu.ogg', import.meta.url)),
      tmpDir: join(config.dataDir, 'tmp'),
      previewBitrateKbps: config.opusBitrateKbps,
    });

    // Alerts out by e-mail (nodemailer's SMTP transport) and signed webhooks, as digests.
    const mailer = config.smtpUrl ? nodemailer.createTransport(config.smtpUrl) : undefined;
    const notify = new NotifyService({
      db,
      now,
      units,
      fetch,
      minIntervalMs: config.notifyIntervalS * 1000,
      log: log.child({ part: 'notify' }),
      sendMail: async (mail) => {
        if (!mailer) throw new Error('no SMTP server is configured (LP_SMTP_URL)');
        await mailer.sendMail({ from: config.smtpFrom, ...mail });
      },
    });
    const notifier = setInterval(() => {
      notify.tick().catch((err: Error) => log.error({ err }, 'pushing alerts out failed'));
    }, config.notifyTickMs);
    notifier.unref();
    stops.push({ name: 'alert notifications', stop: async () => clearInterval(notifier) });

    // The server's own login: to the embedded broker a fresh secret each start, never stored; to an
    // external broker the credentials in LP_MQTT_URL.
    const serverMqttSecret = randomBytes(32).toString('base64url');
    const external = mqttUrl ? new URL(mqttUrl) : undefined;
    const brokerAccess = new BrokerAccess({
      db,
      devices,
      units,
      now,
      anonymous: config.mqttAnonymous,
      server: external
        ? external.username
          ? { username: decodeURIComponent(external.username), password: decodeURIComponent(external.password) }
          : undefined
        : { username: SERVER_MQTT_USER, password: serverMqttSecret },
    });
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
    const throttle = new LoginThrottle({ db, now });
    const refused = new RefusedRequests({ db, now, log });
    refused.start();
    stops.push({ name: 'refused-request counts', stop: () => refused.stop() });
    const app = await buildApp({
      db,
      now,
      live,
      stations: new StationService({ db }),
      jobs,
      tts,
      media,
      notify,
      playlists,
      // A withdrawn item's airings to come are cancelled, and its stations get plans without it.
      library: new LibraryService({ db, now, onWithdrawn: (mediaId) => lifecycle.cancelMedia(mediaId) }),
      schedules,
      lifecycle,
      commands,
      devices,
      units,
      mergers: new MergerService({ db, now, units }),
      dispatch,
      reports,
      blobs,
      key,
      metrics,
      maxUploadBytes: config.maxUploadBytes,
      loginsPerMinute: config.loginsPerMinute,
      healthPerMinute: config.healthPerMinute,
      ...(config.trustProxy ? { trustProxy: config.trustProxy } : {}),
      limits,
      connections,
      throttle,
      secrets,
      refused,
      brokerAccess,
      brokerHookSecret: config.brokerHookSecret,
      logger: log.child({ part: 'http' }),
      health: {
        database: async () => {
          try {
            await db.$queryRawUnsafe('SELECT 1');
            return { ok: true };
          } catch (err) {
            return { ok: false, detail: (err as Error).message };
          }
        },
        proofs: async () => reports.storeHealth(),
        broker: async () => ({ ok: lazyLink.connected(), detail: broker ? `embedded, ${broker.clients()} clients` : config.mqttUrl }),
        ffmpeg: ffmpegCheck,
      },
    });
    stops.push({ name: 'http', stop: () => app.close() });
    // Before the HTTP server closes (it waits for open connections): the browsers' event streams end.
    stops.push({ name: 'live streams', stop: async () => live.close() });
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;

    await rewriteMosquitto();
    let linkUrl = mqttUrl;
    if (!mqttUrl) {
      broker = await startEmbeddedBroker({
        host: config.mqttHost,
        port: config.mqttPort,
        httpServer: app.server,
        wsPath: config.mqttWsPath,
        // [P-2.6] Who may do what follows from who logged in: the server, a device, or (when allowed) a read-only observer.
        authenticate: (clientId, username, password) => brokerAccess.authenticate(clientId, username, password),
        maxPending: config.mqttPendingConnections,
        connectTimeoutMs: config.mqttConnectTimeoutMs,
        log,
      });
      const started = broker;
      stops.push({ name: 'broker', stop: () => started.stop() });
      linkUrl = `mqtt://127.0.0.1:${broker.internalPort}`;
      metrics.countMqttClientsWith(() => started.clients());
    }
    link = await startMqttLink({
      url: linkUrl as string,
      clientId: `loaphuong-server-${key.publicKeyHex.slice(0, 8)}`,
      ...(broker ? { username: SERVER_MQTT_USER, password: serverMqttSecret } : {}),
      log,
      room: () => reports.room(),
      handlers: {
        report: async (device, payload) => {
          await reports.handleReport(device, payload);
        },
        state: (device, payload) => reports.handleState(device, payload),
        telemetry: async (device, payload) => {
          await reports.handleTelemetry(device, payload);
        },
        reply: (device, payload) => commands.handleReply(device, payload),
        ack: (device, payload) => dispatch.handleAck(device, payload),
      },
    });
    stops.push({ name: 'mqtt link', stop: () => lazyLink.stop() });
    // Before the link closes: what was received is stored and its receipts go out.
    stops.push({ name: 'proof queue', stop: () => reports.drain() });
    stops.push({ name: 'pending commands', stop: async () => commands.close() });
    // Only now may gateways connect: every handler is subscribed and registered. On shutdown the public
    // listeners close first, so no new session starts while the rest stops.
    if (broker) {
      const started = broker;
      await started.open();
      stops.push({ name: 'mqtt listeners', stop: () => started.closeListeners() });
      mqttUrl = `mqtt://127.0.0.1:${started.port}`;
    }
    // Recurring schedules follow the moving horizon: extended now and every hour.
    const extended = await schedules.extend();
    const extender = setInterval(() => {
      schedules.extend().catch((err: Error) => log.error({ err }, 'extending recurring schedules failed'));
      dispatch.expireDeliveries().catch((err: Error) => log.error({ err }, 'expiring deliveries failed'));
    }, 3600_000);
    extender.unref();
    stops.push({ name: 'schedule extender', stop: async () => clearInterval(extender) });
    // Proof windows close and offline stations raise alerts within a minute, whoever is looking.
    const sweeper = setInterval(() => {
      reports.sweep().catch((err: Error) => log.error({ err }, 'as-run sweep failed'));
      throttle.sweep().catch((err: Error) => log.error({ err }, 'forgetting old login failures failed'));
      refused.sweep().catch((err: Error) => log.error({ err }, 'deleting old refused-request counts failed'));
      dispatch.republishUnacknowledged().catch((err: Error) => log.error({ err }, 'republishing unacknowledged plans failed'));
    }, 60_000);
    sweeper.unref();
    stops.push({ name: 'as-run sweep', stop: async () => clearInterval(sweeper) });
    const republished = await dispatch.dispatchPending();
    log.info({ url, mqttUrl, republished, extended }, 'loaphuong server started');

    // The server's own broker login, for tests that play a compromised broker path; never logged or served.
    const brokerLogin = broker ? { username: SERVER_MQTT_USER, password: serverMqttSecret } : undefined;
    return {
      app,
      db,
      key,
      metrics,
      reports,
      dispatch,
      commands,
      schedules,
      units,
      devices,
      jobs,
      refused,
      notify,
      live,
      ...(broker ? { broker } : {}),
      connections,
      url,
      mqttUrl: mqttUrl ?? linkUrl ?? '',
      seed,
      appliedMigrations,
      brokerLogin,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
