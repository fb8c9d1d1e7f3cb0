// [P-3.3] Gateways' unsigned state messages (online when they connect, their last-will when they drop),
// taken in batches (batches.ts): a broker restart brings one from every gateway within seconds. Each batch:
// one query for the devices (not one per message), then each message's own ledger transaction in the report
// lane, in arrival order; the stations that went on or off line are announced once for the batch.
import { StationState } from '#protocol';
import type { ProofLedger } from '../db/proof-ledger.ts';
import { Batches } from './batches.ts';
import type { DeviceService } from './device-service.ts';

export interface StateIntakeDeps {
  ledger: ProofLedger;
  devices: DeviceService;
  now: () => Date;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Runs the batch's writes in the report lane, after what is queued there. */
  inLane: <T>(fn: () => Promise<T>) => Promise<T>;
  onStationsChanged?: (stationIds: string[]) => void;
}

type Queued = { device: string; station: string; online: boolean; faults?: string[] };

export class StateIntake {
  private readonly batches: Batches<Queued>;

  constructor(private readonly deps: StateIntakeDeps) {
    this.batches = new Batches({
      max: 1000,
      record: (batch) => this.record(batch),
      // The next state message (or the offline sweep) sets it right; nothing signed is lost.
      failed: (err, batch) => deps.log.error({ err: err.message, states: batch.length }, 'station states not recorded'),
    });
  }

  /** Whether states are waiting or being written. */
  get busy(): boolean {
    return this.batches.busy;
  }

  /** Settles once this state (and the batch it joined) is recorded, or refused with a warning. */
  handle(device: string, payload: Buffer): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      this.deps.log.warn({ device }, 'state message is not JSON');
      return Promise.resolve();
    }
    const state = StationState.safeParse(json);
    if (!state.success) {
      this.deps.log.warn({ device }, 'invalid state message');
      return Promise.resolve();
    }
    const { station, online, faults } = state.data;
    return this.batches.add({ device, station, online, ...(faults?.length ? { faults } : {}) });
  }

  private async record(batch: Queued[]): Promise<void> {
    const { devices, ledger, log } = this.deps;
    const identities = await devices.identifyMany([...new Set(batch.map((q) => q.device))]);
    const valid = batch.flatMap((q) => {
      const identity = identities.get(q.device);
      if (identity?.station.code === q.station)
        return [{ stationId: identity.station.id, code: q.station, online: q.online, faults: q.faults }];
      log.warn({ device: q.device }, 'invalid state message');
      return [];
    });
    if (!valid.length) return;
    // One transaction per message, as before the batches: one transaction for the batch held a row lock on
    // every station in it across the batch (PostgreSQL), and deadlocked a schedule's insert of airings and the
    // dispatch's version bump, which lock many stations in their own order.
    const flipped = new Set<string>();
    await this.deps.inLane(async () => {
      for (const { stationId, code, online, faults } of valid) {
        const at = this.deps.now();
        const flip = await ledger.transaction(function* (tx) {
          yield* tx.touchStation(stationId, at);
          const flip = yield* tx.setOnline(stationId, online, at, 'state');
          if (flip && online) yield* tx.resolveAlerts(stationId, 'offline', at, 'station back online');
          // [P-5.4.1] What the gateway cannot say in signed telemetry (its key is refused): a hint, kept open
          // until a signed telemetry comes without faults.
          if (faults)
            yield* tx.raiseAlert(
              stationId,
              'device_fault',
              null,
              `${code}: the gateway reports ${faults.join(', ')} (unsigned)`,
              at,
              false,
            );
          return flip;
        });
        if (flip || faults) flipped.add(stationId);
      }
    });
    if (flipped.size) this.deps.onStationsChanged?.([...flipped]);
  }
}
