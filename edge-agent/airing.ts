// Airing: one item on the air at a time through the player, journalled before it starts and every
// measured second ([P-3.2]), at the zone levels the volume and the policy's ceiling allow ([P-3.1.3]).
import { type ManifestEntry, type PlaybackReport, quietRangeAt, volumeCeilingAt } from '#protocol';
import type { AgentContext, Airing } from './context.ts';
import type { Levels, Source } from './player.ts';
import { relayPlayback } from './relay.ts';
import type { ReportSender } from './reports.ts';
import type { NowPlaying } from './store.ts';

/** [P-5.6] A live stream as the player airs it: its audio, and what its end report says about it. */
export interface LiveAiring {
  source: Source;
  /** The stream's length as this device knows it at the end, ms. */
  expectedMs(): number;
  /** How much of it went out in its turn, ms: frames played, and silent ones skipped to shorten the delay (not holes). */
  playedMs(): number;
  stats(): NonNullable<PlaybackReport['live']>;
  /** Why it ended, when not as it should (e.g. LIVE_GAP). */
  reason(): string | undefined;
}

import { fetchAudio } from './sync.ts';

/** An item found more than this late (agent was down), and past its start window, is not started; it is reported missed. */
export const START_GRACE_MS = 30_000;
const SELF_TEST_SECONDS = 2;

export class OnAir {
  /**
   * What plays now, or is about to (claimed before the awaits that precede the player, so an item due
   * meanwhile sees it); `why` says who ended it early ([P-5.10]).
   */
  current?: Airing;
  /** Told when an item's report is written: what airs next (set by playout). */
  ended: (entry: ManifestEntry, report: PlaybackReport) => void = () => {};
  /** Told when what plays changes (set by telemetry). */
  changed: () => void = () => {};

  constructor(
    private readonly ctx: AgentContext,
    private readonly reports: ReportSender,
  ) {}

  /** Reports the item's end; `journalled` when it had started, so its journal is closed after the report is durable. */
  finish(entry: ManifestEntry, report: PlaybackReport, journalled = false): void {
    this.reports.publish(report);
    if (journalled) this.ctx.deps.store.clearNowPlaying();
    this.ctx.emit({ type: 'finished', occurrenceId: entry.occurrenceId, report });
    this.ended(entry, report);
  }

  /** Marks an occurrence as started here, durably, so a restart never airs it twice. */
  markPlayed(occurrenceId: string): void {
    const { state } = this.ctx;
    if (!state.played.includes(occurrenceId)) state.played.push(occurrenceId);
    this.ctx.save();
  }

  /** [P-3.2] The journal outlived the process: the item was cut by a power loss or a kill. */
  reportInterrupted(was: NowPlaying): void {
    const { ctx } = this;
    const report: PlaybackReport = {
      kind: 'playback.completed',
      station: ctx.station,
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
    this.markPlayed(was.entry.occurrenceId);
    this.reports.publish(report);
    ctx.deps.store.clearNowPlaying();
    ctx.deps.log.warn('playback was interrupted by a restart', { occurrenceId: was.entry.occurrenceId, playedMs: report.playedMs });
    ctx.emit({ type: 'finished', occurrenceId: was.entry.occurrenceId, report });
  }

  /**
   * Plays an item now: `queued` when it waited behind another, so its start window no longer applies;
   * `live` for a live stream, which has no file.
   */
  async play(entry: ManifestEntry, queued: boolean, live?: LiveAiring): Promise<void> {
    const { ctx } = this;
    const { deps } = ctx;
    const scheduledAt = Date.parse(entry.startsAt);
    const startedAt = deps.clock.now();
    const base = {
      station: ctx.station,
      occurrenceId: entry.occurrenceId,
      sha256: entry.media.sha256,
      scheduledAt: entry.startsAt,
      startedAt: new Date(startedAt).toISOString(),
      // A live stream's length is known at its end; a relay lasts its slot ([P-5.11]).
      expectedMs: live ? 0 : (entry.relay?.slotMs ?? entry.media.durationMs),
    };
    const refuse = (reason: string) =>
      this.finish(entry, { ...base, kind: 'playback.failed', endedAt: base.startedAt, playedMs: 0, reason });
    this.markPlayed(entry.occurrenceId);

    // [P-3.1.1] a stale item never airs, even when a manifest says so
    if (entry.validUntil && startedAt + entry.media.durationMs > Date.parse(entry.validUntil)) return refuse('EXPIRED_ITEM');
    // Quiet hours hold for live speech too, unless it was started as an emergency.
    const quiet = entry.priority === 'emergency' ? undefined : quietRangeAt(ctx.state.manifest?.policy, startedAt);
    if (quiet) {
      // [P-3.1.3] quiet hours hold on the gateway even against its own plan (a relay set to air at 03:15)
      deps.log.warn('refused in quiet hours', { occurrenceId: entry.occurrenceId, quiet });
      return refuse('QUIET_HOURS');
    }
    // Found late (the gateway was down): it still airs while its start window is open ([P-5.4]).
    const deadline = Math.max(scheduledAt + START_GRACE_MS, entry.latestStartAt ? Date.parse(entry.latestStartAt) : 0);
    if (!queued && startedAt > deadline) return refuse('MISSED_WINDOW');
    const zones = this.zoneLevels(entry, startedAt);
    if (!zones) {
      deps.log.warn("none of the item's zones is on this gateway", { occurrenceId: entry.occurrenceId, zones: entry.zones });
      return refuse('UNKNOWN_ZONE');
    }
    const played = { ...base, zones: Object.keys(zones) };
    let settle!: () => void;
    const current: Airing = { entry, startedAt, zones, ended: new Promise((resolve) => (settle = resolve)) };
    this.current = current;
    const cancelled = (): boolean => {
      if (!current.why) return false;
      this.current = undefined;
      const endedAt = new Date(deps.clock.now()).toISOString();
      this.finish(entry, { ...played, kind: 'playback.failed', endedAt, playedMs: 0, reason: current.why });
      settle();
      return true;
    };
    if (!live && !(await deps.cache.has(entry.media.sha256))) {
      // Due before its prefetch finished (or the cache lost it): one direct fetch before giving up. A relay airs
      // from its stream without its fallback file ([P-5.11]).
      try {
        await fetchAudio(ctx, entry.media);
      } catch (err) {
        if (cancelled()) return;
        deps.log.warn('audio missing at airtime', { occurrenceId: entry.occurrenceId, err: (err as Error).message });
        if (!entry.relay) {
          this.current = undefined;
          this.finish(entry, { ...played, kind: 'playback.failed', endedAt: base.startedAt, playedMs: 0, reason: 'FILE_MISSING' });
          return settle();
        }
      }
    }
    // Preempted or stopped while its audio was being checked: it never reached the air.
    if (cancelled()) return;
    // Not awaited: nothing may come between the checks above and the player starting but what must.
    if (!live) void deps.cache.touch(entry.media.sha256, startedAt);
    // Journalled before the player starts and after each measured second: what a restart must report.
    const journal: NowPlaying = { entry, startedAt, playedMs: 0, checkpointAt: startedAt };
    deps.store.saveNowPlaying(journal);
    const onProgress = (playedMs: number, level: Levels | undefined) => {
      const now = deps.clock.now();
      // The player emits in real time, so the first measured second began `playedMs` ago: that is when sound began.
      if (!current.onAirAt) {
        current.onAirAt = now - playedMs;
        ctx.emit({ type: 'on-air', occurrenceId: entry.occurrenceId, at: current.onAirAt });
      }
      if (this.current === current) deps.store.saveNowPlaying({ ...journal, playedMs, level, checkpointAt: now });
    };
    const relay = entry.relay && !live ? { ...entry, relay: entry.relay } : undefined;
    const relayed = relay
      ? relayPlayback(deps, relay, deps.cache.path(entry.media.sha256), {
          zones,
          fadeMs: ctx.options.fadeMs,
          onProgress,
          onSwitch: (segment) => ctx.emit({ type: 'relay', occurrenceId: entry.occurrenceId, segment }),
        })
      : undefined;
    const playback =
      relayed ??
      deps.player.play(live ? live.source : deps.cache.path(entry.media.sha256), {
        zones,
        // Live speech is not faded in: its first syllable is the message.
        fadeMs: live ? 0 : ctx.options.fadeMs,
        durationMs: live ? undefined : entry.media.durationMs,
        onProgress,
      });
    current.playback = playback;
    this.reports.publish({ ...played, kind: 'playback.started' });
    ctx.emit({ type: 'started', occurrenceId: entry.occurrenceId, at: startedAt });
    this.changed();
    const result = await playback.done;
    this.current = undefined;
    if (result.error) deps.log.warn('player failed', { occurrenceId: entry.occurrenceId, err: result.error });
    const endedAt = new Date(deps.clock.now()).toISOString();
    const measured = {
      ...(live ? { expectedMs: live.expectedMs(), playedMs: live.playedMs(), live: live.stats() } : {}),
      ...(relayed ? { relay: relayed.segments.slice(-64) } : {}),
      ...(result.level ? { level: result.level } : {}),
      ...(result.zoneLevels ? { zoneLevels: Object.entries(result.zoneLevels).map(([zone, l]) => ({ zone, ...l })) } : {}),
    };
    const report: PlaybackReport = result.error
      ? { ...played, kind: 'playback.failed', endedAt, playedMs: result.playedMs, reason: 'PLAYER_ERROR' }
      : { ...played, kind: 'playback.completed', endedAt, playedMs: result.playedMs, ...measured };
    if (!result.completed && !result.error) report.reason = current.why ?? 'STOPPED';
    else if (live && !result.error && live.reason()) report.reason = live.reason();
    else if (relayed?.segments.some((x) => x.source === -1)) report.reason = 'RELAY_FALLBACK';
    this.finish(entry, report, true);
    settle();
    this.changed();
  }

  /** Ends what plays (faded unless the agent itself is going down), or cancels what is about to; settles once reported. */
  cut(airing: Airing, why: NonNullable<Airing['why']>, fade = true): Promise<void> {
    airing.why ??= why;
    airing.playback?.stop({ fadeMs: fade ? this.ctx.options.fadeMs : 0 });
    return airing.ended;
  }

  /**
   * The zones an item plays on, each at min(its volume, else the all-zones volume, the policy's ceiling
   * now) ([P-3.1.3]), an emergency at the policy's emergency level (100 when it names none) ([P-5.5]);
   * undefined when the item names only zones this gateway does not have.
   */
  zoneLevels(entry: ManifestEntry | undefined, at: number): Record<string, number> | undefined {
    const { state, deps } = this.ctx;
    const own = deps.player.zones;
    const names = entry?.zones ? entry.zones.filter((z) => own.includes(z)) : own;
    if (names.length === 0) return undefined;
    if (entry?.priority === 'emergency') {
      const level = state.manifest?.policy?.emergencyVolume ?? 100;
      return Object.fromEntries(names.map((z) => [z, level]));
    }
    const ceiling = volumeCeilingAt(state.manifest?.policy, at);
    return Object.fromEntries(names.map((z) => [z, Math.min(state.volume[z] ?? state.volume['*'] ?? 100, ceiling)]));
  }

  /** What plays now follows a volume change at once, still under the policy's ceiling. */
  followVolume(): void {
    const current = this.current;
    if (!current) return;
    const now = this.zoneLevels(current.entry, this.ctx.deps.clock.now()) ?? {};
    for (const [z, was] of Object.entries(current.zones)) {
      const next = now[z];
      if (next !== undefined && next !== was && !current.muted?.has(z)) {
        current.zones[z] = next;
        current.playback?.setVolume(z, next);
      }
    }
  }

  /** Stops what plays; with one zone of several, silences that zone for the rest of the item. */
  async stop(zone: string | undefined): Promise<{ stopped: string | null; zone?: string }> {
    const current = this.current;
    if (!current) return { stopped: null };
    const stopped = current.entry?.occurrenceId ?? 'self-test';
    if (zone !== undefined && Object.keys(current.zones).length > 1) {
      if (!(zone in current.zones)) return { stopped: null, zone };
      current.zones[zone] = 0;
      current.muted = new Set([...(current.muted ?? []), zone]);
      current.playback?.setVolume(zone, 0);
      return { stopped, zone };
    }
    await this.cut(current, 'STOPPED');
    return { stopped };
  }

  /** A 1 kHz tone on every zone, measured ([P-3.5] self-test). */
  async selfTest(): Promise<{ playedMs: number; rmsDbfs: number; peakDbfs: number } | 'BUSY' | 'DEVICE_FAULT'> {
    const { deps } = this.ctx;
    if (this.current) return 'BUSY';
    const zones = this.zoneLevels(undefined, deps.clock.now()) ?? {};
    const playback = deps.player.play({ toneHz: 1000, seconds: SELF_TEST_SECONDS }, { zones });
    const current: Airing = { playback, zones, startedAt: deps.clock.now(), ended: playback.done.then(() => {}) };
    this.current = current;
    const result = await playback.done;
    if (this.current === current) this.current = undefined;
    if (!result.completed || !result.level) return 'DEVICE_FAULT';
    return { playedMs: result.playedMs, ...result.level, ...(result.zoneLevels ? { zones: result.zoneLevels } : {}) };
  }
}
