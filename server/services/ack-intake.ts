// [P-3.7] Gateways' signed manifest acknowledgements, taken in batches: a change for a province brings
// thousands within a second. Each batch: one query for the devices, the signatures checked on the worker
// pool, then a few statements for the whole batch (applied plans delivered, late acks stamped), never a
// query per ack. One batch at a time; acks that arrive meanwhile form the next (batches.ts).
import type { ManifestAck } from '#protocol';
import { type Opener, openInParts } from '../compliance/open-worker.ts';
import { chunked, type Db, MAX_IN } from '../db/client.ts';
import { Batches } from './batches.ts';
import { type DeviceService, deviceKid } from './device-service.ts';

export type AckStatus = 'delivered' | 'failed';

export interface AckIntakeDeps {
  db: Db;
  devices: DeviceService;
  now: () => Date;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  open?: Opener;
  openers?: number;
  /** After the acks of a batch are recorded, once per ack. */
  recorded: (ack: { device: string; version: number; status: AckStatus }) => void;
}

/** Most acks taken into one batch. */
const BATCH = 1000;
/**
 * (device, version) pairs per statement: two parameters each, within the values one statement may bind
 * (MAX_IN; Prisma refuses SQLite statements over 999, and 500 pairs there lost the whole batch).
 */
const PAIRS = MAX_IN / 2;

type Queued = { device: string; payload: Buffer };

export class AckIntake {
  private readonly batches: Batches<Queued>;

  constructor(private readonly deps: AckIntakeDeps) {
    this.batches = new Batches({
      max: BATCH,
      record: (batch) => this.record(batch),
      // The gateway acks the retained plan again when it reconnects, and a plan still pending is republished.
      failed: (err, batch) => deps.log.error({ err: err.message, acks: batch.length }, 'manifest acks not recorded'),
    });
  }

  /** Settles once this ack (and the batch it joined) is recorded, or refused with a warning. */
  handle(device: string, payload: Buffer): Promise<void> {
    return this.batches.add({ device, payload });
  }

  private async record(batch: Queued[]): Promise<void> {
    const { db, devices, log, now } = this.deps;
    const identities = await devices.identifyMany([...new Set(batch.map((q) => q.device))]);
    const known = batch.flatMap((q) => {
      const identity = identities.get(q.device);
      if (identity) return [{ q, identity }];
      log.warn({ device: q.device, code: 'UNKNOWN_DEVICE' }, 'manifest ack rejected');
      return [];
    });
    const outcomes = await openInParts(
      this.deps.open,
      this.deps.openers,
      now().getTime(),
      known.map(({ q, identity }) => ({
        payload: q.payload,
        types: ['manifest-ack' as const],
        kid: deviceKid(identity.publicKeyHex),
        publicKeyHex: identity.publicKeyHex,
      })),
    );
    const applied: { device: string; version: number }[] = [];
    const rejected: { device: string; version: number; code: string }[] = [];
    for (const [i, { q, identity }] of known.entries()) {
      const o = outcomes[i];
      if (!o?.ok) {
        log.warn({ device: q.device, code: o?.code, message: o?.message }, 'manifest ack rejected');
        continue;
      }
      const ack = o.body as ManifestAck;
      if (ack.station !== identity.station.code) {
        log.warn({ device: q.device, station: ack.station }, 'manifest ack names another station');
        continue;
      }
      if (ack.status === 'applied') applied.push({ device: q.device, version: ack.version });
      else rejected.push({ device: q.device, version: ack.version, code: ack.code });
    }
    if (!applied.length && !rejected.length) return;
    const at = now();
    // Only a delivery still waiting moves; a late ack (for a superseded version) is stamped with its time only.
    // One batch transaction, not an interactive one: that would hold SQLite's write lock across awaits
    // while the proof ledger's synchronous connection waits for it on this same event loop.
    const pairs = (list: { device: string; version: number }[]) =>
      chunked(
        list.map(({ device, version }) => ({ device, version })),
        PAIRS,
      );
    await db.$transaction([
      ...pairs(applied).map((OR) =>
        db.manifestDelivery.updateMany({
          where: { status: { in: ['pending', 'expired'] }, OR },
          data: { status: 'delivered', ackedAt: at, errorCode: null },
        }),
      ),
      ...rejected.map((r) =>
        db.manifestDelivery.updateMany({
          where: { device: r.device, version: r.version, status: { in: ['pending', 'expired'] } },
          data: { status: 'failed', ackedAt: at, errorCode: r.code },
        }),
      ),
      ...pairs([...applied, ...rejected]).map((OR) =>
        db.manifestDelivery.updateMany({ where: { ackedAt: null, OR }, data: { ackedAt: at } }),
      ),
    ]);
    for (const a of applied) this.deps.recorded({ ...a, status: 'delivered' });
    for (const r of rejected) this.deps.recorded({ device: r.device, version: r.version, status: 'failed' });
  }
}
