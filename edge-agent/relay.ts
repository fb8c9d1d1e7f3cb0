// [P-5.11] Relays (tiếp sóng): an upstream stream played for a slot. The URLs are tried in order; dead air (a
// second's RMS below −50 dBFS for `deadAirMs`), no audio for that long, or the stream failing switches to the
// next; when every URL has failed the entry's own file (the fallback, cached like any item) plays, looped, and
// the first URL is probed every `recheckMs` and taken back once it carries sound. Whatever the upstream does, the
// relay ends at startsAt + slotMs exactly (its fade ends there). Each stretch on one source is a segment of the
// report. The sequence is one Playback, so the rest of the agent (preemption, stop, volume) treats it as any item.
import type { ManifestEntry, RelaySegment, RelaySpec } from '#protocol';
import type { Clock } from './clock.ts';
import type { Levels, Playback, Player, PlayResult } from './player.ts';

/** Below this a second counts as dead air. */
export const DEAD_AIR_DBFS = -50;
const DEFAULT_RECHECK_MS = 60_000;
const PROBE_SECONDS = 3;

export interface RelayDeps {
  player: Player;
  clock: Clock;
  log: { warn(msg: string, obj?: object): void };
}

type Segment = RelaySegment;

/** Plays `entry.relay` until its slot ends; `fallback` is the cached file of `entry.media`. */
export function relayPlayback(
  deps: RelayDeps,
  entry: ManifestEntry & { relay: RelaySpec },
  fallback: string,
  opts: {
    zones: Record<string, number>;
    fadeMs: number;
    onProgress: (playedMs: number, level: Levels | undefined) => void;
    onSwitch?: (s: Segment) => void;
  },
): Playback & { segments: Segment[] } {
  const { relay } = entry;
  const { clock } = deps;
  const slotEnd = Date.parse(entry.startsAt) + relay.slotMs;
  const segments: Segment[] = [];
  const zones = { ...opts.zones };
  let child: Playback | undefined;
  let source = 0;
  let stopped: 'SLOT_END' | 'STOPPED' | undefined;
  let donePlayed = 0;
  let power = 0;
  let peak = -200;
  let settle!: (r: PlayResult) => void;
  const done = new Promise<PlayResult>((resolve) => (settle = resolve));
  const cancels: (() => void)[] = [];

  const level = (): Levels | undefined =>
    donePlayed > 0
      ? { rmsDbfs: Math.max(-200, Math.round(100 * 10 * Math.log10(power / donePlayed || 1e-20)) / 100), peakDbfs: peak }
      : undefined;

  /** Leaves the source playing now (set while one plays). */
  let leaveCurrent: ((reason: string) => void) | undefined;

  /** Plays one source from now; resolves why it was left. */
  const run = (index: number): Promise<string> =>
    new Promise((resolve) => {
      const startedAt = clock.now();
      // The meter speaks once per second of audio: the first word can only come a second after the first sample.
      let lastProgress = startedAt + 1000;
      let silentSince: number | undefined;
      let played = 0;
      let segPower = 0;
      let why: string | undefined;
      const leave = (reason: string) => {
        if (why) return;
        why = reason;
        playback.stop({ fadeMs: reason === 'SLOT_END' ? 0 : Math.min(opts.fadeMs, 100) });
      };
      leaveCurrent = leave;
      const playback = deps.player.play(index < 0 ? fallback : { url: relay.urls[index] as string }, {
        zones,
        // A switch mid-slot comes in at once (a short ramp against a click), the first source with the usual fade.
        fadeMs: segments.length ? Math.min(opts.fadeMs, 50) : opts.fadeMs,
        // The fade-out ends at the slot's end (the timer below cuts it there).
        durationMs: slotEnd - startedAt,
        onProgress: (ms, lvl, second) => {
          const now = clock.now();
          const gained = ms - played;
          played = ms;
          lastProgress = now;
          const secondPower = 10 ** (second / 10) * gained;
          segPower += secondPower;
          power += secondPower;
          if (lvl) peak = Math.max(peak, lvl.peakDbfs);
          opts.onProgress(donePlayed + played, level());
          if (index >= 0 && second < DEAD_AIR_DBFS) {
            silentSince ??= now - gained;
            if (now - silentSince >= relay.deadAirMs) leave('DEAD_AIR');
          } else silentSince = undefined;
        },
      });
      child = playback;
      const timers = [clock.at(slotEnd, () => leave('SLOT_END'))];
      // No audio at all for deadAirMs (a stalled or silent connection that sends nothing) is dead air too.
      const watch = () => {
        if (why) return;
        if (clock.now() - lastProgress >= relay.deadAirMs) return leave('NO_DATA');
        timers.push(clock.at(clock.now() + 500, watch));
      };
      if (index >= 0) watch();
      void playback.done.then((r) => {
        for (const cancel of timers) cancel();
        const endedAt = clock.now();
        played = Math.max(played, r.playedMs);
        donePlayed += played;
        const reason = why ?? stopped ?? (r.error ? 'STREAM_ERROR' : 'STREAM_ENDED');
        const seg: Segment = {
          source: index,
          startedAt: new Date(startedAt).toISOString(),
          endedAt: new Date(endedAt).toISOString(),
          playedMs: played,
          reason,
          ...(played > 0 ? { rmsDbfs: Math.max(-200, Math.round(1000 * Math.log10(segPower / played || 1e-20)) / 100) } : {}),
        };
        segments.push(seg);
        opts.onSwitch?.(seg);
        resolve(reason);
      });
    });

  /** While not on the first URL: probe it now and then, and take it back once it carries sound. */
  const recheck = () => {
    cancels.push(
      clock.at(clock.now() + (relay.recheckMs ?? DEFAULT_RECHECK_MS), () => {
        if (stopped || source === 0 || !deps.player.probe) return;
        void deps.player.probe(relay.urls[0] as string, PROBE_SECONDS).then((rms) => {
          if (stopped || source === 0) return;
          if (rms === undefined || rms < DEAD_AIR_DBFS) return recheck();
          source = 0;
          leaveCurrent?.('RECHECK');
        });
      }),
    );
  };

  void (async () => {
    while (!stopped && clock.now() < slotEnd - 20) {
      const index = source;
      const reason = await run(index);
      if (stopped || reason === 'SLOT_END') break;
      // Taken back by the recheck: the first URL again. The fallback file ended: it loops; it failed (not on
      // this gateway): nothing plays for a few seconds, while the recheck may find the first URL back.
      if (reason === 'RECHECK') continue;
      if (index < 0) {
        if (reason === 'STREAM_ERROR') await new Promise<void>((r) => cancels.push(clock.at(Math.min(slotEnd, clock.now() + 5000), r)));
        continue;
      }
      deps.log.warn('relay source left', { occurrenceId: entry.occurrenceId, url: relay.urls[index], reason });
      source = index + 1 < relay.urls.length ? index + 1 : -1;
      // Off the first URL for the first time: it is probed from now on.
      if (index === 0) recheck();
    }
    for (const cancel of cancels) cancel();
    const lvl = level();
    settle({ completed: stopped !== 'STOPPED', playedMs: donePlayed, ...(lvl ? { level: lvl } : {}) });
  })();

  return {
    done,
    segments,
    stop(o) {
      stopped ??= 'STOPPED';
      child?.stop(o);
    },
    setVolume(zone, lvl) {
      for (const z of zone === undefined ? Object.keys(zones) : [zone]) if (z in zones) zones[z] = lvl;
      return child?.setVolume(zone, lvl) ?? false;
    },
  };
}
