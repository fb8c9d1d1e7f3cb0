// The running parts of a server, stopped in reverse order of start, each in its own try/catch so one
// failure does not keep the rest running.

export interface PartsLog {
  error(obj: object, msg: string): void;
}

export class Parts {
  private readonly stops: { name: string; stop: () => unknown }[] = [];

  constructor(private readonly log: PartsLog) {}

  /** Registers what stops a part that has started. */
  add(name: string, stop: () => unknown): void {
    this.stops.push({ name, stop });
  }

  async stop(): Promise<void> {
    for (const part of this.stops.splice(0).reverse()) {
      try {
        await part.stop();
      } catch (err) {
        this.log.error({ err, part: part.name }, 'error while stopping');
      }
    }
  }
}
