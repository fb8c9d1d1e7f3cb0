// [P-8.3] The live playout buffer: frames arrive out of order, late, twice or not at all; the player takes one
// every frameMs. Adaptive: the delay it holds follows the measured interarrival jitter (RFC 3550 §6.4.1),
// between a floor and a ceiling, so a quiet link is heard at once and a jittery one without gaps. Pure: the
// caller says when each frame arrived and when the player wants the next.
import type { LiveFrame } from '#protocol';

export interface JitterOptions {
  frameMs: number;
  /** The least delay held (the start buffer on a quiet link), ms. */
  minMs: number;
  /** The most delay held, ms ([P-8.3]: 1000). */
  maxMs: number;
  /** Playing starts at the latest this long after the first frame ([P-8.3]: 1 s). */
  startAfterMs: number;
  /** A frame whose capture instant is this much older than the newest received is dropped ([P-8.3]: 2 s). */
  staleMs: number;
}

export const DEFAULT_JITTER: Omit<JitterOptions, 'frameMs'> = { minMs: 40, maxMs: 1000, startAfterMs: 1000, staleMs: 2000 };

/** What the player gets at its turn: a packet, a hole to conceal, or nothing yet (still buffering). */
export type Turn = { kind: 'frame'; seq: number; payload: Buffer } | { kind: 'conceal'; seq: number } | { kind: 'wait' };

export class JitterBuffer {
  private readonly frames = new Map<number, LiveFrame>();
  /** The next seq the player takes. */
  private next = -1;
  private newestTs = Number.NEGATIVE_INFINITY;
  private highestSeq = -1;
  private firstArrival?: number;
  private started = false;
  /** Last frame's (arrival − capture), for the jitter estimate. */
  private lastTransit?: number;
  /** RFC 3550 interarrival jitter, ms. */
  jitterMs = 0;
  /** The `last` frame's seq, once seen. */
  private lastSeq?: number;
  /** Frames played, concealed (missing at their turn), dropped (late, duplicate, stale), skipped (silence, to shorten the delay). */
  readonly counts = { played: 0, concealed: 0, dropped: 0, skipped: 0 };

  constructor(private readonly o: JitterOptions) {}

  /** The delay the buffer aims to hold now: one frame plus three times the jitter, within the bounds, in whole frames. */
  get targetMs(): number {
    const want = this.o.frameMs + 3 * this.jitterMs;
    const frames = Math.ceil(Math.min(this.o.maxMs, Math.max(this.o.minMs, want)) / this.o.frameMs);
    return frames * this.o.frameMs;
  }

  /** Buffered audio ahead of the player, ms (holes included: they are time too). */
  get depthMs(): number {
    if (this.highestSeq < 0) return 0;
    const from = this.next < 0 ? Math.min(...this.frames.keys()) : this.next;
    return Math.max(0, this.highestSeq - from + 1) * this.o.frameMs;
  }

  /** The stream's length as far as this buffer knows it: from its first frame to the highest seq seen, ms. */
  get spanMs(): number {
    return (this.highestSeq + 1) * this.o.frameMs;
  }

  /** How much more audio the buffer holds than it aims to, ms: the caller may skip silence while it is two frames or more. */
  get excessMs(): number {
    return this.started ? this.depthMs - this.targetMs : 0;
  }

  /** The frame just taken was silence and the buffer runs deep: it counts as skipped, not played. */
  skipped(): void {
    this.counts.played -= 1;
    this.counts.skipped += 1;
  }

  /** Whether the stream is over: its last frame was played. */
  get ended(): boolean {
    return this.lastSeq !== undefined && this.next > this.lastSeq;
  }

  /** No frame after the newest received will come (live.stop): the stream ends once those have played. */
  close(): void {
    this.lastSeq ??= this.highestSeq;
  }

  /** A verified frame arrived at `now` (ms); false when it was dropped (duplicate, already past, stale). */
  push(frame: LiveFrame, now: number): boolean {
    if (this.frames.has(frame.seq) || (this.next >= 0 && frame.seq < this.next) || frame.timestampMs < this.newestTs - this.o.staleMs) {
      this.counts.dropped += 1;
      return false;
    }
    this.firstArrival ??= now;
    const transit = now - frame.timestampMs;
    if (this.lastTransit !== undefined) this.jitterMs += (Math.abs(transit - this.lastTransit) - this.jitterMs) / 16;
    this.lastTransit = transit;
    this.newestTs = Math.max(this.newestTs, frame.timestampMs);
    this.highestSeq = Math.max(this.highestSeq, frame.seq);
    if (frame.last) this.lastSeq = frame.seq;
    this.frames.set(frame.seq, frame);
    return true;
  }

  /**
   * The player's turn at `now`: before playing starts, wait until the buffer holds its target (or the start
   * deadline passes); then one frame per call, a hole concealed. Nothing is discarded here to shorten the
   * delay: the caller skips silent frames while `excessMs` says the buffer runs deep (speech is never cut).
   */
  take(now: number): Turn {
    if (this.firstArrival === undefined) return { kind: 'wait' };
    if (!this.started) {
      const last = this.lastSeq !== undefined;
      if (!last && this.depthMs < this.targetMs && now - this.firstArrival < this.o.startAfterMs) return { kind: 'wait' };
      this.started = true;
      this.next = Math.min(...this.frames.keys());
    }
    // Past the last frame (a stop closed the stream): nothing more to play.
    if (this.lastSeq !== undefined && this.next > this.lastSeq) return { kind: 'wait' };
    if (this.lastSeq === undefined && this.next > this.highestSeq) {
      // Ran dry: conceal this turn (the frame, if it comes later, is dropped as past).
      this.counts.concealed += 1;
      return { kind: 'conceal', seq: this.next++ };
    }
    const seq = this.next++;
    const frame = this.frames.get(seq);
    this.frames.delete(seq);
    if (!frame) {
      this.counts.concealed += 1;
      return { kind: 'conceal', seq };
    }
    this.counts.played += 1;
    return { kind: 'frame', seq, payload: frame.payload };
  }
}
