// [P-3.4] Telemetry every heartbeat and whenever what plays changes, and [P-5.9] the clock offset
// measured against the server (hourly, best of the last 8 samples).
import { seal, type Telemetry as TelemetryBody, TimeResponse, telemetryTopic } from '#protocol';
import { AGENT_VERSION, type AgentContext, type Airing } from './context.ts';

const TELEMETRY_TTL_MS = 120_000;
const CLOCK_EVERY_MS = 3600_000;
const CLOCK_SAMPLES = 8;

/** What the rest of the agent tells telemetry at each send. */
export interface AgentStatus {
  playing?: Airing;
  /** Audio within the prefetch horizon not on disk yet, as of the last sync. */
  missing: number;
  /** Local files found unreadable and kept aside since the start. */
  corrupt: string[];
}

export class Telemetry {
  private samples: { offsetMs: number; delayMs: number }[] = [];
  private measuredAt = Number.NEGATIVE_INFINITY;
  private timer?: () => void;

  constructor(
    private readonly ctx: AgentContext,
    private readonly status: () => AgentStatus,
    /** Run at each heartbeat besides telemetry (a sync pass). */
    private readonly onBeat: () => void,
  ) {}

  /** Every heartbeat: the clock offset when due, telemetry, and `onBeat`; re-armed after it completes. */
  beat(): void {
    this.timer?.();
    this.timer = undefined;
    const { ctx } = this;
    if (ctx.stopped) return;
    const { clock, log } = ctx.deps;
    const measure = clock.now() - this.measuredAt >= CLOCK_EVERY_MS ? this.measureClock() : Promise.resolve();
    void measure
      .then(() => this.send())
      .catch((err: Error) => log.warn('heartbeat failed', { err: err.message }))
      .finally(() => {
        // Re-armed from when this one ended, so a clock jump fires one heartbeat, not one per missed minute.
        if (!ctx.stopped && !this.timer) this.timer = clock.at(clock.now() + ctx.options.heartbeatMs, () => this.beat());
      });
    this.onBeat();
  }

  stop(): void {
    this.timer?.();
    this.timer = undefined;
  }

  /** Server clock minus this clock, from the sample with the smallest round trip. */
  clockOffsetMs(): number | undefined {
    if (!this.samples.length) return undefined;
    return this.samples.reduce((best, s) => (s.delayMs < best.delayMs ? s : best)).offsetMs;
  }

  /** [P-5.9] offset = ((receivedAt − t0) + (sentAt − t3)) / 2, delay = (t3 − t0) − (sentAt − receivedAt). */
  private async measureClock(): Promise<void> {
    const { clock, fetch, serverUrl, log } = this.ctx.deps;
    this.measuredAt = clock.now();
    const t0 = clock.now();
    const res = await fetch(`${serverUrl}/api/v1/gateway/time`);
    const t3 = clock.now();
    if (!res.ok) throw new Error(`time answered ${res.status}: ${(await res.text().catch(() => '')).slice(0, 200)}`);
    const time = TimeResponse.parse(await res.json());
    const receivedAt = Date.parse(time.receivedAt);
    const sentAt = Date.parse(time.sentAt);
    const sample = { offsetMs: (receivedAt - t0 + (sentAt - t3)) / 2, delayMs: t3 - t0 - (sentAt - receivedAt) };
    this.samples = [...this.samples, sample].slice(-CLOCK_SAMPLES);
    const offset = this.clockOffsetMs();
    if (offset !== undefined && Math.abs(offset) > 1000) log.warn('clock differs from the server by more than 1 s', { offsetMs: offset });
  }

  /** Sent QoS 0 (the next one replaces it). */
  async send(): Promise<void> {
    const { ctx } = this;
    const stats = await ctx.deps.cache.stats();
    if (!ctx.mqtt?.connected) return;
    const now = ctx.deps.clock.now();
    const offset = this.clockOffsetMs();
    const { playing, missing, corrupt } = this.status();
    // [P-5.1.1] A zone the server addresses that this gateway has no output for.
    const unmapped = (ctx.state.enrollment?.zones ?? []).filter((z) => !ctx.deps.player.zones.includes(z));
    const faults = [...corrupt.map((file) => `CORRUPT_STATE:${file}`), ...unmapped.map((z) => `ZONE_UNMAPPED:${z}`)].slice(0, 16);
    const body: TelemetryBody = {
      station: ctx.station,
      uptimeS: Math.max(0, Math.floor((now - ctx.bootAt) / 1000)),
      agentVersion: AGENT_VERSION,
      protocolVersions: [1],
      ...(offset !== undefined ? { clockOffsetMs: Math.round(offset) } : {}),
      diskFreeBytes: stats.diskFreeBytes,
      cache: { items: stats.items, bytes: stats.bytes, missing },
      ...(ctx.state.manifest ? { manifestVersion: ctx.state.manifest.version } : {}),
      ...(playing
        ? {
            nowPlaying: {
              ...(playing.entry ? { occurrenceId: playing.entry.occurrenceId } : {}),
              since: new Date(playing.startedAt).toISOString(),
            },
          }
        : {}),
      volume: ctx.state.volume,
      ...(faults.length ? { faults } : {}),
    };
    const envelope = seal('telemetry', body, ctx.signer, { now: new Date(now), ttlMs: TELEMETRY_TTL_MS });
    ctx.mqtt.publish(telemetryTopic(ctx.device), JSON.stringify(envelope), { qos: 0 });
    ctx.emit({ type: 'telemetry', body });
  }
}
