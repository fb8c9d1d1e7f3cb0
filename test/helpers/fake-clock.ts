import type { Clock } from '../../edge-agent/clock.ts';

/** A clock that moves only when the test says so; timers fire in instant order. */
export class FakeClock implements Clock {
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;
  constructor(private t: number) {}

  now = () => this.t;
  date = () => new Date(this.t);

  at(at: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.push({ at, fn, id });
    // Like the system clock: an instant already reached fires on its own, asynchronously.
    if (at <= this.t) setImmediate(() => this.advanceTo(this.t));
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  }

  /** Moves to `t`, firing every timer due on the way, each at its own instant. */
  advanceTo(t: number): void {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > t) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = Math.max(this.t, t);
  }

  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  pending(): number {
    return this.timers.length;
  }
}
