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
  replyTopic,
  reportTopic,
  resolveConflict,
  type Signer,
  type StationState,
  seal,
  stateTopic,
  volumeCeilingAt,
  wallClockSequence,
} from '#protocol';
import type { AudioCache, Fetch } from './cache.ts';
import type { Clock } from './clock.ts';
import { type CommandTarget, errorReply, peekTxn, runCommand } from './commands.ts';
import type { Playback, Player } from './player.ts';
import type { AgentState, Outbox, StateStore } from './store.ts';

export const AGENT_VERSION = '0.1.0';
/** An item found more than this late (agent was down) is not started mid-way; it is reported missed. */
export const START_GRACE_MS = 30_000;
const REPORT_TTL_MS = 30 * 86_400_000;
const REPLY_TTL_MS = 3600_000;
/** How many accepted server message ids are remembered against replay ([P-4.3]). */
const SEEN_IDS = 256;
const SELF_TEST_SECONDS = 2;

export interface AgentLog {
  info(msg: string, obj?: object): void;
  warn(msg: string, obj?: object): void;
}

/** MQTT login issued at enrollment ([P-5.1]). */
export interface MqttCredentials {
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
  /** Durable reports awaiting PUBACK. */
  outbox: Outbox;
  cache: AudioCache;
  player: Player;
  /** Called after replying to a reboot command; absent where the agent may not reboot its host. */
  reboot?: () => void;
  /** Creates the MQTT connection with the given last-will and login; the agent owns it afterwards. */
  connectMqtt(will: { topic: string; payload: string }, credentials: MqttCredentials): MqttClient;
  log: AgentLog;
}

export type AgentEvent =
  | { type: 'enrolled'; device: string; station: string }
  | { type: 'manifest'; version: number; entries: number }
  | { type: 'rejected'; code: string }
  | { type: 'cached'; sha256: string }
  | { type: 'armed'; occurrenceId: string; at: number }
  | { type: 'started'; occurrenceId: string; at: number }
  | { type: 'finished'; occurrenceId: string; report: PlaybackReport }
  | { type: 'replied'; reply: Reply }
  /** A report's PUBACK arrived and it left the outbox. */
  | { type: 'delivered'; id: string }
  | { type: 'subscribed' };

export class Agent {
  private state!: AgentState;
  private signer!: Signer;
  private deviceKeyHex!: string;
  /** This gateway's topic id and its station, from enrollment. */
  private device!: string;
  private station!: string;
  private serverKey?: KeyObject;
  private mqtt?: MqttClient;
  private timers = new Map<string, () => void>();
  /** What plays now; `preempted` is set when a higher-priority item stopped it ([P-5.10]). */
  private current?: { entry?: ManifestEntry; playback: Playback; startedAt: number; preempted?: boolean };
  private queue: ManifestEntry[] = [];
  private listeners: ((e: AgentEvent) => void)[] = [];
  private stopped = false;

  constructor(private readonly deps: AgentDeps) {}

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
    if (this.state.serverKeyHex) this.serverKey = publicKeyFromHex(this.state.serverKeyHex);
    // Offline-first: whatever plan was stored before a restart is armed before the network is needed.
    if (this.state.manifest) this.arm(this.state.manifest);

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
      this.mqtt?.subscribe([manifestTopic(this.device), commandTopic(this.device)], { qos: 1 }, (err) => {
        if (err) deps.log.warn('subscribe failed', { err: err.message });
        else this.emit({ type: 'subscribed' });
      });
    });
    this.mqtt.on('message', (topic, payload) => {
      const channel = parseTopic(topic)?.channel;
      const work = channel === 'manifest' ? this.onManifest(payload) : channel === 'cmd' ? this.onCommand(payload) : undefined;
      work?.catch((err: Error) => deps.log.warn(`${channel} handling failed`, { err: err.message }));
    });
    this.mqtt.on('error', (err) => deps.log.warn('mqtt error', { err: err.message }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    this.current?.playback.stop();
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

  /** [P-5.1] Spends the one-time token: the server records this gateway's public key and answers with MQTT credentials and its keys. */
  private async enroll(): Promise<void> {
    const { deps } = this;
    if (!deps.enrollToken) throw new Error('this gateway is not enrolled: start it once with --enroll-token <token> from provisioning');
    const request: z.input<typeof EnrollRequest> = {
      token: deps.enrollToken,
      publicKeyHex: this.deviceKeyHex,
      agentVersion: AGENT_VERSION,
      protocolVersions: [1],
    };
    const res = await deps.fetch(`${deps.serverUrl}/api/v1/gateway/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    if (!res.ok) throw new Error(`enrollment answered ${res.status}: ${await res.text()}`);
    const parsed = EnrollResponse.safeParse(await res.json());
    if (!parsed.success) throw new Error(`enrollment answer is malformed: ${parsed.error.message}`);
    const r = parsed.data;
    const serverKey = r.serverKeys[0];
    this.state.serverKeyHex = serverKey.publicKeyHex;
    this.state.serverKid = serverKey.kid;
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

  private openFromServer<T extends BodyType>(payload: Buffer, type: T) {
    return open(payload, type, {
      keys: (kid) => (kid === this.state.serverKid ? this.serverKey : undefined),
      now: new Date(this.deps.clock.now()),
      guard: this.serverGuard,
    });
  }

  private async onManifest(payload: Buffer): Promise<void> {
    const { deps } = this;
    const opened = this.openFromServer(payload, 'manifest');
    if (!opened.ok) {
      // The retained manifest comes again at every reconnect: already applied is not an error.
      if (opened.code === 'REPLAYED') return;
      deps.log.warn('manifest rejected', { code: opened.code, message: opened.message });
      this.emit({ type: 'rejected', code: opened.code });
      this.ack({
        station: this.station,
        version: claimedVersion(payload),
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
    await this.prefetch(opened.body);
  }

  /** [P-3.7] Signed receipt of a manifest version. */
  private ack(body: ManifestAck): void {
    const envelope = seal('manifest-ack', body, this.signer, { now: new Date(this.deps.clock.now()), ttlMs: REPLY_TTL_MS });
    this.mqtt?.publish(ackTopic(this.device), JSON.stringify(envelope), { qos: 1 });
  }

  private apply(envelope: Envelope, manifest: Manifest): void {
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

  private async prefetch(manifest: Manifest): Promise<void> {
    for (const entry of manifest.entries) {
      if (this.stopped) return;
      try {
        await this.deps.cache.ensure(entry.media.sha256, `${this.deps.serverUrl}${entry.media.path}`);
        this.emit({ type: 'cached', sha256: entry.media.sha256 });
      } catch (err) {
        this.deps.log.warn('audio fetch failed', { sha256: entry.media.sha256, err: (err as Error).message });
      }
    }
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
        current.preempted = true;
        this.queue.unshift(entry);
        current.playback.stop();
      } else if (resolution === 'queue') {
        this.queue.push(entry);
      } else this.skip(entry, 'CONFLICT');
      return;
    }
    void this.play(entry, false);
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
    this.state.played.push(entry.occurrenceId);
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
    if (!queued && startedAt - scheduledAt > START_GRACE_MS) {
      return this.finish(entry, { ...base, kind: 'playback.failed', endedAt: base.startedAt, playedMs: 0, reason: 'MISSED_WINDOW' });
    }
    if (!(await deps.cache.has(entry.media.sha256))) {
      // Due before its prefetch finished (or the cache lost it): one direct fetch before giving up.
      try {
        await deps.cache.ensure(entry.media.sha256, `${deps.serverUrl}${entry.media.path}`);
      } catch (err) {
        deps.log.warn('audio missing at airtime', { occurrenceId: entry.occurrenceId, err: (err as Error).message });
        return this.finish(entry, { ...base, kind: 'playback.failed', endedAt: base.startedAt, playedMs: 0, reason: 'FILE_MISSING' });
      }
    }
    const volume = Math.min(this.state.volume['*'] ?? 100, volumeCeilingAt(this.state.manifest?.policy, startedAt));
    const playback = deps.player.play(deps.cache.path(entry.media.sha256), { volume });
    const current: NonNullable<Agent['current']> = { entry, playback, startedAt };
    this.current = current;
    this.publishReport({ ...base, kind: 'playback.started' });
    this.emit({ type: 'started', occurrenceId: entry.occurrenceId, at: startedAt });
    const result = await playback.done;
    this.current = undefined;
    if (result.error) deps.log.warn('player failed', { occurrenceId: entry.occurrenceId, err: result.error });
    const endedAt = new Date(deps.clock.now()).toISOString();
    const report: PlaybackReport = result.error
      ? { ...base, kind: 'playback.failed', endedAt, playedMs: result.playedMs, reason: 'PLAYER_ERROR' }
      : { ...base, kind: 'playback.completed', endedAt, playedMs: result.playedMs, ...(result.level ? { level: result.level } : {}) };
    if (!result.completed && !result.error) report.reason = current.preempted ? 'PREEMPTED' : 'STOPPED';
    this.finish(entry, report);
  }

  private finish(entry: ManifestEntry, report: PlaybackReport): void {
    this.publishReport(report);
    this.emit({ type: 'finished', occurrenceId: entry.occurrenceId, report });
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
      stopCurrent: async () => {
        const current = this.current;
        if (!current) return { stopped: null };
        current.playback.stop();
        await current.playback.done;
        return { stopped: current.entry?.occurrenceId ?? 'self-test' };
      },
      setVolume: (zone, level) => {
        this.state.volume = { ...this.state.volume, [zone ?? '*']: level };
        this.deps.store.save(this.state);
        return { volume: this.state.volume };
      },
      selfTest: async () => {
        if (this.current) return 'BUSY';
        const playback = this.deps.player.play({ toneHz: 1000, seconds: SELF_TEST_SECONDS }, { volume: this.state.volume['*'] });
        this.current = { playback, startedAt: this.deps.clock.now() };
        const result = await playback.done;
        this.current = undefined;
        if (!result.completed || !result.level) return 'DEVICE_FAULT';
        return { playedMs: result.playedMs, ...result.level };
      },
      playNow: async (cmd) => {
        if (this.current) return 'BUSY';
        try {
          await this.deps.cache.ensure(cmd.media.sha256, `${this.deps.serverUrl}${cmd.media.path}`);
        } catch {
          return 'FILE_MISSING';
        }
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

  /** Writes the signed report to the outbox, then publishes it; the PUBACK removes it ([P-3.2]). */
  private publishReport(report: PlaybackReport): void {
    const envelope = seal('report', report, this.signer, { now: new Date(this.deps.clock.now()), ttlMs: REPORT_TTL_MS });
    const payload = JSON.stringify(envelope);
    this.deps.outbox.put(envelope.id, payload, this.deps.clock.now());
    this.sendFromOutbox(envelope.id, payload);
  }

  /** Ids handed to the MQTT client and not yet acknowledged: MQTT.js resends those itself after a reconnect. */
  private readonly inFlight = new Set<string>();

  private sendFromOutbox(id: string, payload: string): void {
    if (!this.mqtt || this.inFlight.has(id)) return;
    this.inFlight.add(id);
    this.mqtt.publish(reportTopic(this.device), payload, { qos: 1 }, (err) => {
      this.inFlight.delete(id);
      if (err) return this.deps.log.warn('report not acknowledged, kept in the outbox', { id, err: err.message });
      this.deps.outbox.remove(id);
      this.emit({ type: 'delivered', id });
    });
  }
}

/** The version a refused manifest claims, read without trusting it, for the rejection receipt; 0 when unreadable. */
function claimedVersion(payload: Buffer): number {
  try {
    const v = (JSON.parse(payload.toString('utf8')) as { body?: { version?: unknown } }).body?.version;
    return Number.isInteger(v) && (v as number) >= 0 ? (v as number) : 0;
  } catch {
    return 0;
  }
}
