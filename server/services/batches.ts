// Messages that arrive together, recorded together: the first item waits for the next turn of the event
// loop (every message read meanwhile joins it), then one batch at a time is recorded; what arrives while a
// batch is being written forms the next. A gateway crowd's acks cost a few statements per batch, its states
// one device query per batch (each state is still its own transaction: state-intake.ts).
export class Batches<T> {
  private readonly queue: { item: T; done: () => void }[] = [];
  private running = false;

  constructor(
    private readonly opts: {
      /** Most items in one batch. */
      max: number;
      record: (items: T[]) => Promise<void>;
      /** A batch that could not be recorded (its items are settled all the same). */
      failed: (err: Error, items: T[]) => void;
    },
  ) {}

  /** Whether items are waiting or a batch is being recorded. */
  get busy(): boolean {
    return this.running;
  }

  /** Settles once the batch this item joined is recorded (or failed). */
  add(item: T): Promise<void> {
    return new Promise((done) => {
      this.queue.push({ item, done });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.opts.max);
      const items = batch.map((q) => q.item);
      try {
        await this.opts.record(items);
      } catch (err) {
        this.opts.failed(err as Error, items);
      }
      for (const q of batch) q.done();
    }
    this.running = false;
  }
}
