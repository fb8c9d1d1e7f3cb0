// Domain events: what one service tells the parts that follow it (compiling plans, the broker's rights)
// without knowing them. Subscribers register in the composition root; emit() awaits them in order of
// registration, so a caller knows the consequences have happened when it returns.

export interface DomainEventMap {
  /** Stations whose plan changed (moved by a merge, a changed policy, a gateway enrolled or revoked). */
  'stations-changed': [stationIds: string[]];
  /** Stations a merge moved to another unit: their gateways' group rights change. */
  'stations-moved': [stationIds: string[]];
  /** A device was revoked: its live session must end. */
  'device-revoked': [device: string];
  /** Broker credentials were issued or withdrawn (enrollment, revocation). */
  'credentials-changed': [];
}

type Handler<K extends keyof DomainEventMap> = (...args: DomainEventMap[K]) => unknown;

export class DomainEvents {
  private readonly handlers = new Map<keyof DomainEventMap, ((...args: never[]) => unknown)[]>();

  on<K extends keyof DomainEventMap>(name: K, handler: Handler<K>): void {
    this.handlers.set(name, [...(this.handlers.get(name) ?? []), handler as (...args: never[]) => unknown]);
  }

  async emit<K extends keyof DomainEventMap>(name: K, ...args: DomainEventMap[K]): Promise<void> {
    for (const handler of (this.handlers.get(name) ?? []) as Handler<K>[]) await handler(...args);
  }
}
