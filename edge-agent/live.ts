// [P-5.6], [P-8] Live audio: a signed live.start names a stream; its frames (each signed by the same key)
// arrive on the unit's live topic, go through the adaptive jitter buffer, are decoded from Opus and paced
// into the player every frameMs. A live stream goes on the air above normal and priority items and below an
// emergency; `last`, live.stop or 5 s without frames ends it. The stream is reported as an airing under
// `{occurrenceId}@{station}` when live.start names one.
import type { KeyObject } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { type Command, decodeLiveFrame, groupAiringId, liveSha256, type ManifestEntry, peekLiveStream } from '#protocol';
import type { AgentContext } from './context.ts';
import { DEFAULT_JITTER, JitterBuffer, type Turn } from './jitter.ts';
import type { Playout } from './playout.ts';

/** [P-8.3] A gap longer than this without frames ends the stream. */
export const LIVE_GAP_MS = 5000;
const SAMPLE_RATE = 48_000;

/**
 * Opus packets to 16-bit mono PCM at 48 kHz; the gateway's is @discordjs/opus, loaded when a stream first comes.
 * An empty packet asks for loss concealment.
 */
export interface OpusDecoder {
  decode(packet: Buffer): Buffer;
}

type LiveStart = Extract<Command, { action: 'live.start' }>;

interface Stream {
  id: string;
  key: KeyObject;
  frameMs: number;
  entry: ManifestEntry;
  buffer: JitterBuffer;
  decoder: OpusDecoder;
  pcm: PassThrough;
  lastArrival: number;
  /** Cancels the pending pacer tick. */
  tick?: () => void;
  ended?: string;
  /** Whether the player was started (the first turn that had audio). */
  playing: boolean;
}

/** Frames that come before their live.start (it is verified and set up meanwhile) are kept this long, this many. */
const EARLY_MS = 1000;
const EARLY_FRAMES = 64;

export class LiveRoom {
  private stream?: Stream;
  /** Frames of a stream not started yet, by stream id: played once its live.start is verified. */
  private early = new Map<string, { payload: Buffer; at: number }[]>();

  constructor(
    private readonly ctx: AgentContext,
    private readonly playout: Playout,
    private readonly keyOf: (kid: string) => KeyObject | undefined,
  ) {}

  /** The stream on the air (or buffering) now. */
  get current(): string | undefined {
    return this.stream && !this.stream.ended ? this.stream.id : undefined;
  }

  /** A verified live.start: the stream is prepared and waits for its frames; BUSY under an emergency or another stream. */
  async start(cmd: LiveStart, kid: string): Promise<{ streamId: string; bufferMs: number; already?: true } | 'BUSY' | 'NOT_SUPPORTED'> {
    const { ctx } = this;
    const on = this.current;
    if (on === cmd.streamId) return { streamId: on, bufferMs: (this.stream as Stream).buffer.targetMs, already: true };
    if (on || this.playout.emergencyOnAir()) {
      if (cmd.occurrenceId) this.playout.skip(this.entryOf(cmd, ctx.deps.clock.now()), 'CONFLICT');
      return 'BUSY';
    }
    const key = this.keyOf(kid);
    if (!key) return 'BUSY';
    const decoder = await ctx.deps.opusDecoder?.().catch((err: Error) => {
      ctx.deps.log.warn('no Opus decoder: live audio cannot play here', { err: err.message });
      return undefined;
    });
    if (!decoder) return 'NOT_SUPPORTED';
    const now = ctx.deps.clock.now();
    const entry = this.entryOf(cmd, now);
    const buffer = new JitterBuffer({ ...DEFAULT_JITTER, ...ctx.options.liveJitter, frameMs: cmd.frameMs });
    this.stream = {
      id: cmd.streamId,
      key,
      frameMs: cmd.frameMs,
      entry,
      buffer,
      decoder,
      pcm: new PassThrough(),
      lastArrival: now,
      playing: false,
    };
    this.watchGap(this.stream);
    ctx.emit({ type: 'live', streamId: cmd.streamId, state: 'ready' });
    // Frames that overtook their live.start (QoS 0 frames are not held back while it is verified and set up).
    const early = (this.early.get(cmd.streamId) ?? []).filter((f) => f.at >= now - EARLY_MS);
    this.early.clear();
    for (const f of early) this.onFrame(f.payload, f.at);
    return { streamId: cmd.streamId, bufferMs: buffer.targetMs };
  }

  /** The stream as an airing of this station (reported under it only when live.start named an occurrenceId). */
  private entryOf(cmd: LiveStart, now: number): ManifestEntry {
    return {
      occurrenceId: cmd.occurrenceId ? groupAiringId(cmd.occurrenceId, this.ctx.station) : `live-${cmd.streamId.slice(0, 16)}`,
      startsAt: new Date(now).toISOString(),
      priority: cmd.priority,
      media: { sha256: liveSha256(cmd.streamId), path: `/live/${cmd.streamId}`, durationMs: 1, sizeBytes: 1, codec: 'opus' },
    };
  }

  /**
   * live.stop: no frame after the newest received will play; what is buffered plays out (at most the buffer's
   * delay: the server sends live.stop right after the last frame, which may not have played yet).
   */
  stop(streamId: string): { stopped: string | null } {
    const s = this.stream;
    if (!s || s.id !== streamId || s.ended) return { stopped: null };
    if (!s.playing && !s.tick) this.end(s, 'stopped');
    else s.buffer.close();
    return { stopped: streamId };
  }

  /** One frame from a unit's live topic: verified against its stream's key, then buffered. Anything else is dropped. */
  onFrame(payload: Buffer, arrivedAt?: number): void {
    const now = arrivedAt ?? this.ctx.deps.clock.now();
    const s = this.stream;
    const id = peekLiveStream(payload);
    if (id && id !== s?.id) {
      this.keepEarly(id, payload, now);
      return;
    }
    if (!s || s.ended) return;
    const verdict = decodeLiveFrame(payload, s.key);
    if (!verdict.ok || verdict.frame.streamId !== s.id) return;
    s.lastArrival = now;
    s.buffer.push(verdict.frame, now);
    if (!s.tick && !s.playing) this.pace(s, now);
  }

  /** A frame of a stream whose live.start has not come (yet): kept briefly, unverified, for that live.start. */
  private keepEarly(id: string, payload: Buffer, at: number): void {
    const kept = this.early.get(id) ?? [];
    if (!this.early.has(id)) {
      // One stream's worth at a time: frames for streams never started here (another area's) fall away.
      if (this.early.size >= 2) this.early.delete(this.early.keys().next().value as string);
      this.early.set(id, kept);
    }
    kept.push({ payload, at });
    if (kept.length > EARLY_FRAMES) kept.shift();
  }

  /**
   * The pacer: one turn every frameMs on the clock, from the first frame on. While the buffer holds two frames
   * more than it aims to (a burst, or jitter that calmed down), silent frames are skipped, so the delay comes
   * back down in the pauses between words and never by cutting speech.
   */
  private pace(s: Stream, at: number): void {
    s.tick = this.ctx.deps.clock.at(at, () => {
      s.tick = undefined;
      if (s.ended) return;
      let turn = s.buffer.take(this.ctx.deps.clock.now());
      let pcm = this.audio(s, turn);
      while (pcm && turn.kind === 'frame' && s.buffer.excessMs >= 2 * s.frameMs && silent(pcm)) {
        s.buffer.skipped();
        turn = s.buffer.take(this.ctx.deps.clock.now());
        pcm = this.audio(s, turn);
      }
      if (pcm) {
        if (!s.playing) this.air(s);
        s.pcm.write(pcm);
      }
      if (s.buffer.ended) return this.end(s, 'last');
      this.pace(s, Math.max(at + (turn.kind === 'wait' ? Math.min(s.frameMs, 10) : s.frameMs), this.ctx.deps.clock.now() - s.frameMs));
    });
  }

  /**
   * A turn's audio: the decoded frame; for a hole, Opus packet loss concealment (libopus extrapolates from what
   * came before, and fades out over a longer gap), else silence of the frame's length ([P-8.3]).
   */
  private audio(s: Stream, turn: Turn): Buffer | undefined {
    if (turn.kind === 'wait') return undefined;
    if (turn.kind === 'frame') return this.decode(s, turn.payload);
    const bytes = (SAMPLE_RATE * s.frameMs * 2) / 1000;
    try {
      const concealed = s.decoder.decode(Buffer.alloc(0));
      if (concealed.length >= bytes) return concealed.subarray(0, bytes);
    } catch {}
    return Buffer.alloc(bytes);
  }

  private decode(s: Stream, packet: Buffer): Buffer {
    try {
      return s.decoder.decode(packet);
    } catch {
      s.buffer.counts.played -= 1;
      s.buffer.counts.concealed += 1;
      return Buffer.alloc((SAMPLE_RATE * s.frameMs * 2) / 1000);
    }
  }

  /** Puts the stream on the air through the player (what plays is cut), reported as its airing. */
  private air(s: Stream): void {
    s.playing = true;
    const aired = this.playout.live(s.entry, {
      source: { pcm: s.pcm },
      expectedMs: () => s.buffer.spanMs,
      playedMs: () => (s.buffer.counts.played + s.buffer.counts.skipped) * s.frameMs,
      stats: () => ({
        framesPlayed: s.buffer.counts.played,
        framesConcealed: s.buffer.counts.concealed,
        framesDropped: s.buffer.counts.dropped,
        bufferMs: s.buffer.targetMs,
      }),
      reason: () => (s.ended === 'gap' ? 'LIVE_GAP' : undefined),
    });
    void aired.then((ok) => {
      // An emergency took the air first: the stream never aired here.
      if (!ok && this.reported(s)) this.playout.skip(s.entry, 'PREEMPTED');
      // Cut by an emergency, a stop command or the agent going down: the stream is over here.
      if (!s.ended) this.end(s, 'cut');
    });
    this.ctx.emit({ type: 'live', streamId: s.id, state: 'on-air' });
  }

  /** Whether the server asked for this stream to be reported (live.start named an occurrenceId). */
  private reported(s: Stream): boolean {
    return !s.entry.occurrenceId.startsWith('live-');
  }

  /** A gap over LIVE_GAP_MS without frames ends the stream, whether it played or still waited. */
  private watchGap(s: Stream): void {
    const check = () => {
      if (s.ended) return;
      const due = s.lastArrival + LIVE_GAP_MS;
      if (this.ctx.deps.clock.now() >= due) return this.end(s, 'gap');
      this.ctx.deps.clock.at(due, check);
    };
    this.ctx.deps.clock.at(s.lastArrival + LIVE_GAP_MS, check);
  }

  private end(s: Stream, why: 'last' | 'stopped' | 'gap' | 'cut' | 'busy'): void {
    if (s.ended) return;
    s.ended = why;
    s.tick?.();
    s.pcm.end();
    // It never reached the air (no frame came, or it was stopped first): said in its report.
    if (!s.playing && this.reported(s)) this.playout.skip(s.entry, why === 'gap' ? 'LIVE_GAP' : 'STOPPED');
    this.ctx.emit({ type: 'live', streamId: s.id, state: 'ended', why });
  }

  /** The agent is going down: the stream ends (its airing is cut INTERRUPTED by the caller). */
  close(): void {
    if (this.stream) this.end(this.stream, 'cut');
  }
}

/** Below −50 dBFS RMS: a pause between words, which may be skipped to shorten the delay. */
function silent(pcm: Buffer): boolean {
  let sum = 0;
  const n = pcm.length >> 1;
  for (let i = 0; i < n; i++) {
    const v = pcm.readInt16LE(i * 2);
    sum += v * v;
  }
  return n === 0 || Math.sqrt(sum / n) < 32768 * 10 ** (-50 / 20);
}
