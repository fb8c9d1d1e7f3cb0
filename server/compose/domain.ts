// The domain: the administrative map, stations and their gateways, the library, playlists, schedules,
// compiled plans and their delivery, commands, the audit log and alerts out. Services are built here in
// the order they depend on each other; what one tells another it does through DomainEvents.

import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import type { Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import { openOpusCodec } from '#protocol';
import { type Config, processDir } from '../config.ts';
import type { Runner } from '../media/process-runner.ts';
import { ffmpegRecorder } from '../media/recorder.ts';
import type { Metrics } from '../metrics.ts';
import type { MqttLink } from '../mqtt/link.ts';
import { AuditService } from '../services/audit-service.ts';
import { CommandService } from '../services/command-service.ts';
import { DeviceService } from '../services/device-service.ts';
import { DispatchService } from '../services/dispatch-service.ts';
import { CapIntake } from '../services/emergency-cap.ts';
import { EmergencyService } from '../services/emergency-service.ts';
import { EmergencyTemplates } from '../services/emergency-templates.ts';
import { DomainEvents } from '../services/events.ts';
import { LibraryService } from '../services/library-service.ts';
import { LiveService } from '../services/live-service.ts';
import { MergerService } from '../services/merger-service.ts';
import { NotifyService } from '../services/notify-service.ts';
import { PlaylistService } from '../services/playlist-service.ts';
import { RelayService } from '../services/relay-service.ts';
import { ScheduleLifecycle } from '../services/schedule-lifecycle.ts';
import { ScheduleService } from '../services/schedule-service.ts';
import { StationService } from '../services/station-service.ts';
import type { TtsService } from '../services/tts-service.ts';
import { UnitService } from '../services/unit-service.ts';
import { UserService } from '../services/user-service.ts';
import { VoiceService } from '../services/voice-service.ts';
import type { Openers } from './openers.ts';
import type { Storage } from './storage.ts';

export type Domain = ReturnType<typeof buildDomain>;

/** Where gateways reach the broker: configured, or the embedded broker's once it listens. */
export interface Endpoints {
  mqtt: string;
}

export function buildDomain(c: {
  config: Config;
  now: () => Date;
  log: Logger;
  storage: Storage;
  link: MqttLink;
  metrics: Metrics;
  endpoints: Endpoints;
  openers: Openers;
}) {
  const { config, now, log, link, metrics } = c;
  const { db, key } = c.storage;
  const events = new DomainEvents();
  const units = new UnitService({ db, now, events });
  const devices = new DeviceService({ db, now, key, units, events, mqttUrl: () => c.endpoints.mqtt });
  const dispatch = new DispatchService({
    ...{ db, link, key, devices, units, metrics, now, log },
    horizonDays: config.manifestHorizonDays,
    open: c.openers.open,
    openers: c.openers.count,
  });
  events.on('stations-changed', (ids) => dispatch.dispatch(ids));
  link.on('ack', (device, payload) => dispatch.handleAck(device, payload));
  const playlists = new PlaylistService({ db });
  const schedules = new ScheduleService({ db, dispatch, playlists, units, now, horizonDays: config.manifestHorizonDays });
  const lifecycle = new ScheduleLifecycle({ db, dispatch, now });
  // A withdrawn item's airings to come are cancelled, and its stations get plans without it.
  const library = new LibraryService({ db, now, onWithdrawn: (mediaId) => lifecycle.cancelMedia(mediaId) });
  const commands = new CommandService({ db, devices, units, link, key, now, timeoutMs: config.commandTimeoutMs, log });
  link.on('reply', (device, payload) => commands.handleReply(device, payload));
  // Stations' live states, pushed to the console's map and lists as the ingest and the sweep change them.
  const live = new LiveService({ db, now, log });
  // Alerts out by e-mail (nodemailer's SMTP transport, loaded with the first e-mail: most servers send none)
  // and signed webhooks, as digests.
  let mailer: Promise<Transporter> | undefined;
  const notify = new NotifyService({
    db,
    now,
    units,
    fetch,
    minIntervalMs: config.notifyIntervalS * 1000,
    log: log.child({ part: 'notify' }),
    sendMail: async (mail) => {
      const url = config.smtpUrl;
      if (!url) throw new Error('no SMTP server is configured (LP_SMTP_URL)');
      mailer ??= import('nodemailer').then((m) => m.default.createTransport(url));
      await (await mailer).sendMail({ from: config.smtpFrom, ...mail });
    },
  });
  return {
    db,
    events,
    units,
    devices,
    dispatch,
    playlists,
    schedules,
    lifecycle,
    library,
    commands,
    live,
    notify,
    stations: new StationService({ db }),
    mergers: new MergerService({ db, now, units }),
    audit: new AuditService({ db }),
    users: new UserService({ db, now, secrets: c.storage.secrets }),
  };
}

/** Emergency alerts: the domain's commands and plans, and the speech engine of the media parts for typed alerts. */
export function buildAlerts(c: {
  config: Config;
  domain: Domain;
  tts: TtsService;
  blobFile: (sha256: string) => string;
  now: () => Date;
  log: Logger;
}) {
  const { config, domain, tts, blobFile, now, log } = c;
  const templates = new EmergencyTemplates({ db: domain.db, units: domain.units, dispatch: domain.dispatch, now });
  const emergencies = new EmergencyService({
    db: domain.db,
    units: domain.units,
    commands: domain.commands,
    dispatch: domain.dispatch,
    tts,
    blobFile,
    now,
    log: log.child({ part: 'alerts' }),
  });
  // Trusted CAP senders' keys, read once at start.
  const senders = config.capSendersFile ? (JSON.parse(readFileSync(config.capSendersFile, 'utf8')) as Record<string, string>) : {};
  const cap = new CapIntake({ emergencies, senders, sender: config.capSender, now });
  return { emergencies, templates, cap };
}

/** Relays: checked with the server's fetch, DNS and ffprobe; private addresses only as the administrator allows. */
export function buildRelays(c: { config: Config; domain: Domain; run: Runner }) {
  return new RelayService({
    db: c.domain.db,
    run: c.run,
    ffprobePath: c.config.ffprobePath,
    fetch,
    lookup: async (host) => (await lookup(host, { all: true })).map((a) => a.address),
    allow: c.config.relayAllow
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  });
}

/** Live voice: the speaker's frames signed with the server key onto the units' live topics, recorded by ffmpeg. */
export function buildVoice(c: { config: Config; domain: Domain; storage: Storage; link: MqttLink; now: () => Date; log: Logger }) {
  const { config, domain, storage } = c;
  return new VoiceService({
    db: domain.db,
    units: domain.units,
    commands: domain.commands,
    link: c.link,
    key: storage.key,
    blobs: storage.blobs,
    tmpDir: processDir(config, 'tmp'),
    opus: () => openOpusCodec(),
    recorder: ffmpegRecorder(config.ffmpegPath),
    now: c.now,
    log: c.log.child({ part: 'voice' }),
  });
}
