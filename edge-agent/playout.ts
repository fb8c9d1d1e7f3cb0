// Playout: arms a timer per planned item, and at airtime decides against what plays ([P-5.10]: preempt,
// queue within the start window, skip). Emergencies by command ([P-5.5]) air at once and repeat until
// their repeatUntil; a queued item may start late only until its latestStartAt.
import { type Command, type Manifest, type ManifestEntry, type PlaybackReport, resolveConflict } from '#protocol';
import { type OnAir, START_GRACE_MS } from './airing.ts';
import type { AgentContext } from './context.ts';
import type { ReportSender } from './reports.ts';

/** [P-4.5] an emergency without repeatUntil lasts at most an hour. */
const EMERGENCY_TTL_MS = 3600_000;

export class Playout {
  private readonly timers = new Map<string, () => void>();
  private queue: ManifestEntry[] = [];
  /** Emergencies started by command, by occurrence: the entry airing now or next, and whether it repeats. */
  private readonly emergencies = new Map<string, { entry: ManifestEntry; repeatUntil?: number }>();

  constructor(
    private readonly ctx: AgentContext,
    private readonly onAir: OnAir,
    private readonly reports: ReportSender,
  ) {
    onAir.ended = (entry, report) => this.ended(entry, report);
  }

  /** One timer per item not yet started here; replaces the timers of the previous plan. */
  arm(manifest: Manifest): void {
    this.stop();
    const played = new Set(this.ctx.state.played);
    for (const entry of manifest.entries) {
      if (played.has(entry.occurrenceId)) continue;
      const at = Date.parse(entry.startsAt);
      this.timers.set(
        entry.occurrenceId,
        this.ctx.deps.clock.at(at, () => this.due(entry)),
      );
      this.ctx.emit({ type: 'armed', occurrenceId: entry.occurrenceId, at });
    }
  }

  stop(): void {
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
  }

  private due(entry: ManifestEntry): void {
    this.timers.delete(entry.occurrenceId);
    if (this.ctx.stopped) return;
    const current = this.onAir.current;
    if (!current) return void this.onAir.play(entry, false);
    // [P-5.10] the due item decides: preempt what plays, wait for it within its slack, or skip.
    const now = this.ctx.deps.clock.now();
    const playing = current.entry ?? { priority: 'normal' as const, media: { durationMs: 0 } };
    const waitMs = Math.max(0, current.startedAt + playing.media.durationMs - now);
    const slackMs = entry.latestStartAt ? Date.parse(entry.latestStartAt) - Date.parse(entry.startsAt) : 0;
    const resolution = resolveConflict({ priority: entry.priority, conflict: entry.conflict, slackMs }, playing, waitMs);
    if (resolution === 'preempt') {
      this.queue.unshift(entry);
      void this.onAir.cut(current, 'PREEMPTED');
    } else if (resolution === 'queue') this.queue.push(entry);
    else this.skip(entry, 'CONFLICT');
  }

  /** Reports an item that will not air, without touching what plays now. */
  private skip(entry: ManifestEntry, reason: string): void {
    const { ctx } = this;
    const at = new Date(ctx.deps.clock.now()).toISOString();
    this.onAir.markPlayed(entry.occurrenceId);
    const report: PlaybackReport = {
      kind: 'playback.failed',
      station: ctx.station,
      occurrenceId: entry.occurrenceId,
      sha256: entry.media.sha256,
      scheduledAt: entry.startsAt,
      startedAt: at,
      endedAt: at,
      expectedMs: entry.media.durationMs,
      playedMs: 0,
      reason,
    };
    this.reports.publish(report);
    ctx.emit({ type: 'finished', occurrenceId: entry.occurrenceId, report });
  }

  /** An item's report is written: an emergency airs again until its repeatUntil, then the queue goes on. */
  ended(entry: ManifestEntry, report: PlaybackReport): void {
    const { ctx } = this;
    const emergency = this.emergencies.get(entry.occurrenceId);
    if (emergency?.entry === entry) {
      const again = report.kind === 'playback.completed' && !report.reason && !ctx.stopped;
      const now = ctx.deps.clock.now();
      if (again && emergency.repeatUntil !== undefined && now + entry.media.durationMs <= emergency.repeatUntil) {
        const next = { ...entry, startsAt: new Date(now).toISOString() };
        emergency.entry = next;
        this.queue.unshift(next);
      } else this.emergencies.delete(entry.occurrenceId);
    }
    for (let next = this.queue.shift(); next && !ctx.stopped; next = this.queue.shift()) {
      if (next.latestStartAt && ctx.deps.clock.now() > Date.parse(next.latestStartAt)) {
        this.skip(next, 'CONFLICT');
        continue;
      }
      void this.onAir.play(next, true);
      return;
    }
  }

  /** [P-5.5] An emergency goes on the air now: whatever plays is cut (PREEMPTED), on every zone. */
  emergency(cmd: Extract<Command, { action: 'emergency.start' }>): { startedAt: string; repeatUntil?: string } | 'EXPIRED' {
    const now = this.ctx.deps.clock.now();
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
    const current = this.onAir.current;
    if (!current) void this.onAir.play(entry, true);
    else {
      this.queue.unshift(entry);
      void this.onAir.cut(current, 'PREEMPTED');
    }
    return { startedAt: entry.startsAt, ...(cmd.repeatUntil ? { repeatUntil: cmd.repeatUntil } : {}) };
  }

  async cancelEmergency(occurrenceId: string): Promise<{ cancelled: string | null }> {
    if (!this.emergencies.delete(occurrenceId)) return { cancelled: null };
    this.queue = this.queue.filter((e) => e.occurrenceId !== occurrenceId);
    const current = this.onAir.current;
    if (current?.entry?.occurrenceId === occurrenceId) await this.onAir.cut(current, 'CANCELLED');
    return { cancelled: occurrenceId };
  }
}
