// The edge agent: keeps the station's signed plan, fetches its audio, plays each item on time
// through the player adapter, and reports proof of playback. Side effects arrive in `deps`.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { z } from 'zod';
import {
  ackTopic,
  type BodyType,
  commandTopic,
  type EnrollRequest,
  EnrollResponse,
  type Envelope,
  type Manifest,
  type ManifestAck,
  type ManifestEntry,
  manifestTopic,
  open,
  type PlaybackReport,
  parseTopic,
  publicKeyFromHex,
  publicKeyHex,
  quietRangeAt,
  type ReplayGuard,
  type Reply,
  type ReportReceipt,
  receiptTopic,
  replyTopic,
  reportTopic,
  resolveConflict,
  type Signer,
  type StationState,
  seal,
  stateTopic,
  type Telemetry,
  TimeResponse,
  telemetryTopic,
  volumeCeilingAt,
  wallClockSequence,
} from '#protocol';
import { Backoff } from './backoff.ts';
import type { AudioCache, Fetch } from './cache.ts';
import type { Clock } from './clock.ts';
import { type CommandTarget, errorReply, peekTxn, runCommand } from './commands.ts';
import type { Playback, Player } from './player.ts';
import type { AgentState, NowPlaying, Outbox, StateStore } from './store.ts';

export const AGENT_VERSION = '0.1.0';
/** An item found more than this late (agent was down), and past its start window, is not started; it is reported missed. */
export const START_GRACE_MS = 30_000;
const REPORT_TTL_MS = 30 * 86_400_000;
const REPLY_TTL_MS = 3600_000;
/** How many accepted server message ids are remembered against replay ([P-4.3]). */
const SEEN_IDS = 256;
const SELF_TEST_SECONDS = 2;
/** [P-4.5] an emergency without repeatUntil lasts at most an hour. */
const EMERGENCY_TTL_MS = 3600_000;
const TELEMETRY_TTL_MS = 120_000;
/** [P-5.9] clock offset: measured at least hourly, best (smallest round trip) of the last 8 samples. */
const CLOCK_EVERY_MS = 3600_000;
const CLOCK_SAMPLES = 8;

/** Tunables with the defaults a gateway ships with; the agent's config file may change them. */
export interface AgentOptions {
  /** Audio for items starting within this window is fetched ahead of time. */
  prefetchHorizonMs: number;
  /** The audio cache's share of the gateway's disk. */
  cacheBudgetBytes: number;
  /** [P-3.4] telemetry period. */
  heartbeatMs: number;
  /** Fade in and out, ms; 0 for none. */
  fadeMs: number;
  /** Uniform in [0, 1), for retry jitter. */
  random: () => number;
}
export const DEFAULT_AGENT_OPTIONS: AgentOptions = {
  prefetchHorizonMs: 3 * 86_400_000,
  cacheBudgetBytes: 1 << 30,
  heartbeatMs: 60_000,
  fadeMs: 300,
  random: Math.random,
};

export interface AgentLog {
  info(msg: string, obj?: object): void;
  warn(msg: string, obj?: object): void;
}

/** MQTT login issued at enrollment ([P-5.1]). */
export interface MqttCredentials {
  /** The broker the server named at enrollment; the agent's own setting wins over it. */
  url?: string;
  clientId: string;
  username: string;
  password: string;
}

export interface AgentDeps {
  /** One-time token from provisioning; needed only until the gateway has enrolled. */
  enrollToken?: string;
  serverUrl: string;
  clock: Clock;
  fetch: Fetch;
  store: StateStore;
  /** Durable reports awaiting the server's storage receipt ([P-3.8]). */
  outbox: Outbox;
  cache: AudioCache;
  player: Player;
  /** Called after replying to a reboot command; absent where the agent may not reboot its host. */
  reboot?: () => void;
  /** Creates the MQTT connection with the given last-will and login; the agent owns it afterwards. */
  connectMqtt(will: { topic: string; payload: string }, credentials: MqttCredentials): MqttClient;
  log: AgentLog;
  options?: Partial<AgentOptions>;
}

export type AgentEvent =
  | { type: 'enrolled'; device: string; station: string }
  | { type: 'manifest'; version: number; entries: number }
  | { type: 'rejected'; code: string }
  | { type: 'cached'; sha256: string }
  | { type: 'armed'; occurrenceId: string; at: number }
  | { type: 'started'; occurrenceId: string; at: number }
  /** The player's first audio sample of an item came out at `at` (from its first measured second). */
  | { type: 'on-air'; occurrenceId: string; at: number }
  | { type: 'finished'; occurrenceId: string; report: PlaybackReport }
  | { type: 'replied'; reply: Reply }
  /** The server's storage receipt named a report and it left the outbox ([P-3.8]); `refused` when it was refused for good. */
  | { type: 'delivered'; id: string; refused?: string }
  /** [P-3.4] what the gateway said about itself. */
  | { type: 'telemetry'; body: Telemetry }
  /** An audio download failed; the next attempt waits `retryInMs`. */
  | { type: 'fetch-failed'; sha256: string; retryInMs: number; error: string }
  | { type: 'subscribed' };

/** One item on the air (or about to be); `ended` settles when its report is written. */
interface Airing {
  entry?: ManifestEntry;
  startedAt: number;
  playback?: Playback;
  /** Level 0–100 per zone it plays on. */
  zones: Record<string, number>;
  /** Zones a zone-stop silenced for the rest of this item; volume commands leave them silent. */
  muted?: Set<string>;
  why?: 'PREEMPTED' | 'INTERRUPTED' | 'STOPPED' | 'CANCELLED';
  /** When the player's first sample came out, once its first second was measured. */
  onAirAt?: number;
  ended: Promise<void>;
}

export class Agent {
  private state!: AgentState;
  private signer!: Signer;
  private deviceKeyHex!: string;
  /** This gateway's topic id and its station, from enrollment. */
  private device!: string;
  private station!: string;
  /** Parsed server keys by kid (from state.serverKeys). */
  private serverKeys = new Map<string, { key: KeyObject; validUntil?: number }>();
  private mqtt?: MqttClient;
  private timers = new Map<string, () => void>();
  /**
   * What plays now, or is about to (claimed before the awaits that precede the player, so an item
   * due meanwhile sees it); `why` says who ended it early ([P-5.10]).
   */
  private current?: Airing;
  private queue: ManifestEntry[] = [];
  /** Emergencies started by command ([P-5.5]), by occurrence: the entry airing now or next, and whether it repeats. */
  private readonly emergencies = new Map<string, { entry: ManifestEntry; repeatUntil?: number }>();
  private listeners: ((e: AgentEvent) => void)[] = [];
  private stopped = false;
  private readonly options: AgentOptions;
  private bootAt = 0;
  /** [P-5.9] recent clock-offset samples, and when the last one was taken. */
  private clockSamples: { offsetMs: number; delayMs: number }[] = [];
  private clockMeasuredAt = Number.NEGATIVE_INFINITY;
  private heartbeatTimer?: () => void;
  /** Audio downloads that failed, each waiting out its own backoff ([P-5.3]). */
  private readonly fetchRetry = new Map<string, { backoff: Backoff; nextAt: number }>();
  private retryTimer?: () => void;
  private syncing?: Promise<void>;
  private syncAgain = false;
  /** Audio within the prefetch horizon not on disk yet, as of the last sync. */
  private missing = 0;
  private readonly announced = new Set<string>();

  constructor(private readonly deps: AgentDeps) {
    this.options = { ...DEFAULT_AGENT_OPTIONS, ...deps.options };
  }

  identity(): { device: string; station: string } {
    return { device: this.device, station: this.station };
  }

  onEvent(fn: (e: AgentEvent) => void): void {
    this.listeners.push(fn);
  }

  private emit(e: AgentEvent) {
    for (const fn of this.listeners) fn(e);
  }

  async start(): Promise<void> {
    const { deps } = this;
    this.state = deps.store.load();
    const privateKey = deps.store.deviceKey();
    this.deviceKeyHex = publicKeyHex(createPublicKey(privateKey));
    this.signer = { kid: `dev:${this.deviceKeyHex.slice(0, 16)}`, privateKey, nextSeq: wallClockSequence(() => deps.clock.now()) };
    if (!this.state.enrollment) await this.enroll();
    const enrollment = this.state.enrollment as NonNullable<AgentState['enrollment']>;
    this.device = enrollment.device;
    this.station = enrollment.station;
    if (!this.state.serverKeys.length && this.state.serverKeyHex && this.state.serverKid)
      this.state.serverKeys = [{ kid: this.state.serverKid, publicKeyHex: this.state.serverKeyHex }];
    this.trust(this.state.serverKeys);
    this.bootAt = deps.clock.now();
    // Power was cut (or the process killed) mid-play: say so, with what the journal proves aired.
    const interrupted = deps.store.loadNowPlaying();
    if (interrupted) this.reportInterrupted(interrupted);
    // Offline-first: whatever plan was stored before a restart is armed before the network is needed.
    if (this.state.manifest) this.arm(this.state.manifest);
    this.requestSync();

    const offline: StationState = { station: this.station, online: false };
    this.mqtt = deps.connectMqtt({ topic: stateTopic(this.device), payload: JSON.stringify(offline) }, enrollment.mqtt);
    this.mqtt.on('connect', () => {
      const online: StationState = {
        station: this.station,
        online: true,
        at: new Date(deps.clock.now()).toISOString(),
        agentVersion: AGENT_VERSION,
        protocolVersions: [1],
      };
      this.mqtt?.publish(stateTopic(this.device), JSON.stringify(online), { qos: 1, retain: true });
      // Reports written before a restart or during an outage go out now, oldest first.
      for (const { id, payload } of deps.outbox.pending()) this.sendFromOutbox(id, payload);
      this.resendBackoff?.reset();
      this.resendTimer?.();
      this.resendTimer = undefined;
      if (deps.outbox.pending().length) this.armResend();
      this.mqtt?.subscribe([manifestTopic(this.device), commandTopic(this.device), receiptTopic(this.device)], { qos: 1 }, (err) => {
        if (err) deps.log.warn('subscribe failed', { err: err.message });
        else this.emit({ type: 'subscribed' });
      });
      // Back online: retry downloads now rather than at their backoff, measure the clock, say how we are.
      for (const retry of this.fetchRetry.values()) retry.nextAt = deps.clock.now();
      this.requestSync();
      this.heartbeatTimer?.();
      this.heartbeat();
    });
    this.mqtt.on('message', (topic, payload) => {
      const channel = parseTopic(topic)?.channel;
      if (channel === 'receipt') return this.onReceipt(payload);
      const work = channel === 'manifest' ? this.onManifest(payload) : channel === 'cmd' ? this.onCommand(payload) : undefined;
      work?.catch((err: Error) => deps.log.warn(`${channel} handling failed`, { err: err.message }));
    });
    this.mqtt.on('error', (err) => deps.log.warn('mqtt error', { err: err.message, url: this.mqttUrl() }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    this.heartbeatTimer?.();
    this.retryTimer?.();
    this.resendTimer?.();
    const current = this.current;
    // Reported INTERRUPTED now, through the outbox, rather than found in the journal at the next start.
    if (current) await this.cut(current, 'INTERRUPTED', false);
    if (this.mqtt) {
      // A QoS 1 publish waits for a connection that may never come: only say goodbye when connected.
      const connected = this.mqtt.connected;
      if (connected) {
        const offline = JSON.stringify({ station: this.station, online: false });
        await this.mqtt.publishAsync(stateTopic(this.device), offline, { qos: 1, retain: true }).catch(() => {});
      }
      await this.mqtt.endAsync(!connected);
    }
  }

  /** The broker this agent connects to, for messages that must say where it tried. */
  private mqttUrl(): string {
    const opts = this.mqtt?.options as { protocol?: string; hostname?: string; host?: string; port?: number } | undefined;
    return opts ? `${opts.protocol ?? 'mqtt'}://${opts.hostname ?? opts.host}:${opts.port}` : 'unknown';
  }

  /** [P-5.1] Spends the one-time token: the server records this gateway's public key and answers with MQTT credentials and its keys. */
  private async enroll(): Promise<void> {
    const { deps } = this;
    if (!deps.enrollToken)
      throw new Error(
        'this gateway is not enrolled: start it once with its token from provisioning (--enroll-token-file FILE, "-" for standard input, or LP_AGENT_ENROLL_TOKEN)',
      );
    const request: z.input<typeof EnrollRequest> = {
      token: deps.enrollToken,
      publicKeyHex: this.deviceKeyHex,
      agentVersion: AGENT_VERSION,
      protocolVersions: [1],
    };
    const url = `${deps.serverUrl}/api/v1/gateway/enroll`;
    const res = await deps
      .fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) })
      .catch((err: Error) => {
        throw new Error(`cannot reach the server at ${url}: ${(err.cause as Error | undefined)?.message ?? err.message}`);
      });
    if (!res.ok) throw new Error(`enrollment at ${url} answered ${res.status}: ${await res.text()}`);
    const parsed = EnrollResponse.safeParse(await res.json());
    if (!parsed.success) throw new Error(`enrollment answer is malformed: ${parsed.error.message}`);
    const r = parsed.data;
    this.trust(r.serverKeys);
    this.state.enrollment = { device: r.device, station: r.station, mqtt: r.mqtt, groups: r.groups };
    deps.store.save(this.state);
    this.emit({ type: 'enrolled', device: r.device, station: r.station });
  }

  /** [P-4.3] One replay memory for everything the server signs, kept in the durable state. */
  private readonly serverGuard: ReplayGuard = {
    hasSeen: (id) => id === this.state.manifestId || this.state.seenIds.includes(id),
    lastSeq: () => this.state.lastSeq,
    remember: (envelope) => {
      this.state.seenIds = [...this.state.seenIds, envelope.id].slice(-SEEN_IDS);
      this.state.lastSeq = Math.max(this.state.lastSeq, envelope.seq);
    },
  };

  /** [P-4.7] Trusts exactly these server keys, kept in the state (a key past its validUntil is dropped at use). */
  private trust(keys: AgentState['serverKeys']): void {
    this.state.serverKeys = keys.map(({ kid, publicKeyHex, validUntil }) => ({ kid, publicKeyHex, validUntil }));
    this.serverKeys = new Map(
      keys.map((k) => [k.kid, { key: publicKeyFromHex(k.publicKeyHex), validUntil: k.validUntil ? Date.parse(k.validUntil) : undefined }]),
    );
  }

  /** A trusted server key by kid, unless past its validUntil. */
  private readonly serverKey = (kid: string): KeyObject | undefined => {
    const k = this.serverKeys.get(kid);
    return k && (k.validUntil === undefined || k.validUntil > this.deps.clock.now()) ? k.key : undefined;
  };

  private openFromServer<T extends BodyType>(payload: Buffer, type: T) {
    return open(payload, type, { keys: this.serverKey, now: new Date(this.deps.clock.now()), guard: this.serverGuard });
  }

  private async onManifest(payload: Buffer): Promise<void> {
    const { deps } = this;
    const opened = this.openFromServer(payload, 'manifest');
    if (!opened.ok) {
      // The retained manifest comes again at every reconnect: the one applied is not an error. Its ack is
      // sent again, since the last one may have died with the process or link before its PUBACK ([P-3.7]).
      if (opened.code === 'REPLAYED' && claimed(payload).id === this.state.manifestId) {
        const applied = this.state.manifest;
        if (applied) this.ack({ station: this.station, version: applied.version, status: 'applied', entries: applied.entries.length });
        return;
      }
      if (opened.code === 'REPLAYED' || opened.code === 'STALE_SEQUENCE') {
        // An older manifest sent again (by an attacker or a confused relay): refused, and its version is long settled.
        deps.log.warn('manifest replay refused', { code: opened.code });
        this.emit({ type: 'rejected', code: opened.code });
        return;
      }
      deps.log.warn('manifest rejected', { code: opened.code, message: opened.message });
      this.emit({ type: 'rejected', code: opened.code });
      this.ack({
        station: this.station,
        version: claimed(payload).version,
        status: 'rejected',
        code: opened.code,
        message: opened.message.slice(0, 500),
      });
      return;
    }
    if (opened.body.station !== this.station) {
      this.emit({ type: 'rejected', code: 'STATION_MISMATCH' });
      this.ack({ station: this.station, version: opened.body.version, status: 'rejected', code: 'WRONG_STATION' });
      return;
    }
    this.apply(opened.envelope, opened.body);
    this.ack({ station: this.station, version: opened.body.version, status: 'applied', entries: opened.body.entries.length });
    this.requestSync();
    await this.syncing;
  }

  /** [P-3.7] Signed receipt of a manifest version. */
  private ack(body: ManifestAck): void {
    const envelope = seal('manifest-ack', body, this.signer, { now: new Date(this.deps.clock.now()), ttlMs: REPLY_TTL_MS });
    this.mqtt?.publish(ackTopic(this.device), JSON.stringify(envelope), { qos: 1 });
  }

  private apply(envelope: Envelope, manifest: Manifest): void {
    // A rotation is announced in the signed manifest: its key set replaces ours, provided it still holds
    // the key that signed it (a set without it would lock this gateway out of everything that follows).
    if (manifest.serverKeys?.some((k) => k.kid === envelope.kid)) this.trust(manifest.serverKeys);
    this.state.manifest = manifest;
    this.state.manifestId = envelope.id;
    this.serverGuard.remember(envelope);
    const live = new Set(manifest.entries.map((e) => e.occurrenceId));
    this.state.played = this.state.played.filter((id) => live.has(id));
    this.deps.store.save(this.state);
    this.deps.log.info('manifest applied', { version: manifest.version, entries: manifest.entries.length });
    this.emit({ type: 'manifest', version: manifest.version, entries: manifest.entries.length });
    this.arm(manifest);
  }

  /** Runs a sync pass now, or right after the one under way. */
  private requestSync(): void {
    if (this.stopped) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = this.syncOnce()
      .catch((err: Error) => this.deps.log.warn('sync failed', { err: err.message }))
      .finally(() => {
        this.syncing = undefined;
        if (this.syncAgain) {
          this.syncAgain = false;
          this.requestSync();
        }
      });
  }

  /**
   * [P-5.3] Keeps the cache in step with the plan: evicts what no entry still needs when over budget,
   * then fetches the audio of items starting within the prefetch horizon, soonest first. A failed
   * download waits out its own backoff (1 s doubling to 300 s, jittered) and resumes where it stopped.
   */
  private async syncOnce(): Promise<void> {
    const { deps, options } = this;
    const manifest = this.state.manifest;
    if (!manifest) return;
    const now = deps.clock.now();
    const played = new Set(this.state.played);
    const upcoming = manifest.entries
      .filter((e) => !played.has(e.occurrenceId) && Date.parse(e.startsAt) + e.media.durationMs > now)
      .sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt));
    const needed = new Set(upcoming.map((e) => e.media.sha256));
    if (this.current?.entry) needed.add(this.current.entry.media.sha256);
    const evicted = await deps.cache.evict(needed, options.cacheBudgetBytes);
    if (evicted.removed.length) deps.log.info('cache evicted', { files: evicted.removed.length });
    let { bytes } = evicted;
    let missing = 0;
    const seen = new Set<string>();
    for (const entry of upcoming) {
      const { sha256, sizeBytes } = entry.media;
      if (this.stopped || Date.parse(entry.startsAt) > now + options.prefetchHorizonMs) break;
      if (seen.has(sha256)) continue;
      seen.add(sha256);
      if (await deps.cache.has(sha256)) {
        this.announce(sha256);
        continue;
      }
      const retry = this.fetchRetry.get(sha256);
      if (retry && retry.nextAt > deps.clock.now()) {
        missing++;
        continue;
      }
      if (bytes + sizeBytes > options.cacheBudgetBytes) {
        deps.log.warn('cache budget too small for the plan', { sha256, bytes, budget: options.cacheBudgetBytes });
        missing++;
        continue;
      }
      try {
        await this.fetchAudio(entry.media);
        this.fetchRetry.delete(sha256);
        bytes += sizeBytes;
        this.announce(sha256);
      } catch (err) {
        const backoff = retry?.backoff ?? new Backoff({ random: options.random });
        const retryInMs = backoff.next();
        this.fetchRetry.set(sha256, { backoff, nextAt: deps.clock.now() + retryInMs });
        missing++;
        deps.log.warn('audio fetch failed', { sha256, retryInMs, err: (err as Error).message });
        this.emit({ type: 'fetch-failed', sha256, retryInMs, error: (err as Error).message });
      }
    }
    for (const sha of this.fetchRetry.keys()) if (!needed.has(sha)) this.fetchRetry.delete(sha);
    this.missing = missing;
    this.retryTimer?.();
    this.retryTimer = undefined;
    const nextRetry = Math.min(...[...this.fetchRetry.values()].map((r) => r.nextAt));
    if (Number.isFinite(nextRetry) && !this.stopped) this.retryTimer = deps.clock.at(nextRetry, () => this.requestSync());
  }

  private announce(sha256: string): void {
    if (this.announced.has(sha256)) return;
    this.announced.add(sha256);
    this.emit({ type: 'cached', sha256 });
  }

  private arm(manifest: Manifest): void {
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    const played = new Set(this.state.played);
    for (const entry of manifest.entries) {
      if (played.has(entry.occurrenceId)) continue;
      const at = Date.parse(entry.startsAt);
      this.timers.set(
        entry.occurrenceId,
        this.deps.clock.at(at, () => this.due(entry)),
      );
      this.emit({ type: 'armed', occurrenceId: entry.occurrenceId, at });
    }
  }

  private due(entry: ManifestEntry): void {
    this.timers.delete(entry.occurrenceId);
    if (this.stopped) return;
    const current = this.current;
    if (current) {
      // [P-5.10] the due item decides: preempt what plays, wait for it within its slack, or skip.
      const now = this.deps.clock.now();
      const playing = current.entry ?? { priority: 'normal' as const, media: { durationMs: 0 } };
      const waitMs = Math.max(0, current.startedAt + playing.media.durationMs - now);
      const slackMs = entry.latestStartAt ? Date.parse(entry.latestStartAt) - Date.parse(entry.startsAt) : 0;
      const resolution = resolveConflict({ priority: entry.priority, conflict: entry.conflict, slackMs }, playing, waitMs);
      if (resolution === 'preempt') {
        this.queue.unshift(entry);
        void this.cut(current, 'PREEMPTED');
      } else if (resolution === 'queue') {
        this.queue.push(entry);
      } else this.skip(entry, 'CONFLICT');
      return;
    }
    void this.play(entry, false);
  }

  /** [P-5.5] An emergency goes on the air now: whatever plays is cut (PREEMPTED), on every zone. */
  private airNow(entry: ManifestEntry): void {
    const current = this.current;
    if (!current) return void this.play(entry, true);
    this.queue.unshift(entry);
    void this.cut(current, 'PREEMPTED');
  }

  /** Reports an item that will not air, without touching what plays now. */
  private skip(entry: ManifestEntry, reason: string): void {
    const at = new Date(this.deps.clock.now()).toISOString();
    this.state.played.push(entry.occurrenceId);
    this.deps.store.save(this.state);
    const report: PlaybackReport = {
      kind: 'playback.failed',
      station: this.station,
      occurrenceId: entry.occurrenceId,
      sha256: entry.media.sha256,
      scheduledAt: entry.startsAt,
      startedAt: at,
      endedAt: at,
      expectedMs: entry.media.durationMs,
      playedMs: 0,
      reason,
    };
    this.publishReport(report);
    this.emit({ type: 'finished', occurrenceId: entry.occurrenceId, report });
  }

  /** [P-3.2] The journal outlived the process: the item was cut by a power loss or a kill. */
  private reportInterrupted(was: NowPlaying): void {
    const report: PlaybackReport = {
      kind: 'playback.completed',
      station: this.station,
      occurrenceId: was.entry.occurrenceId,
      sha256: was.entry.media.sha256,
      scheduledAt: was.entry.startsAt,
      startedAt: new Date(was.startedAt).toISOString(),
      endedAt: new Date(was.checkpointAt).toISOString(),
      expectedMs: was.entry.media.durationMs,
      playedMs: Math.round(was.playedMs),
      ...(was.level ? { level: was.level } : {}),
      reason: 'INTERRUPTED',
    };
    if (!this.state.played.includes(was.entry.occurrenceId)) this.state.played.push(was.entry.occurrenceId);
    this.deps.store.save(this.state);
    this.publishReport(report);
    this.deps.store.clearNowPlaying();
    this.deps.log.warn('playback was interrupted by a restart', { occurrenceId: was.entry.occurrenceId, playedMs: report.playedMs });
    this.emit({ type: 'finished', occurrenceId: was.entry.occurrenceId, report });
  }

  private async play(entry: ManifestEntry, queued: boolean): Promise<void> {
    const { deps } = this;
    const scheduledAt = Date.parse(entry.startsAt);
    const startedAt = deps.clock.now();
    const base = {
      station: this.station,
      occurrenceId: entry.occurrenceId,
      sha256: entry.media.sha256,
      scheduledAt: entry.startsAt,
      startedAt: new Date(startedAt).toISOString(),
      expectedMs: entry.media.durationMs,
    };
    if (!this.state.played.includes(entry.occurrenceId)) this.state.played.push(entry.occurrenceId);
    deps.store.save(this.state);

    if (entry.validUntil && startedAt + entry.media.durationMs > Date.parse(entry.validUntil)) {
      // [P-3.1.1] a stale item never airs, even when a manifest says so
      return this.finish(entry, { ...base, kind: 'playback.failed', endedAt: base.startedAt, playedMs: 0, reason: 'EXPIRED_ITEM' });
    }
    const quiet = entry.priority === 'emergency' ? undefined : quietRangeAt(this.state.manifest?.policy, startedAt);
    if (quiet) {
      // [P-3.1.3] quiet hours hold on the gateway even against its own plan (a relay set to air at 03:15)
      deps.log.warn('refused in quiet hours', { occurrenceId: entry.occurrenceId, quiet });
      return this.finish(entry, { ...base, kind: 'playback.failed', endedAt: base.startedAt, playedMs: 0, reason: 'QUIET_HOURS' });
    }
    // Found late (the gateway was down): it still airs while its start window is open ([P-5.4]).
    const deadline = Math.max(scheduledAt + START_GRACE_MS, entry.latestStartAt ? Date.parse(entry.latestStartAt) : 0);
    if (!queued && startedAt > deadline) {
      return this.finish(entry, { ...base, kind: 'playback.failed', endedAt: base.startedAt, playedMs: 0, reason: 'MISSED_WINDOW' });
    }
    const zones = this.zoneLevels(entry, startedAt);
    if (!zones) {
      deps.log.warn("none of the item's zones is on this gateway", { occurrenceId: entry.occurrenceId, zones: entry.zones });
      return this.finish(entry, { ...base, kind: 'playback.failed', endedAt: base.startedAt, playedMs: 0, reason: 'UNKNOWN_ZONE' });
    }
    const played = { ...base, zones: Object.keys(zones) };
    let settle!: () => void;
    const current: Airing = { entry, startedAt, zones, ended: new Promise((resolve) => (settle = resolve)) };
    this.current = current;
    const cancelled = (): boolean => {
      if (!current.why) return false;
      this.current = undefined;
      this.finish(entry, {
        ...played,
        kind: 'playback.failed',
        endedAt: new Date(deps.clock.now()).toISOString(),
        playedMs: 0,
        reason: current.why,
      });
      settle();
      return true;
    };
    if (!(await deps.cache.has(entry.media.sha256))) {
      // Due before its prefetch finished (or the cache lost it): one direct fetch before giving up.
      try {
        await this.fetchAudio(entry.media);
      } catch (err) {
        if (cancelled()) return;
        deps.log.warn('audio missing at airtime', { occurrenceId: entry.occurrenceId, err: (err as Error).message });
        this.current = undefined;
        this.finish(entry, { ...played, kind: 'playback.failed', endedAt: base.startedAt, playedMs: 0, reason: 'FILE_MISSING' });
        return settle();
      }
    }
    // Preempted or stopped while its audio was being checked: it never reached the air.
    if (cancelled()) return;
    // Not awaited: nothing may come between the checks above and the player starting but what must.
    void deps.cache.touch(entry.media.sha256, startedAt);
    // Journalled before the player starts and after each measured second: what a restart must report.
    const journal: NowPlaying = { entry, startedAt, playedMs: 0, checkpointAt: startedAt };
    deps.store.saveNowPlaying(journal);
    const playback = deps.player.play(deps.cache.path(entry.media.sha256), {
      zones,
      fadeMs: this.options.fadeMs,
      durationMs: entry.media.durationMs,
      onProgress: (playedMs, level) => {
        const now = deps.clock.now();
        // The player emits in real time, so the first measured second began `playedMs` ago: that is when sound began.
        if (!current.onAirAt) {
          current.onAirAt = now - playedMs;
          this.emit({ type: 'on-air', occurrenceId: entry.occurrenceId, at: current.onAirAt });
        }
        if (this.current === current) deps.store.saveNowPlaying({ ...journal, playedMs, level, checkpointAt: now });
      },
    });
    current.playback = playback;
    this.publishReport({ ...played, kind: 'playback.started' });
    this.emit({ type: 'started', occurrenceId: entry.occurrenceId, at: startedAt });
    void this.sendTelemetry();
    const result = await playback.done;
    this.current = undefined;
    if (result.error) deps.log.warn('player failed', { occurrenceId: entry.occurrenceId, err: result.error });
    const endedAt = new Date(deps.clock.now()).toISOString();
    const measured = {
      ...(result.level ? { level: result.level } : {}),
      ...(result.zoneLevels ? { zoneLevels: Object.entries(result.zoneLevels).map(([zone, l]) => ({ zone, ...l })) } : {}),
    };
    const report: PlaybackReport = result.error
      ? { ...played, kind: 'playback.failed', endedAt, playedMs: result.playedMs, reason: 'PLAYER_ERROR' }
      : { ...played, kind: 'playback.completed', endedAt, playedMs: result.playedMs, ...measured };
    if (!result.completed && !result.error) report.reason = current.why ?? 'STOPPED';
    this.finish(entry, report, true);
    settle();
    void this.sendTelemetry();
  }

  /**
   * The zones an item plays on, each at min(its volume, else the all-zones volume, the policy's ceiling
   * now) ([P-3.1.3]); undefined when the item names only zones this gateway does not have.
   */
  private zoneLevels(entry: ManifestEntry | undefined, at: number): Record<string, number> | undefined {
    const own = this.deps.player.zones;
    const names = entry?.zones ? entry.zones.filter((z) => own.includes(z)) : own;
    if (names.length === 0) return undefined;
    const ceiling = volumeCeilingAt(this.state.manifest?.policy, at);
    return Object.fromEntries(names.map((z) => [z, Math.min(this.state.volume[z] ?? this.state.volume['*'] ?? 100, ceiling)]));
  }

  /** Fetches an item's audio into the cache (or finds it there), hash-checked; rejects when it cannot. */
  private fetchAudio(media: ManifestEntry['media']): Promise<string> {
    return this.deps.cache.ensure(media.sha256, `${this.deps.serverUrl}${media.path}`);
  }

  /** Ends what plays (faded unless the agent itself is going down), or cancels what is about to; settles once reported. */
  private cut(airing: Airing, why: NonNullable<Airing['why']>, fade = true): Promise<void> {
    airing.why ??= why;
    airing.playback?.stop({ fadeMs: fade ? this.options.fadeMs : 0 });
    return airing.ended;
  }

  /** Reports the item's end; `journalled` when it had started, so its now-playing journal is closed after the report is durable. */
  private finish(entry: ManifestEntry, report: PlaybackReport, journalled = false): void {
    this.publishReport(report);
    if (journalled) this.deps.store.clearNowPlaying();
    this.emit({ type: 'finished', occurrenceId: entry.occurrenceId, report });
    // [P-5.5] an emergency with repeatUntil airs again until then, unless cancelled or cut short
    const emergency = this.emergencies.get(entry.occurrenceId);
    if (emergency?.entry === entry) {
      const again = report.kind === 'playback.completed' && !report.reason && !this.stopped;
      const now = this.deps.clock.now();
      if (again && emergency.repeatUntil !== undefined && now + entry.media.durationMs <= emergency.repeatUntil) {
        const next = { ...entry, startsAt: new Date(now).toISOString() };
        emergency.entry = next;
        this.queue.unshift(next);
      } else this.emergencies.delete(entry.occurrenceId);
    }
    // A queued item may start late only until its latestStartAt ([P-5.10]); past it, it is skipped.
    for (let next = this.queue.shift(); next && !this.stopped; next = this.queue.shift()) {
      if (next.latestStartAt && this.deps.clock.now() > Date.parse(next.latestStartAt)) {
        this.skip(next, 'CONFLICT');
        continue;
      }
      void this.play(next, true);
      return;
    }
  }

  private async onCommand(payload: Buffer): Promise<void> {
    const opened = this.openFromServer(payload, 'command');
    if (!opened.ok) {
      // [P-3.6] an error reply, never silence; txn is read only from a message of acceptable size
      const { txn, action } = opened.code === 'TOO_LARGE' ? { txn: null, action: null } : peekTxn(payload);
      this.deps.log.warn('command rejected', { code: opened.code, message: opened.message });
      this.emit({ type: 'rejected', code: opened.code });
      return this.reply(errorReply(txn, action, opened.code, opened.message));
    }
    this.serverGuard.remember(opened.envelope);
    this.deps.store.save(this.state);
    let outcome: Awaited<ReturnType<typeof runCommand>>;
    try {
      outcome = await runCommand(opened.body, this.commandTarget);
    } catch (err) {
      outcome = { reply: errorReply(opened.body.txn, opened.body.action, 'DEVICE_FAULT', (err as Error).message) };
    }
    await this.reply(outcome.reply);
    outcome.after?.();
  }

  private async reply(reply: Reply): Promise<void> {
    const envelope = seal('reply', reply, this.signer, { now: new Date(this.deps.clock.now()), ttlMs: REPLY_TTL_MS });
    this.mqtt?.publish(replyTopic(this.device), JSON.stringify(envelope), { qos: 1 });
    this.emit({ type: 'replied', reply });
  }

  /** What command handlers may do to this agent. */
  private get commandTarget(): CommandTarget {
    return {
      resync: async () => {
        // [P-3.1.2] unsubscribe and subscribe again: the broker then sends the retained full manifest
        await this.mqtt?.unsubscribeAsync(manifestTopic(this.device));
        await this.mqtt?.subscribeAsync(manifestTopic(this.device), { qos: 1 });
        return { manifestVersion: this.state.manifest?.version ?? null };
      },
      stopCurrent: async (zone) => {
        const current = this.current;
        if (zone !== undefined && !this.deps.player.zones.includes(zone)) return 'UNKNOWN_ZONE';
        if (!current) return { stopped: null };
        const stopped = current.entry?.occurrenceId ?? 'self-test';
        if (zone !== undefined && Object.keys(current.zones).length > 1) {
          // One zone of several: silenced for the rest of the item, the others play on.
          if (!(zone in current.zones)) return { stopped: null, zone };
          current.zones[zone] = 0;
          current.muted = new Set([...(current.muted ?? []), zone]);
          current.playback?.setVolume(zone, 0);
          return { stopped, zone };
        }
        await this.cut(current, 'STOPPED');
        return { stopped };
      },
      setVolume: (zone, level) => {
        if (zone !== undefined && !this.deps.player.zones.includes(zone)) return 'UNKNOWN_ZONE';
        this.state.volume = { ...this.state.volume, [zone ?? '*']: level };
        this.deps.store.save(this.state);
        // What plays now follows at once, still under the policy's ceiling.
        const current = this.current;
        const now = this.zoneLevels(current?.entry, this.deps.clock.now()) ?? {};
        for (const [z, was] of Object.entries(current?.zones ?? {})) {
          const next = now[z];
          if (next !== undefined && next !== was && !current?.muted?.has(z)) {
            (current as Airing).zones[z] = next;
            current?.playback?.setVolume(z, next);
          }
        }
        return { volume: this.state.volume };
      },
      selfTest: async () => {
        if (this.current) return 'BUSY';
        const zones = this.zoneLevels(undefined, this.deps.clock.now()) ?? {};
        const playback = this.deps.player.play({ toneHz: 1000, seconds: SELF_TEST_SECONDS }, { zones });
        const current: Airing = { playback, zones, startedAt: this.deps.clock.now(), ended: playback.done.then(() => {}) };
        this.current = current;
        const result = await playback.done;
        if (this.current === current) this.current = undefined;
        if (!result.completed || !result.level) return 'DEVICE_FAULT';
        return { playedMs: result.playedMs, ...result.level, ...(result.zoneLevels ? { zones: result.zoneLevels } : {}) };
      },
      emergency: async (cmd) => {
        if (
          !(await this.fetchAudio(cmd.media).then(
            () => true,
            () => false,
          ))
        )
          return 'FILE_MISSING';
        const now = this.deps.clock.now();
        const repeatUntil = cmd.repeatUntil ? Date.parse(cmd.repeatUntil) : undefined;
        if (repeatUntil !== undefined && repeatUntil <= now) return 'EXPIRED';
        const entry: ManifestEntry = {
          occurrenceId: cmd.occurrenceId,
          startsAt: new Date(now).toISOString(),
          priority: 'emergency',
          media: cmd.media,
          // [P-4.5] an emergency lasts until repeatUntil, or an hour; it airs at least once in full
          validUntil: new Date(Math.max(repeatUntil ?? now + EMERGENCY_TTL_MS, now + cmd.media.durationMs + START_GRACE_MS)).toISOString(),
        };
        this.emergencies.set(cmd.occurrenceId, { entry, repeatUntil });
        this.airNow(entry);
        return { startedAt: entry.startsAt, ...(cmd.repeatUntil ? { repeatUntil: cmd.repeatUntil } : {}) };
      },
      cancelEmergency: async (occurrenceId) => {
        if (!this.emergencies.delete(occurrenceId)) return { cancelled: null };
        this.queue = this.queue.filter((e) => e.occurrenceId !== occurrenceId);
        const current = this.current;
        if (current?.entry?.occurrenceId === occurrenceId) await this.cut(current, 'CANCELLED');
        return { cancelled: occurrenceId };
      },
      playNow: async (cmd) => {
        if (this.current) return 'BUSY';
        if (
          !(await this.fetchAudio(cmd.media).then(
            () => true,
            () => false,
          ))
        )
          return 'FILE_MISSING';
        const entry: ManifestEntry = {
          occurrenceId: cmd.occurrenceId,
          startsAt: new Date(this.deps.clock.now()).toISOString(),
          priority: cmd.priority,
          media: cmd.media,
        };
        void this.play(entry, true);
        return { startedAt: entry.startsAt };
      },
      reboot: this.deps.reboot,
    };
  }

  /** Every heartbeat: the clock offset when due (hourly), telemetry, and a sync pass; re-armed after it completes. */
  private heartbeat(): void {
    this.heartbeatTimer = undefined;
    if (this.stopped) return;
    const { deps } = this;
    const measure = deps.clock.now() - this.clockMeasuredAt >= CLOCK_EVERY_MS ? this.measureClock() : Promise.resolve();
    void measure
      .then(() => this.sendTelemetry())
      .catch((err: Error) => deps.log.warn('heartbeat failed', { err: err.message }))
      .finally(() => {
        // Re-armed from when this one ended, so a clock jump fires one heartbeat, not one per missed minute.
        if (!this.stopped && !this.heartbeatTimer)
          this.heartbeatTimer = deps.clock.at(deps.clock.now() + this.options.heartbeatMs, () => this.heartbeat());
      });
    this.requestSync();
  }

  /** [P-5.9] offset = ((receivedAt − t0) + (sentAt − t3)) / 2, delay = (t3 − t0) − (sentAt − receivedAt). */
  private async measureClock(): Promise<void> {
    const { deps } = this;
    this.clockMeasuredAt = deps.clock.now();
    const t0 = deps.clock.now();
    const res = await deps.fetch(`${deps.serverUrl}/api/v1/gateway/time`);
    const t3 = deps.clock.now();
    if (!res.ok) throw new Error(`time answered ${res.status}`);
    const time = TimeResponse.parse(await res.json());
    const receivedAt = Date.parse(time.receivedAt);
    const sentAt = Date.parse(time.sentAt);
    const sample = { offsetMs: (receivedAt - t0 + (sentAt - t3)) / 2, delayMs: t3 - t0 - (sentAt - receivedAt) };
    this.clockSamples = [...this.clockSamples, sample].slice(-CLOCK_SAMPLES);
    const offset = this.clockOffsetMs();
    if (offset !== undefined && Math.abs(offset) > 1000)
      deps.log.warn('clock differs from the server by more than 1 s', { offsetMs: offset });
  }

  /** Server clock minus this clock, from the sample with the smallest round trip. */
  clockOffsetMs(): number | undefined {
    if (!this.clockSamples.length) return undefined;
    return this.clockSamples.reduce((best, s) => (s.delayMs < best.delayMs ? s : best)).offsetMs;
  }

  /** [P-3.4] Sent every heartbeat and whenever what plays changes; QoS 0 (the next one replaces it). */
  private async sendTelemetry(): Promise<void> {
    const { deps } = this;
    const stats = await deps.cache.stats();
    if (!this.mqtt?.connected) return;
    const now = deps.clock.now();
    const offset = this.clockOffsetMs();
    const playing = this.current;
    const body: Telemetry = {
      station: this.station,
      uptimeS: Math.max(0, Math.floor((now - this.bootAt) / 1000)),
      agentVersion: AGENT_VERSION,
      protocolVersions: [1],
      ...(offset !== undefined ? { clockOffsetMs: Math.round(offset) } : {}),
      diskFreeBytes: stats.diskFreeBytes,
      cache: { items: stats.items, bytes: stats.bytes, missing: this.missing },
      ...(this.state.manifest ? { manifestVersion: this.state.manifest.version } : {}),
      ...(playing
        ? {
            nowPlaying: {
              ...(playing.entry ? { occurrenceId: playing.entry.occurrenceId } : {}),
              since: new Date(playing.startedAt).toISOString(),
            },
          }
        : {}),
      volume: this.state.volume,
    };
    const envelope = seal('telemetry', body, this.signer, { now: new Date(now), ttlMs: TELEMETRY_TTL_MS });
    this.mqtt.publish(telemetryTopic(this.device), JSON.stringify(envelope), { qos: 0 });
    this.emit({ type: 'telemetry', body });
  }

  /** Writes the signed report to the outbox, then publishes it; only the server's storage receipt removes it ([P-3.8]). */
  private publishReport(report: PlaybackReport): void {
    const envelope = seal('report', report, this.signer, { now: new Date(this.deps.clock.now()), ttlMs: REPORT_TTL_MS });
    const payload = JSON.stringify(envelope);
    this.deps.outbox.put(envelope.id, payload, this.deps.clock.now());
    this.sendFromOutbox(envelope.id, payload);
    this.armResend();
  }

  /** Ids handed to the MQTT client and not yet PUBACKed: MQTT.js resends those itself after a reconnect. */
  private readonly inFlight = new Set<string>();
  /** [P-1.2] Waits between resending the reports no receipt has named yet; reset by each receipt. */
  private resendBackoff?: Backoff;
  private resendTimer?: () => void;

  private sendFromOutbox(id: string, payload: string): void {
    if (!this.mqtt || this.inFlight.has(id)) return;
    this.inFlight.add(id);
    this.mqtt.publish(reportTopic(this.device), payload, { qos: 1 }, (err) => {
      this.inFlight.delete(id);
      // A PUBACK only says the broker has it: the entry stays until a receipt says the server stored it.
      if (err) this.deps.log.warn('report not acknowledged by the broker, kept in the outbox', { id, err: err.message });
    });
  }

  /** While the outbox holds anything, resends it after the backoff's next wait (1 s doubling to 300 s, jittered). */
  private armResend(): void {
    if (this.resendTimer || this.stopped) return;
    this.resendBackoff ??= new Backoff({ random: this.options.random });
    const wait = this.resendBackoff.next();
    this.resendTimer = this.deps.clock.at(this.deps.clock.now() + wait, () => {
      this.resendTimer = undefined;
      const pending = this.deps.outbox.pending();
      if (!pending.length) return this.resendBackoff?.reset();
      const now = this.deps.clock.now();
      for (const { id, payload } of pending) {
        // A report past its own lifetime would only be refused as EXPIRED: let it go.
        if (expiredEnvelope(payload, now)) {
          this.deps.outbox.remove(id);
          this.deps.log.warn('report expired unreceipted, dropped from the outbox', { id });
          continue;
        }
        if (this.mqtt?.connected) this.sendFromOutbox(id, payload);
      }
      this.armResend();
    });
  }

  /** [P-3.8] A signed storage receipt: what it lists is on the server's disk (or refused for good) and leaves the outbox. */
  private onReceipt(payload: Buffer): void {
    // No replay or sequence check: a receipt seen twice says the same, and it must not move the server's sequence.
    const opened = open(payload, 'receipt', { keys: this.serverKey, now: new Date(this.deps.clock.now()) });
    if (!opened.ok || opened.body.station !== this.station) {
      this.deps.log.warn('receipt refused', opened.ok ? { station: opened.body.station } : { code: opened.code });
      return;
    }
    const receipt: ReportReceipt = opened.body;
    for (const id of receipt.stored) {
      this.deps.outbox.remove(id);
      this.emit({ type: 'delivered', id });
    }
    for (const { id, code } of receipt.refused) {
      this.deps.outbox.remove(id);
      this.deps.log.warn('report refused by the server', { id, code });
      this.emit({ type: 'delivered', id, refused: code });
    }
    this.resendBackoff?.reset();
    this.resendTimer?.();
    this.resendTimer = undefined;
    if (this.deps.outbox.pending().length) this.armResend();
  }
}

/** Whether a stored envelope's expiresAt has passed (unreadable: treated as not expired, the server decides). */
function expiredEnvelope(payload: string, now: number): boolean {
  try {
    const at = Date.parse((JSON.parse(payload) as { expiresAt?: string }).expiresAt ?? '');
    return Number.isFinite(at) && at <= now;
  } catch {
    return false;
  }
}

/** The id and version a refused manifest claims, read without trusting them (version 0 when unreadable). */
function claimed(payload: Buffer): { id?: string; version: number } {
  try {
    const env = JSON.parse(payload.toString('utf8')) as { id?: unknown; body?: { version?: unknown } };
    const v = env.body?.version;
    return {
      ...(typeof env.id === 'string' ? { id: env.id } : {}),
      version: Number.isInteger(v) && (v as number) >= 0 ? (v as number) : 0,
    };
  } catch {
    return { version: 0 };
  }
}
