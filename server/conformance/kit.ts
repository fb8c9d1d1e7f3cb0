// The conformance kit's harness ([P-10]): the real server (embedded broker, SQLite, a data dir of its own)
// plays the server side against one device under test. An observer session on the broker sees every
// message on the device's topics and verifies each with the key the device enrolled; the kit signs its
// own manifests and commands, genuine and broken, with the server's key. The checks are in checks-*.ts.
import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import {
  type BodyType,
  commandTopic,
  type Envelope,
  type ManifestEntry,
  manifestTopic,
  open,
  parseTopic,
  publicKeyFromHex,
  type Signer,
  seal,
} from '#protocol';
import { loadConfig } from '../config.ts';
import { spawnRunner } from '../media/process-runner.ts';
import { type RunningServer, startServer } from '../server.ts';

/** The kit's time: real, or a test's fake clock shared with an in-process device. */
export interface KitClock {
  now(): number;
  /** Returns once the clock has reached `t` (sleeps on the real clock; moves a fake one). */
  passTo(t: number): Promise<void>;
}

export const realClock: KitClock = {
  now: () => Date.now(),
  passTo: (t) => new Promise((resolve) => setTimeout(resolve, Math.max(0, t - Date.now()))),
};

export interface LaunchEnv {
  serverUrl: string;
  mqttUrl: string;
  enrollToken: string;
  station: string;
}

export interface DeviceUnderTest {
  stop(): Promise<void>;
}

export interface KitOptions {
  /**
   * Starts the device under test with what it needs to enroll; resolves once it runs. Called again (the
   * token spent) to restart it after stopping it, unless `restarts` is false.
   */
  launch(env: LaunchEnv): Promise<DeviceUnderTest>;
  /** Whether launch() can start the device again from its own storage (false: a device started by hand). */
  restarts?: boolean;
  dataDir: string;
  clock?: KitClock;
  host?: string;
  port?: number;
  mqttPort?: number;
  /** The server's clock is set this far ahead of the kit's, for the [P-5.9] clock offset check. */
  skewMs?: number;
  /** How long to wait, in real time, for a message the device owes. */
  timeoutMs?: number;
  station?: string;
  progress?(line: string): void;
}

/** One message from the device, as observed on the broker. */
export interface Seen {
  channel: string;
  /** Kit clock at arrival. */
  at: number;
  envelope?: Envelope;
  /** Verified with the enrolled key ([P-4.4]); else the code it failed with. */
  verdict: 'ok' | string;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are read by the checks, whatever the device sent.
  body: any;
}

/** A playback report, single or one item of a batch ([P-3.9]), by its own id. */
export interface SeenReport {
  id: string;
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  report: any;
  verdict: string;
  at: number;
}

export const KIT_VERSION_BASE = 1_000_000;
/** How far ahead of the kit's clock its server's runs, unless told ([P-5.9] check). */
const DEFAULT_SKEW_MS = 2500;

export class Kit {
  readonly clock: KitClock;
  readonly timeoutMs: number;
  readonly skewMs: number;
  readonly seen: Seen[] = [];
  readonly reports: SeenReport[] = [];
  /** Filters each client id subscribed to, as the broker granted them. */
  readonly subscriptions = new Map<string, Set<string>>();
  readonly station: string;
  device = '';
  groups: string[] = [];
  private deviceKey?: KeyObject;
  private deviceKid = '';
  private observer?: MqttClient;
  private publisher?: MqttClient;
  private waiters: (() => void)[] = [];
  private version = KIT_VERSION_BASE;
  private dut?: DeviceUnderTest;
  private env?: LaunchEnv;
  /** The payload of the manifest the device acknowledged applying last. */
  lastApplied = '';
  /** Fields every manifest of the kit carries beyond its entries (the airing checks' policy). */
  planExtra: Record<string, unknown> = {};

  private constructor(
    readonly server: RunningServer,
    readonly opts: KitOptions,
  ) {
    this.clock = opts.clock ?? realClock;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.skewMs = opts.skewMs ?? DEFAULT_SKEW_MS;
    this.station = opts.station ?? 'HN-00001';
  }

  /** The server's clock: the kit's plus the skew. */
  serverNow = (): Date => new Date(this.clock.now() + this.skewMs);

  static async start(opts: KitOptions): Promise<Kit> {
    const clock = opts.clock ?? realClock;
    const skewMs = opts.skewMs ?? DEFAULT_SKEW_MS;
    const config = loadConfig({
      PORT: String(opts.port ?? 0),
      HOST: opts.host ?? '127.0.0.1',
      LP_MQTT_PORT: String(opts.mqttPort ?? 0),
      LP_MQTT_HOST: opts.host ?? '127.0.0.1',
      LP_DATA_DIR: opts.dataDir,
      LP_LOG_LEVEL: 'silent',
      LP_ADMIN_PASSWORD: randomUUID(),
      LP_SEED_POLICY: 'none',
      LP_SEED: 'hanoi-2024',
      // The kit's observer watches the device's topics read-only.
      LP_MQTT_ANONYMOUS: 'true',
    });
    const server = await startServer(config, { now: () => new Date(clock.now() + skewMs), run: spawnRunner });
    const kit = new Kit(server, opts);
    try {
      await kit.observe();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return kit;
  }

  private async observe(): Promise<void> {
    this.server.broker?.onSubscribe((id, filters) => {
      const set = this.subscriptions.get(id) ?? new Set();
      for (const f of filters) set.add(f);
      this.subscriptions.set(id, set);
      this.wake();
    });
    // The server's login publishes; a read-only observer's sees every device channel (the server's own
    // login may not subscribe to what the server sends, receipts included).
    const session = (login: object) =>
      connectAsync(this.server.mqttUrl, {
        ...login,
        clientId: `conformance-${randomUUID().slice(0, 8)}`,
        protocolVersion: 4,
        reconnectPeriod: 1000,
      });
    this.publisher = await session(this.server.brokerLogin ?? {});
    const observer = await session({});
    this.observer = observer;
    observer.on('message', (topic, payload) => this.onMessage(topic, payload));
    await observer.subscribeAsync('lp/v1/dev/+/+', { qos: 1 });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (t?.scope !== 'dev') return;
    if (t.channel === 'state') {
      let body: unknown;
      try {
        body = JSON.parse(payload.toString());
      } catch {
        body = undefined;
      }
      if (t.id === this.device || (body as { station?: string } | undefined)?.station === this.station)
        this.push({ channel: 'state', at: this.clock.now(), verdict: 'ok', body });
      return;
    }
    if (t.id !== this.device || !['ack', 'reply', 'report', 'telemetry', 'receipt'].includes(t.channel)) return;
    const types: Record<string, BodyType[]> = {
      ack: ['manifest-ack'],
      reply: ['reply'],
      report: ['report', 'report-batch'],
      telemetry: ['telemetry'],
      receipt: ['receipt'],
    };
    const own = this.server.key.signer.kid;
    const keys = (kid: string) =>
      t.channel === 'receipt' ? (kid === own ? this.server.key.publicKey : undefined) : kid === this.deviceKid ? this.deviceKey : undefined;
    const opened = open(payload, types[t.channel] as BodyType[], { keys, now: this.serverNow() });
    const seen: Seen = opened.ok
      ? { channel: t.channel, at: this.clock.now(), envelope: opened.envelope, verdict: 'ok', body: opened.body }
      : { channel: t.channel, at: this.clock.now(), verdict: opened.code, body: parseBody(payload) };
    if (t.channel === 'report') {
      const env = seen.envelope;
      if (env?.type === 'report-batch')
        for (const item of seen.body.reports ?? [])
          this.reports.push({ id: item.id, report: item.report, verdict: seen.verdict, at: seen.at });
      else this.reports.push({ id: env?.id ?? '', report: seen.body, verdict: seen.verdict, at: seen.at });
    }
    this.push(seen);
  }

  private push(seen: Seen): void {
    this.seen.push(seen);
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /**
   * Resolves with the first value `find` returns (checked now and at every new observation), or undefined
   * after `timeoutMs` of real time.
   */
  async until<T>(find: () => T | undefined, timeoutMs = this.timeoutMs): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Provisions a device for the station, launches the device under test with its token, and waits for its key. */
  async launch(): Promise<{ enrolled: boolean; observed: string }> {
    const { server } = this;
    const station = await server.db.station.findUnique({ where: { code: this.station } });
    if (!station) throw new Error(`station ${this.station} is not in the seeded map`);
    this.groups = (await server.units.tree()).groups(station.unitId);
    const [provisioned] = (await server.devices.provisionMany([this.station])).created;
    if (!provisioned) throw new Error(`station ${this.station} already has a gateway`);
    this.env = { serverUrl: server.url, mqttUrl: server.mqttUrl, enrollToken: provisioned.enrollToken, station: this.station };
    this.dut = await this.opts.launch(this.env);
    const device = await this.untilAsync(() => server.db.device.findFirst({ where: { stationId: station.id, enrolledAt: { not: null } } }));
    if (!device?.publicKeyHex) return { enrolled: false, observed: 'no enrollment with the token' };
    this.device = device.code;
    this.deviceKey = publicKeyFromHex(device.publicKeyHex);
    this.deviceKid = `dev:${device.publicKeyHex.slice(0, 16)}`;
    return { enrolled: true, observed: `device ${device.code} enrolled with key ${this.deviceKid}` };
  }

  /** Stops the device under test and starts it again from its own storage; false when it cannot be. */
  async restart(): Promise<boolean> {
    if (this.opts.restarts === false || !this.env) return false;
    await this.dut?.stop();
    this.dut = await this.opts.launch(this.env);
    return true;
  }

  /** As until(), for a lookup that queries (polled every 100 ms of real time). */
  async untilAsync<T>(find: () => Promise<T | null | undefined>, timeoutMs = this.timeoutMs): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await find();
      if (found) return found;
      if (Date.now() > deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** A new manifest version, above the server's own. */
  nextVersion(): number {
    return ++this.version;
  }

  /** The server's signer, or one with another key (same kid unless given) that continues the server's sequence. */
  signer(over: { rogueKid?: string; rogue?: boolean; seq?: number } = {}): Signer {
    const own = this.server.key.signer;
    if (!over.rogue && over.seq === undefined) return own;
    const privateKey = over.rogue ? generateKeyPairSync('ed25519').privateKey : own.privateKey;
    return { kid: over.rogueKid ?? own.kid, privateKey, nextSeq: over.seq !== undefined ? () => over.seq as number : () => own.nextSeq() };
  }

  manifestBody(version: number, entries: ManifestEntry[], extra: Record<string, unknown> = {}) {
    const now = this.serverNow();
    return {
      station: this.station,
      version,
      generatedAt: now.toISOString(),
      horizonUntil: new Date(now.getTime() + 86_400_000).toISOString(),
      entries,
      serverKeys: this.server.key.trusted(),
      ...this.planExtra,
      ...extra,
    };
  }

  /** Seals a message; `issuedAt` defaults to the server's now. */
  seal(type: BodyType, body: unknown, opts: { signer?: Signer; issuedAt?: Date; ttlMs: number }): string {
    const envelope = seal(type, body as never, opts.signer ?? this.signer(), { now: opts.issuedAt ?? this.serverNow(), ttlMs: opts.ttlMs });
    return JSON.stringify(envelope);
  }

  async publishManifest(payload: string, retain = false): Promise<void> {
    await this.publisher?.publishAsync(manifestTopic(this.device), payload, { qos: 1, retain });
  }

  async publishCommand(payload: string): Promise<void> {
    await this.publisher?.publishAsync(commandTopic(this.device), payload, { qos: 1 });
  }

  /** A genuine manifest (retained, as the server's are); resolves with its applied ack, or undefined. */
  async applied(entries: ManifestEntry[], extra: Record<string, unknown> = {}): Promise<{ version: number; ack?: Seen; payload: string }> {
    const version = this.nextVersion();
    const payload = this.seal('manifest', this.manifestBody(version, entries, extra), { ttlMs: 8 * 86_400_000 });
    const from = this.seen.length;
    await this.publishManifest(payload, true);
    const ack = await this.until(() => this.acksSince(from).find((s) => s.body?.version === version && s.body?.status === 'applied'));
    if (ack) this.lastApplied = payload;
    return { version, ack, payload };
  }

  acksSince(from: number): Seen[] {
    return this.seen.slice(from).filter((s) => s.channel === 'ack');
  }

  /** Waits for a report of an occurrence of a kind (any when not given). */
  report(occurrenceId: string, kinds: string[], timeoutMs = this.timeoutMs): Promise<SeenReport | undefined> {
    return this.until(() => this.reported(occurrenceId, kinds), timeoutMs);
  }

  /** A report of an occurrence of one of these kinds seen so far. */
  reported(occurrenceId: string, kinds: string[]): SeenReport | undefined {
    return this.reports.find((r) => r.report?.occurrenceId === occurrenceId && kinds.includes(r.report?.kind));
  }

  /** The device's first `state` saying online (or, with `online` false, offline), from observation `from` on. */
  stateSince(from = 0, online = true): Seen | undefined {
    return this.seen.slice(from).find((s) => s.channel === 'state' && s.body?.online === online);
  }

  /** The device's reply naming `txn`, from observation `from` on. */
  replySince(from: number, txn: string): Seen | undefined {
    return this.seen.slice(from).find((s) => s.channel === 'reply' && s.body?.txn === txn);
  }

  async stop(): Promise<void> {
    await this.dut?.stop().catch(() => {});
    await this.observer?.endAsync(true).catch(() => {});
    await this.publisher?.endAsync(true).catch(() => {});
    await this.server.stop();
  }
}

function parseBody(payload: Buffer): unknown {
  try {
    return (JSON.parse(payload.toString()) as { body?: unknown }).body;
  } catch {
    return undefined;
  }
}
