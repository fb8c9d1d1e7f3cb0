// The edge agent: keeps the station's signed plan, fetches its audio, plays each item on time through
// the player adapter, and reports proof of playback. This class only composes the rooms and owns the
// MQTT session; each room does one job (see README.md). Side effects arrive in `deps`.
import { createPublicKey } from 'node:crypto';
import { parseTopic, publicKeyHex, receiptTopic, type StationState, stateTopic, wallClockSequence } from '#protocol';
import { OnAir } from './airing.ts';
import { AGENT_VERSION, type AgentContext, type AgentDeps, type AgentEvent, type AgentOptions, DEFAULT_AGENT_OPTIONS } from './context.ts';
import { Commands } from './control.ts';
import { LiveRoom } from './live.ts';
import { Playout } from './playout.ts';
import { ReportSender } from './reports.ts';
import type { AgentState } from './store.ts';
import { ManifestSync } from './sync.ts';
import { Telemetry } from './telemetry.ts';
import { enroll, ServerTrust } from './trust.ts';

export { START_GRACE_MS } from './airing.ts';
export * from './context.ts';

export interface Rooms {
  trust: ServerTrust;
  reports: ReportSender;
  sync: ManifestSync;
  onAir: OnAir;
  playout: Playout;
  commands: Commands;
  live: LiveRoom;
  telemetry: Telemetry;
}

export class Agent {
  private readonly options: AgentOptions;
  private readonly listeners: ((e: AgentEvent) => void)[] = [];
  private ctx?: AgentContext;
  private rooms?: Rooms;

  constructor(private readonly deps: AgentDeps) {
    this.options = { ...DEFAULT_AGENT_OPTIONS, ...deps.options };
  }

  identity(): { device: string; station: string } {
    return { device: this.ctx?.device as string, station: this.ctx?.station as string };
  }

  onEvent(fn: (e: AgentEvent) => void): void {
    this.listeners.push(fn);
  }

  /** The running context and rooms, for diagnostics and tests; throws before start(). */
  inspect(): { ctx: AgentContext; rooms: Rooms } {
    if (!this.ctx || !this.rooms) throw new Error('the agent has not started');
    return { ctx: this.ctx, rooms: this.rooms };
  }

  /** Server clock minus this clock ([P-5.9]), once measured. */
  clockOffsetMs(): number | undefined {
    return this.rooms?.telemetry.clockOffsetMs();
  }

  private readonly emit = (e: AgentEvent): void => {
    for (const fn of this.listeners) fn(e);
  };

  async start(): Promise<void> {
    const { deps } = this;
    const state = deps.store.load();
    // Power was cut (or the process killed) mid-play: the journal says what, and what it proves aired.
    const interrupted = deps.store.loadNowPlaying();
    const privateKey = deps.store.deviceKey();
    const deviceKeyHex = publicKeyHex(createPublicKey(privateKey));
    const signer = { kid: `dev:${deviceKeyHex.slice(0, 16)}`, privateKey, nextSeq: wallClockSequence(() => deps.clock.now()) };
    // Files found unreadable were kept aside by the store: said in the log, an event and every telemetry.
    const corrupt = deps.store.corrupt;
    for (const c of corrupt) deps.log.warn('local state file unreadable, kept aside', c);
    if (!state.serverKeys.length && state.serverKeyHex && state.serverKid)
      state.serverKeys = [{ kid: state.serverKid, publicKeyHex: state.serverKeyHex }];
    const trust = new ServerTrust(state, () => deps.clock.now());
    if (!state.enrollment) {
      if (!deps.enrollToken)
        throw new Error(
          'this gateway is not enrolled: start it once with its token from provisioning (--enroll-token-file FILE, "-" for standard input, or LP_AGENT_ENROLL_TOKEN)',
        );
      const r = await enroll(deps, {
        token: deps.enrollToken,
        publicKeyHex: deviceKeyHex,
        agentVersion: AGENT_VERSION,
        protocolVersions: [1],
      });
      trust.trust(r.serverKeys);
      state.enrollment = {
        device: r.device,
        station: r.station,
        mqtt: r.mqtt,
        groups: r.groups,
        ...(r.zones ? { zones: r.zones.map((z) => z.code) } : {}),
      };
      deps.store.save(state);
      this.emit({ type: 'enrolled', device: r.device, station: r.station });
    }
    const enrollment = state.enrollment as NonNullable<AgentState['enrollment']>;
    const ctx: AgentContext = {
      deps,
      options: this.options,
      state,
      signer,
      device: enrollment.device,
      station: enrollment.station,
      stopped: false,
      bootAt: deps.clock.now(),
      emit: this.emit,
      save: () => deps.store.save(state),
      stateFaults: new Set(),
      publishState: () => {
        const faults = [...ctx.stateFaults];
        const online: StationState = {
          station: ctx.station,
          online: true,
          at: new Date(deps.clock.now()).toISOString(),
          agentVersion: AGENT_VERSION,
          protocolVersions: [1],
          ...(faults.length ? { faults } : {}),
        };
        ctx.mqtt?.publish(stateTopic(ctx.device), JSON.stringify(online), { qos: 1, retain: true });
      },
    };
    this.ctx = ctx;
    for (const c of corrupt) this.emit({ type: 'corrupt-state', ...c });
    const rooms = this.compose(
      ctx,
      trust,
      corrupt.map((c) => c.file),
    );
    if (interrupted) rooms.onAir.reportInterrupted(interrupted);
    // Offline-first: whatever plan was stored before a restart is armed before the network is needed.
    if (state.manifest) rooms.playout.arm(rooms.sync.plan() as NonNullable<AgentState['manifest']>);
    rooms.sync.request();
    this.connect(ctx, rooms, enrollment.mqtt);
  }

  /** Builds the rooms in the order they depend on each other. */
  private compose(ctx: AgentContext, trust: ServerTrust, corrupt: string[]): Rooms {
    const reports = new ReportSender(ctx, trust);
    const onAir = new OnAir(ctx, reports);
    const playout = new Playout(ctx, onAir, reports);
    const live = new LiveRoom(ctx, playout, trust.key);
    const commands = new Commands(ctx, trust, { onAir, playout, live });
    const sync = new ManifestSync(
      ctx,
      trust,
      (manifest) => {
        playout.arm(manifest);
        if (manifest.groups)
          commands
            .followGroups(manifest.groups)
            .catch((err: Error) => ctx.deps.log.warn('group topics not followed', { err: err.message }));
      },
      () => onAir.current?.entry?.media.sha256,
    );
    const telemetry = new Telemetry(
      ctx,
      () => ({ playing: onAir.current, missing: sync.missing, corrupt }),
      () => sync.request(),
    );
    onAir.changed = () => void telemetry.send().catch((err: Error) => ctx.deps.log.warn('telemetry failed', { err: err.message }));
    this.rooms = { trust, reports, sync, onAir, playout, commands, live, telemetry };
    return this.rooms;
  }

  /** The MQTT session: online state, subscriptions, and each message to its room. */
  private connect(ctx: AgentContext, rooms: Rooms, login: NonNullable<AgentState['enrollment']>['mqtt']): void {
    const { deps } = ctx;
    const offline: StationState = { station: ctx.station, online: false };
    const mqtt = deps.connectMqtt({ topic: stateTopic(ctx.device), payload: JSON.stringify(offline) }, login);
    ctx.mqtt = mqtt;
    mqtt.on('connect', () => {
      const topics = [...rooms.sync.topics, ...rooms.commands.topics, receiptTopic(ctx.device)];
      ctx.publishState();
      rooms.reports.connected();
      mqtt.subscribe(topics, { qos: 1 }, (err) => {
        if (err) deps.log.warn('subscribe failed', { err: err.message });
        else this.emit({ type: 'subscribed' });
      });
      // Back online: retry downloads now rather than at their backoff, measure the clock, say how we are.
      rooms.sync.retryNow();
      rooms.sync.request();
      rooms.telemetry.beat();
    });
    mqtt.on('message', (topic, payload) => {
      const parsed = parseTopic(topic);
      const channel = parsed?.channel;
      if (channel === 'receipt') return rooms.reports.onReceipt(payload);
      if (channel === 'live') {
        // A frame is handled synchronously; whatever it holds, it must not take the agent down.
        try {
          rooms.live.onFrame(payload);
        } catch (err) {
          deps.log.warn('live frame handling failed', { err: (err as Error).message });
        }
        return;
      }
      // A unit's group topic carries commands for every station below it ([P-2.3]).
      const group = parsed?.scope === 'grp' ? parsed.id : undefined;
      const work =
        channel === 'manifest'
          ? rooms.sync.onManifest(payload)
          : channel === 'cmd'
            ? rooms.commands.onCommand(payload, group)
            : channel === 'plan' && group
              ? rooms.sync.onGroupPlan(payload, group)
              : undefined;
      work?.catch((err: Error) => deps.log.warn(`${channel} handling failed`, { err: err.message }));
    });
    mqtt.on('error', (err) => deps.log.warn('mqtt error', { err: err.message, url: brokerUrl(mqtt.options) }));
  }

  async stop(): Promise<void> {
    const { ctx, rooms } = this;
    if (!ctx || !rooms) return;
    ctx.stopped = true;
    rooms.playout.stop();
    rooms.telemetry.stop();
    rooms.sync.stop();
    rooms.reports.stop();
    rooms.live.close();
    const current = rooms.onAir.current;
    // Reported INTERRUPTED now, through the outbox, rather than found in the journal at the next start.
    if (current) await rooms.onAir.cut(current, 'INTERRUPTED', false);
    const { mqtt } = ctx;
    if (!mqtt) return;
    // A QoS 1 publish waits for a connection that may never come: only say goodbye when connected.
    const connected = mqtt.connected;
    if (connected) {
      const offline = JSON.stringify({ station: ctx.station, online: false });
      await mqtt.publishAsync(stateTopic(ctx.device), offline, { qos: 1, retain: true }).catch(() => {});
    }
    await mqtt.endAsync(!connected);
  }
}

/** The broker an agent connects to, for messages that must say where it tried. */
function brokerUrl(opts: { protocol?: string; hostname?: string; host?: string; port?: number }): string {
  return `${opts.protocol ?? 'mqtt'}://${opts.hostname ?? opts.host}:${opts.port}`;
}
