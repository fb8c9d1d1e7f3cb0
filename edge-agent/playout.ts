// Playout: arms a timer per planned item, and at airtime decides against what plays ([P-5.10]: preempt,
// queue within the start window, skip). Emergencies ([P-5.5]), by command or as an alert entry of the
// manifest (one found late still airs while valid), air at once and repeat as they say; a queued item may
// start late only until its latestStartAt.
import { type Command, type EmergencyRepeat, type Manifest, type ManifestEntry, type PlaybackReport, resolveConflict } from '#protocol';
import { type LiveAiring, type OnAir, START_GRACE_MS } from './airing.ts';
import type { AgentContext } from './context.ts';
import type { ReportSender } from './reports.ts';

/** [P-4.5] an emergency without repeatUntil lasts at most an hour. */
const EMERGENCY_TTL_MS = 3600_000;

export class Playout {
  private readonly timers = new Map<string, () => void>();
  private queue: ManifestEntry[] = [];
  /** The live stream on the air or about to be ([P-5.6]): items due meanwhile wait for it or are skipped. */
  private liveEntry?: ManifestEntry;
  /**
   * Emergencies on the air, by occurrence: the entry airing now or next, the plays still to come, until when,
   * the gap between plays, the timer of the next play while it waits out that gap, and whether a manifest listed it.
   */
  private readonly emergencies = new Map<
    string,
    { entry: ManifestEntry; left: number; until?: number; intervalMs: number; next?: () => void; planned?: boolean }
  >();

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
    const planned = new Set(manifest.entries.map((e) => e.occurrenceId));
    // An alert the plan listed and no longer does was cancelled (its cancel command may never have come).
    for (const [id, emergency] of this.emergencies) {
      if (planned.has(id)) emergency.planned = true;
      else if (emergency.planned) void this.cancelEmergency(id);
    }
    for (const entry of manifest.entries) {
      if (played.has(entry.occurrenceId) || this.emergencies.has(entry.occurrenceId)) continue;
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
    if (isAlert(entry)) {
      const r = this.startEmergency(entry, entry);
      if (r === 'EXPIRED') this.skip(entry, 'EXPIRED_ITEM');
      return;
    }
    // [P-5.5] live speech outranks every item but an emergency: the item waits within its window, or is skipped.
    if (this.liveEntry && entry.priority !== 'emergency') {
      if (entry.latestStartAt) this.queue.push(entry);
      else this.skip(entry, 'CONFLICT');
      return;
    }
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
  skip(entry: ManifestEntry, reason: string): void {
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

  /** An item's report is written: an emergency airs again while it repeats, then the queue goes on. */
  ended(entry: ManifestEntry, report: PlaybackReport): void {
    const { ctx } = this;
    const emergency = this.emergencies.get(entry.occurrenceId);
    if (emergency?.entry === entry) {
      const aired = report.kind === 'playback.completed' && !report.reason && !ctx.stopped;
      emergency.left -= 1;
      const at = ctx.deps.clock.now() + emergency.intervalMs;
      if (aired && emergency.left > 0 && (emergency.until === undefined || at + entry.media.durationMs <= emergency.until)) {
        const next = { ...entry, startsAt: new Date(at).toISOString() };
        emergency.entry = next;
        if (emergency.intervalMs === 0) this.queue.unshift(next);
        else
          emergency.next = ctx.deps.clock.at(at, () => {
            emergency.next = undefined;
            if (!ctx.stopped) this.air(next);
          });
      } else this.emergencies.delete(entry.occurrenceId);
    }
    if (entry === this.liveEntry) this.liveEntry = undefined;
    // Cut to make room for live speech: the queue waits for it, unless an emergency came first.
    else if (this.liveEntry) {
      if (this.queue[0]?.priority !== 'emergency') return;
      this.liveEntry = undefined;
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

  /** Whether an emergency is playing now (live speech then waits: [P-5.5]). */
  emergencyOnAir(): boolean {
    return this.onAir.current?.entry?.priority === 'emergency' && this.emergencies.has(this.onAir.current.entry.occurrenceId);
  }

  /**
   * [P-5.6] Live speech goes on the air now: what plays is cut (PREEMPTED) and does not resume. Resolves
   * when the stream's airing has ended, true when it aired; false when an emergency took the air first.
   */
  async live(entry: ManifestEntry, stream: LiveAiring): Promise<boolean> {
    const current = this.onAir.current;
    if (current?.entry?.priority === 'emergency') return false;
    this.liveEntry = entry;
    if (current) await this.onAir.cut(current, 'PREEMPTED');
    if (this.liveEntry !== entry || this.onAir.current) return false;
    await this.onAir.play(entry, true, stream);
    return true;
  }

  /** [P-5.5] An emergency by command goes on the air now. */
  emergency(cmd: Extract<Command, { action: 'emergency.start' }>): { startedAt: string; repeatUntil?: string } | 'EXPIRED' {
    const now = new Date(this.ctx.deps.clock.now()).toISOString();
    return this.startEmergency({ occurrenceId: cmd.occurrenceId, startsAt: now, priority: 'emergency', media: cmd.media }, cmd);
  }

  /**
   * An emergency goes on the air now, whatever plays is cut (PREEMPTED), on every zone; it lasts until its
   * repeatUntil or an hour and airs at least once in full. One already on the air or aired here is not
   * started again (the command and the manifest may both bring it).
   */
  private startEmergency(
    entry: ManifestEntry,
    repeat: EmergencyRepeat,
  ): { startedAt: string; repeatUntil?: string; already?: true } | 'EXPIRED' {
    const { ctx } = this;
    const now = ctx.deps.clock.now();
    const on = this.emergencies.get(entry.occurrenceId);
    if (on || ctx.state.played.includes(entry.occurrenceId)) return { startedAt: on?.entry.startsAt ?? entry.startsAt, already: true };
    const until = repeat.repeatUntil ? Date.parse(repeat.repeatUntil) : undefined;
    if (until !== undefined && until <= now) return 'EXPIRED';
    if (entry.validUntil && Date.parse(entry.validUntil) < now + entry.media.durationMs) return 'EXPIRED';
    const airing: ManifestEntry = {
      ...entry,
      priority: 'emergency',
      // [P-4.5] an emergency lasts until repeatUntil, or an hour; it airs at least once in full
      validUntil:
        entry.validUntil ??
        new Date(Math.max(until ?? now + EMERGENCY_TTL_MS, now + entry.media.durationMs + START_GRACE_MS)).toISOString(),
    };
    const left = repeat.repeatCount ?? (until !== undefined ? Number.POSITIVE_INFINITY : 1);
    this.emergencies.set(entry.occurrenceId, { entry: airing, left, until, intervalMs: repeat.repeatIntervalMs ?? 0 });
    this.air(airing);
    return { startedAt: new Date(now).toISOString(), ...(repeat.repeatUntil ? { repeatUntil: repeat.repeatUntil } : {}) };
  }

  /** Puts an emergency on the air at once: what plays is cut, and it goes first. */
  private air(entry: ManifestEntry): void {
    const current = this.onAir.current;
    if (!current) return void this.onAir.play(entry, true);
    this.queue.unshift(entry);
    void this.onAir.cut(current, 'PREEMPTED');
  }

  async cancelEmergency(occurrenceId: string): Promise<{ cancelled: string | null }> {
    const emergency = this.emergencies.get(occurrenceId);
    if (!emergency) return { cancelled: null };
    emergency.next?.();
    this.emergencies.delete(occurrenceId);
    this.queue = this.queue.filter((e) => e.occurrenceId !== occurrenceId);
    const current = this.onAir.current;
    if (current?.entry?.occurrenceId === occurrenceId) await this.onAir.cut(current, 'CANCELLED');
    return { cancelled: occurrenceId };
  }
}

/** [P-5.5] A manifest entry that is an alert: it airs as `emergency.start` would, found late too. */
function isAlert(entry: ManifestEntry): boolean {
  return entry.priority === 'emergency' && (entry.repeatCount !== undefined || entry.repeatUntil !== undefined);
}
