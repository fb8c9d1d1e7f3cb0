// [P-3.7] Gateways' signed manifest acknowledgements, taken in batches: a change for a province brings
// thousands within a second. Each batch: one query for the devices, the signatures checked on the worker
// pool, then a few statements for the whole batch (applied plans delivered, late acks stamped), never a
// query per ack. One batch at a time; acks that arrive meanwhile form the next (batches.ts).
import { randomUUID } from 'node:crypto';
import type { ManifestAck } from '#protocol';
import { type Opener, openInParts } from '../compliance/open-worker.ts';
import { chunked, type Db } from '../db/client.ts';
import { dialectOf } from '../db/dialect.ts';
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
  /** [P-3.10] After the acks of a batch are recorded, once per group plan version an ack says is held. */
  groupsHeld?: (held: { device: string; unit: string; version: number }) => void;
  /** [P-3.10] Stations of gateways whose acks no longer carry `groups`: they need complete manifests again. */
  downgraded?: (stationIds: string[]) => void;
}

/** Most acks taken into one batch. */
const BATCH = 1000;

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
    const held: { device: string; unit: string; version: number }[] = [];
    const capable = new Set<string>();
    const older = new Set<string>();
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
      if (ack.status === 'applied') {
        applied.push({ device: q.device, version: ack.version });
        (ack.groups ? capable : older).add(q.device);
        for (const g of ack.groups ?? []) held.push({ device: q.device, ...g });
      } else rejected.push({ device: q.device, version: ack.version, code: ack.code });
    }
    if (!applied.length && !rejected.length) return;
    const at = now();
    // Only a delivery still waiting moves; a late ack (for a superseded version) is stamped with its time only.
    // One batch transaction, not an interactive one: that would hold SQLite's write lock across awaits
    // while the proof ledger's synchronous connection waits for it on this same event loop. The pairs go as
    // one JSON parameter: a statement whose shape does not change with the batch's size is planned once.
    const dialect = dialectOf(db);
    const pairs = (list: { device: string; version: number }[]) => JSON.stringify(list.map(({ device, version }) => [device, version]));
    const delivered = `UPDATE "ManifestDelivery" SET "status" = 'delivered', "ackedAt" = ?, "errorCode" = NULL
      WHERE "status" IN ('pending', 'expired') AND ("device", "version") IN (${dialect.jsonPairs})`;
    const stamped = `UPDATE "ManifestDelivery" SET "ackedAt" = ? WHERE "ackedAt" IS NULL AND ("device", "version") IN (${dialect.jsonPairs})`;
    await db.$transaction([
      ...(applied.length ? [db.$executeRawUnsafe(dialect.sql(delivered), dialect.time(at), pairs(applied))] : []),
      ...rejected.map((r) =>
        db.manifestDelivery.updateMany({
          where: { device: r.device, version: r.version, status: { in: ['pending', 'expired'] } },
          data: { status: 'failed', ackedAt: at, errorCode: r.code },
        }),
      ),
      db.$executeRawUnsafe(dialect.sql(stamped), dialect.time(at), pairs([...applied, ...rejected])),
    ]);
    await this.recordGroups(capable, older, held, at);
    for (const a of applied) this.deps.recorded({ ...a, status: 'delivered' });
    for (const r of rejected) this.deps.recorded({ device: r.device, version: r.version, status: 'failed' });
  }

  /**
   * [P-3.10] Which gateways hold group plans (an ack carrying `groups` says so; one without it, from an older
   * agent, says not), and one delivery row per group plan version held.
   */
  private async recordGroups(
    capable: Set<string>,
    older: Set<string>,
    held: { device: string; unit: string; version: number }[],
    at: Date,
  ) {
    const { db } = this.deps;
    const dialect = dialectOf(db);
    if (capable.size)
      await db.$executeRawUnsafe(
        dialect.sql(`UPDATE "Device" SET "groupPlans" = TRUE WHERE "groupPlans" = FALSE AND "code" IN (${dialect.jsonIds})`),
        JSON.stringify([...capable]),
      );
    const stations: string[] = [];
    for (const part of chunked([...older])) {
      const was = await db.device.findMany({ where: { code: { in: part }, groupPlans: true }, select: { code: true, stationId: true } });
      if (!was.length) continue;
      await db.device.updateMany({ where: { code: { in: was.map((d) => d.code) } }, data: { groupPlans: false, planHash: null } });
      stations.push(...was.map((d) => d.stationId));
    }
    if (stations.length) this.deps.downgraded?.(stations);
    if (!held.length) return;
    const units = new Map(
      (await db.unit.findMany({ where: { code: { in: [...new Set(held.map((h) => h.unit))] } }, select: { id: true, code: true } })).map(
        (u) => [u.code, u.id],
      ),
    );
    const rows = held.flatMap((h) => (units.has(h.unit) ? [{ ...h, unitId: units.get(h.unit) as string }] : []));
    for (const part of chunked(rows, 150))
      await db.$executeRawUnsafe(
        dialect.sql(
          `INSERT INTO "GroupDelivery" ("id", "unitId", "device", "version", "ackedAt") VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
        ),
        ...part.flatMap((r) => [randomUUID(), r.unitId, r.device, r.version, dialect.time(at)]),
      );
    for (const h of held) this.deps.groupsHeld?.(h);
  }
}
