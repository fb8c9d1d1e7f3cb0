// Station simulator: many lightweight virtual gateways in one process, speaking the real protocol
// (enrollment over HTTP, MQTT login with the issued credentials, signed manifests verified with the
// server key, signed acknowledgements, and signed playback reports from a null player that "plays"
// each item for its duration on the injected clock). For tests, benchmarks and demonstrations; it is
// not the agent (no audio, no durable state).
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { connect, type MqttClient } from 'mqtt';
import {
  ackTopic,
  type BodyOf,
  type BodyType,
  commandTopic,
  effectivePlan,
  type GroupPlanHeld,
  groupAiringId,
  groupCommandTopic,
  groupPlanTopic,
  groupsHeld,
  type HeldPlans,
  type Manifest,
  type ManifestEntry,
  manifestTopic,
  parseTopic,
  publicKeyHex,
  receiptTopic,
  replyTopic,
  reportTopic,
  type Signer,
  seal,
  stateTopic,
  wallClockSequence,
} from '#protocol';
import { Backoff, connectWithBackoff } from './backoff.ts';
import type { Clock } from './clock.ts';
import { emptyTrustMemory, enroll, ServerTrust } from './trust.ts';

const TTL_MS = 3600_000;
const REPORT_TTL_MS = 30 * 86_400_000;

export interface SimulatorDeps {
  serverUrl: string;
  mqttUrl: string;
  clock: Clock;
  fetch: typeof fetch;
  /**
   * Reconnect as the agent does ([P-1.2]: 1 s doubling to 300 s, jittered) instead of a fixed 2–5 s
   * period; for measuring reconnect storms.
   */
  agentBackoff?: boolean;
  /** Uniform in [0, 1), for jitter. */
  random?: () => number;
  /**
   * [P-3.10] Holds group plans as the agent does (follows the units' plan topics, acks with `groups`);
   * absent, it is a v1.0 device that knows nothing of them and gets complete manifests.
   */
  groupPlans?: boolean;
}

export type SimEvent =
  | { type: 'acked'; device: string; version: number; status: 'applied' | 'rejected'; groups?: GroupPlanHeld[] }
  | { type: 'reported'; device: string; occurrenceId: string; kind: string; id: string }
  /** The MQTT session came back after a lost connection. */
  | { type: 'reconnected'; device: string }
  /** [P-3.8] The server's receipt named a report: stored, or refused for good with a code. */
  | { type: 'receipted'; device: string; id: string; refused?: string };

/** How a virtual gateway misbehaves, for compliance scenarios; the default plays everything on time in full. */
export interface SimBehaviour {
  /** Starts each item this long after its scheduled instant. */
  lateMs?: number;
  /** Plays digital silence: the proof's measured level is -200 dBFS. */
  silent?: boolean;
  /** Each item is cut after this much play and reported PREEMPTED. */
  cutAfterMs?: number;
  /** Down: never plays nor reports anything (it still syncs and acks). */
  down?: boolean;
}

/** One virtual gateway. */
export class VirtualGateway {
  private readonly privateKey: KeyObject;
  private readonly signer: Signer;
  private mqtt?: MqttClient;
  private login?: { clientId: string; username: string; password: string };
  /** [P-4.3], [P-4.7] The agent's own trust and replay code, with its memory kept in this process. */
  private readonly trust: ServerTrust;
  private device = '';
  private station = '';
  /** [P-2.5] The units whose group topics it follows (enrollment's). */
  private groups: string[] = [];
  private readonly timers = new Map<string, () => void>();
  private readonly played = new Set<string>();
  /** Reports sent and not yet named by a receipt, by envelope id (a memory-only outbox). */
  readonly unreceipted = new Map<string, string>();
  private readonly resendBackoff: Backoff;
  private resendTimer?: () => void;
  manifest?: Manifest;
  /** [P-3.10] The latest group plan per unit (group-plan mode only). */
  private readonly held: HeldPlans = {};

  constructor(
    private readonly deps: SimulatorDeps,
    private readonly emit: (e: SimEvent) => void,
    private readonly behaviour: SimBehaviour = {},
  ) {
    this.privateKey = generateKeyPairSync('ed25519').privateKey;
    const hex = publicKeyHex(createPublicKey(this.privateKey));
    this.signer = { kid: `dev:${hex.slice(0, 16)}`, privateKey: this.privateKey, nextSeq: wallClockSequence(() => deps.clock.now()) };
    this.resendBackoff = new Backoff({ random: deps.random });
    this.trust = new ServerTrust(emptyTrustMemory(), () => deps.clock.now());
  }

  get id(): string {
    return this.device;
  }

  /** Enrolls with a one-time token and connects; resolves once subscribed. */
  async start(enrollToken: string): Promise<void> {
    const enrolled = await enroll(this.deps, {
      token: enrollToken,
      publicKeyHex: publicKeyHex(createPublicKey(this.privateKey)),
      agentVersion: 'simulator',
      protocolVersions: [1],
    });
    this.device = enrolled.device;
    this.station = enrolled.station;
    this.groups = enrolled.groups;
    this.trust.trust(enrolled.serverKeys);
    this.login = enrolled.mqtt;
    await this.connect();
  }

  /** Connects with the enrollment login (again, after stop()); resolves once subscribed. */
  async connect(): Promise<void> {
    const { deps, login } = this;
    if (!login) throw new Error('not enrolled');
    const offline = JSON.stringify({ station: this.station, online: false });
    const options = {
      clientId: login.clientId,
      username: login.username,
      password: login.password,
      protocolVersion: 4 as const,
      will: { topic: stateTopic(this.device), payload: Buffer.from(offline), qos: 1 as const, retain: true },
    };
    this.mqtt = deps.agentBackoff
      ? connectWithBackoff(deps.mqttUrl, options, new Backoff({ random: deps.random }))
      : connect(deps.mqttUrl, { ...options, reconnectPeriod: 2000 + Math.floor(Math.random() * 3000) });
    this.mqtt.on('message', (topic, payload) => {
      if (topic === manifestTopic(this.device)) this.onManifest(payload);
      else if (topic === commandTopic(this.device)) this.onCommand(payload);
      else if (topic.endsWith('/cmd')) this.onCommand(payload, true);
      else if (topic.endsWith('/plan')) this.onGroupPlan(payload, topic);
      else if (topic === receiptTopic(this.device)) this.onReceipt(payload);
    });
    this.mqtt.on('error', () => {});
    const online = JSON.stringify({ station: this.station, online: true, agentVersion: 'simulator', protocolVersions: [1] });
    const topics = [
      manifestTopic(this.device),
      commandTopic(this.device),
      receiptTopic(this.device),
      ...this.groups.map(groupCommandTopic),
      ...(deps.groupPlans ? this.groups.map(groupPlanTopic) : []),
    ];
    // Every (re)connect: say so, subscribe (the first time below, awaited), and send what no receipt has named yet.
    let first = true;
    this.mqtt.on('connect', () => {
      this.mqtt?.publish(stateTopic(this.device), online, { qos: 1, retain: true });
      if (!first) {
        this.mqtt?.subscribe(topics, { qos: 1 });
        this.emit({ type: 'reconnected', device: this.device });
      }
      first = false;
      this.resend();
    });
    await new Promise<void>((resolve, reject) => {
      this.mqtt?.once('connect', () => resolve());
      this.mqtt?.once('error', (err) => reject(new Error(`MQTT at ${deps.mqttUrl}: ${err.message}`)));
    });
    await this.mqtt.subscribeAsync(topics, { qos: 1 });
  }

  /** Whether the MQTT session is up. */
  get connected(): boolean {
    return this.mqtt?.connected ?? false;
  }

  private resend(): void {
    if (this.mqtt?.connected)
      for (const payload of this.unreceipted.values()) this.mqtt.publish(reportTopic(this.device), payload, { qos: 1 });
    this.armResend();
  }

  /** [P-3.8] Unreceipted reports go out again after the [P-1.2] backoff's next wait. */
  private armResend(): void {
    this.resendTimer?.();
    this.resendTimer = undefined;
    if (!this.unreceipted.size) {
      this.resendBackoff.reset();
      return;
    }
    this.resendTimer = this.deps.clock.at(this.deps.clock.now() + this.resendBackoff.next(), () => {
      this.resendTimer = undefined;
      this.resend();
    });
  }

  private onReceipt(payload: Buffer): void {
    const opened = this.trust.openIdempotent(payload, 'receipt');
    if (!opened.ok || opened.body.station !== this.station) return;
    for (const id of opened.body.stored) if (this.unreceipted.delete(id)) this.emit({ type: 'receipted', device: this.device, id });
    for (const { id, code } of opened.body.refused)
      if (this.unreceipted.delete(id)) this.emit({ type: 'receipted', device: this.device, id, refused: code });
    this.resendBackoff.reset();
    this.armResend();
  }

  async stop(): Promise<void> {
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    this.resendTimer?.();
    this.resendTimer = undefined;
    // A clean DISCONNECT when connected (no last-will flood when thousands stop together).
    await this.mqtt?.endAsync(!this.mqtt.connected);
  }

  /** Seals and publishes a message; returns its envelope id and the payload as sent. */
  private publish<T extends BodyType>(topic: string, type: T, body: BodyOf<T>, ttlMs = TTL_MS): { id: string; payload: string } {
    const envelope = seal(type, body, this.signer, { now: new Date(this.deps.clock.now()), ttlMs });
    const payload = JSON.stringify(envelope);
    this.mqtt?.publish(topic, payload, { qos: 1 });
    return { id: envelope.id, payload };
  }

  private onManifest(payload: Buffer): void {
    const opened = this.trust.open(payload, 'manifest');
    if (!opened.ok) {
      // The retained manifest again at a reconnect: acknowledged again, as the agent does ([P-3.7]).
      if (opened.code === 'REPLAYED' && this.trust.isApplied(payload) && this.manifest) this.ackApplied();
      else if (opened.code !== 'REPLAYED') this.ack({ station: this.station, version: 0, status: 'rejected', code: opened.code });
      return;
    }
    const m = opened.body;
    if (m.station !== this.station) {
      this.ack({ station: this.station, version: m.version, status: 'rejected', code: 'WRONG_STATION' });
      return;
    }
    this.trust.adopt(opened.envelope, m.serverKeys);
    this.trust.applied(opened.envelope);
    this.manifest = m;
    this.arm(effectivePlan(m, this.held).entries);
    this.ackApplied();
  }

  /** [P-3.10] A unit's group plan: kept when newer (its version is its replay guard), armed and acked when named. */
  private onGroupPlan(payload: Buffer, topic: string): void {
    const unit = parseTopic(topic)?.id;
    const opened = unit ? this.trust.openGroupPlan(payload, unit, this.held) : undefined;
    if (!unit || !opened || 'code' in opened) return;
    this.held[unit] = opened.plan;
    if (!this.manifest?.groupPlans?.some((r) => r.unit === unit)) return;
    this.arm(effectivePlan(this.manifest, this.held).entries);
    this.ackApplied();
  }

  /** [P-3.7] The applied manifest acknowledged; in group-plan mode with the plans held ([P-3.10]). */
  private ackApplied(): void {
    const m = this.manifest;
    if (!m) return;
    const groups = this.deps.groupPlans ? { groups: groupsHeld(m, this.held) } : {};
    this.ack({
      station: this.station,
      version: m.version,
      status: 'applied',
      entries: effectivePlan(m, this.held).entries.length,
      ...groups,
    });
  }

  private ack(body: BodyOf<'manifest-ack'>): void {
    this.publish(ackTopic(this.device), 'manifest-ack', body);
    const groups = body.status === 'applied' && body.groups ? { groups: body.groups } : {};
    this.emit({ type: 'acked', device: this.device, version: body.version, status: body.status, ...groups });
  }

  private arm(entries: ManifestEntry[]): void {
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    if (this.behaviour.down) return;
    for (const e of entries) {
      if (this.played.has(e.occurrenceId)) continue;
      this.timers.set(
        e.occurrenceId,
        this.deps.clock.at(Date.parse(e.startsAt) + (this.behaviour.lateMs ?? 0), () => this.play(e)),
      );
    }
  }

  /** The null player: the item "plays" for its duration on the clock; the level is a fixed speech-like figure. */
  private play(e: ManifestEntry): void {
    this.played.add(e.occurrenceId);
    const startedAt = new Date(this.deps.clock.now()).toISOString();
    const base = {
      station: this.station,
      occurrenceId: e.occurrenceId,
      sha256: e.media.sha256,
      scheduledAt: e.startsAt,
      startedAt,
      expectedMs: e.media.durationMs,
    };
    this.report({ kind: 'playback.started', ...base });
    const { cutAfterMs, silent } = this.behaviour;
    const playedMs = Math.min(e.media.durationMs, cutAfterMs ?? Number.POSITIVE_INFINITY);
    this.timers.set(
      `${e.occurrenceId}:end`,
      this.deps.clock.at(this.deps.clock.now() + playedMs, () =>
        this.report({
          kind: 'playback.completed',
          ...base,
          endedAt: new Date(this.deps.clock.now()).toISOString(),
          playedMs,
          level: silent ? { rmsDbfs: -200, peakDbfs: -200 } : { rmsDbfs: -20, peakDbfs: -3 },
          ...(playedMs < e.media.durationMs ? { reason: 'PREEMPTED' } : {}),
        }),
      ),
    );
  }

  private report(body: BodyOf<'report'>): void {
    const { id, payload } = this.publish(reportTopic(this.device), 'report', body, REPORT_TTL_MS);
    this.unreceipted.set(id, payload);
    if (!this.resendTimer) this.armResend();
    this.emit({ type: 'reported', device: this.device, occurrenceId: body.occurrenceId, kind: body.kind, id });
  }

  /**
   * [P-5.5] An emergency (on its own topic or a unit's, `group`) "plays" at once, reported like any item
   * and answered ok; a cancel is answered ok. Anything else is NOT_SUPPORTED.
   */
  private onCommand(payload: Buffer, group = false): void {
    const opened = this.trust.open(payload, 'command');
    if (!opened.ok) return;
    this.trust.remember(opened.envelope);
    const cmd = opened.body;
    const { txn, action } = cmd;
    if (cmd.action === 'emergency.start' || cmd.action === 'emergency.cancel') {
      const occurrenceId = group ? groupAiringId(cmd.occurrenceId, this.station) : cmd.occurrenceId;
      const now = new Date(this.deps.clock.now()).toISOString();
      if (cmd.action === 'emergency.start' && !this.played.has(occurrenceId) && !this.behaviour.down)
        this.play({ occurrenceId, startsAt: now, priority: 'emergency', media: cmd.media });
      this.publish(replyTopic(this.device), 'reply', { txn, action, ok: true, result: { startedAt: now } });
      return;
    }
    this.publish(replyTopic(this.device), 'reply', {
      txn,
      action,
      ok: false,
      error: { code: 'NOT_SUPPORTED', message: 'a simulated gateway only syncs, reports and airs emergencies' },
    });
  }
}

/** Many virtual gateways; `events` reports every ack and report they send. */
export class Simulator {
  readonly gateways: VirtualGateway[] = [];
  private readonly listeners: ((e: SimEvent) => void)[] = [];

  constructor(private readonly deps: SimulatorDeps) {}

  onEvent(fn: (e: SimEvent) => void): () => void {
    this.listeners.push(fn);
    return () => this.listeners.splice(this.listeners.indexOf(fn), 1);
  }

  /** Enrolls and connects one gateway per token, `concurrency` at a time; `behaviour(i)` for the i-th token's gateway. */
  async start(tokens: string[], concurrency = 100, behaviour: (i: number) => SimBehaviour = () => ({})): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < tokens.length) {
        const i = next++;
        const token = tokens[i] as string;
        const gw = new VirtualGateway(
          this.deps,
          (e) => {
            for (const fn of this.listeners) fn(e);
          },
          behaviour(i),
        );
        await gw.start(token);
        this.gateways.push(gw);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, worker));
  }

  async stop(): Promise<void> {
    await Promise.all(this.gateways.map((g) => g.stop()));
  }
}
