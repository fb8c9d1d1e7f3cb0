// Compiles a station's plan for the horizon into one signed manifest per gateway and publishes it,
// retained, so a gateway that connects later still receives the latest version ([P-5.2]). Only the
// stations a change touches are recompiled. Each publication is a delivery, tracked until the gateway's
// signed acknowledgement ([P-3.7]): pending → delivered | failed | expired | superseded.
import { EventEmitter } from 'node:events';
import PQueue from 'p-queue';
import { type LocalPolicy, type Manifest, manifestTopic, seal } from '#protocol';
import type { Opener } from '../compliance/open-worker.ts';
import type { Db } from '../db/client.ts';
import { dialectOf } from '../db/dialect.ts';
import type { ServerKey } from '../keys.ts';
import type { Metrics } from '../metrics.ts';
import type { Publisher } from '../mqtt/link.ts';
import { cutToLimits, renewals } from '../scheduling/plan-limits.ts';
import { AckIntake } from './ack-intake.ts';
import type { DeviceService } from './device-service.ts';
import { type CurrentPlan, type GroupChange, GroupPlans, ownHash, splitByGroups, stampPlans, unchangedOwnParts } from './group-plans.ts';
import { type DeliveryQuery, listDeliveries } from './manifest-deliveries.ts';
import { planEntries, prefetchOf } from './plan-entries.ts';
import type { UnitService, UnitTree } from './unit-service.ts';

const DAY_MS = 86_400_000;

export interface DispatchDeps {
  db: Db;
  link: Publisher;
  key: ServerKey;
  devices: DeviceService;
  units: UnitService;
  metrics: Metrics;
  now: () => Date;
  horizonDays: number;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Opens the gateways' signed acks: the server's worker pool; inline when absent. */
  open?: Opener;
  openers?: number;
}

/** Stations compiled and published together. */
const BATCH = 500;

export interface Compiled {
  stationId: string;
  device: string;
  manifest: Manifest;
  /** The plan was cut to the protocol's limits: its horizon, the first instant it no longer covers. */
  cutAt?: Date;
  /** [P-3.10] What the manifest says beyond its version, instants and group plan versions, hashed. */
  hash: string;
  /** [P-3.10] The gateway's acks say it holds group plans. */
  holdsGroups: boolean;
  /** The hash of the device's last published manifest and when that was (absent: never, or no device yet). */
  last?: { hash: string; at: Date };
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'expired' | 'superseded';

export class DispatchService {
  /** Emits ('ack', {device, version, status}) after each acknowledgement is recorded: for the simulator, benchmarks and tests. */
  readonly events = new EventEmitter();

  private readonly acks: AckIntake;
  readonly groupPlans: GroupPlans;
  /** One dispatch at a time: two at once could publish a station's newer plan under the older version (a gateway keeps the higher). */
  private readonly serial = new PQueue({ concurrency: 1 });

  constructor(private readonly deps: DispatchDeps) {
    this.events.setMaxListeners(0);
    this.groupPlans = new GroupPlans(deps);
    this.acks = new AckIntake({
      ...deps,
      recorded: (ack) => this.events.emit('ack', ack),
      // Emits ('group-ack', {device, unit, version}) for each group plan version a gateway says it holds.
      groupsHeld: (ack) => this.events.emit('group-ack', ack),
      // A gateway that stopped saying it holds group plans (an older agent) gets its complete plan again;
      // ('complete-plans', stationIds) once published.
      downgraded: (stationIds) =>
        void this.dispatch(stationIds).then(
          () => this.events.emit('complete-plans', stationIds),
          (err: Error) => deps.log.error({ err: err.message }, 'complete plans not published'),
        ),
    });
  }

  /** The manifests of one station (one per gateway) under a new version; nothing is published. */
  async compile(stationId: string, tree?: UnitTree): Promise<Compiled[]> {
    return this.compileMany([stationId], tree ?? (await this.deps.units.tree()));
  }

  /**
   * The manifests of many stations under new versions, with a handful of queries for the whole batch
   * (a change touching a province must not cost a round of queries per station).
   */
  async compileMany(stationIds: string[], tree: UnitTree, plans = new Map<string, CurrentPlan>()): Promise<Compiled[]> {
    const { db, now, horizonDays } = this.deps;
    const at = now();
    const horizonUntil = new Date(at.getTime() + horizonDays * DAY_MS);
    // An item still playing stays in the manifest so a gateway restarting mid-item knows about it.
    const lookBack = new Date(at.getTime() - DAY_MS);
    // No interactive transaction: it would hold the database's write lock across awaits, while the proof
    // ledger's synchronous connection (server/db/proof-ledger.ts) may wait for that lock on this same event
    // loop, which then cannot finish the transaction (a 15 s stall, then "database is locked"). The version
    // bump and its read are one statement: a compile beside this one (another server's) takes the next one.
    const dialect = dialectOf(db);
    const stations = await db.$queryRawUnsafe<{ id: string; code: string; unitId: string; manifestVersion: number }[]>(
      dialect.sql(`UPDATE "Station" SET "manifestVersion" = "manifestVersion" + 1 WHERE "id" IN (${dialect.jsonIds})
       RETURNING "id", "code", "unitId", "manifestVersion"`),
      JSON.stringify(stationIds),
    );
    const occurrences = await db.occurrence.findMany({
      where: {
        stationId: { in: stationIds },
        startsAt: { gte: lookBack, lt: horizonUntil },
        // An alert stays in the plan while valid, aired or not: the gateway holds it as played, and one
        // that dropped out would be taken as cancelled ([P-5.5]).
        OR: [{ status: 'scheduled' }, { status: { not: 'cancelled' }, schedule: { emergencyId: { not: null } } }],
      },
      include: {
        media: { include: { fallbackMedia: true } },
        schedule: { select: { conflict: true, startWindowMs: true, emergencyId: true } },
      },
      orderBy: { startsAt: 'asc' },
    });
    const emergencyIds = [...new Set(occurrences.flatMap((o) => (o.schedule.emergencyId ? [o.schedule.emergencyId] : [])))];
    const emergencies = emergencyIds.length
      ? await db.emergency.findMany({
          where: { id: { in: emergencyIds }, state: 'active' },
          select: { id: true, validUntil: true, repeatCount: true, repeatIntervalS: true, repeatUntil: true },
        })
      : [];
    const templates = await db.emergencyTemplate.findMany({
      select: { unitId: true, media: true, endMedia: true },
      orderBy: { createdAt: 'asc' },
    });
    const devices = await db.device.findMany({
      where: { stationId: { in: stationIds }, revokedAt: null },
      select: { code: true, stationId: true, groupPlans: true, planHash: true, planAt: true },
      orderBy: { createdAt: 'asc' },
    });
    const alerts = new Map(emergencies.map((e) => [e.id, e]));
    const byStation = new Map<string, typeof occurrences>();
    for (const o of occurrences) byStation.set(o.stationId, [...(byStation.get(o.stationId) ?? []), o]);
    const devicesOf = new Map<string, (typeof devices)[number][]>();
    for (const d of devices) devicesOf.set(d.stationId, [...(devicesOf.get(d.stationId) ?? []), d]);
    const policies = new Map<string, LocalPolicy>();
    const out: Compiled[] = [];
    for (const station of stations) {
      if (!policies.has(station.unitId)) {
        const { policy } = tree.effectivePolicy(station.unitId);
        policies.set(station.unitId, {
          timeZone: 'Asia/Ho_Chi_Minh',
          quietHours: policy.quietHours ?? [],
          maxVolume: policy.maxVolume ?? [],
          ...(policy.emergencyVolume !== undefined ? { emergencyVolume: policy.emergencyVolume } : {}),
        });
      }
      const entries = planEntries(byStation.get(station.id) ?? [], alerts, at);
      // One manifest per unrevoked gateway; a station without any yet gets one under its own code, retained for its first gateway.
      // [P-3.10] the group plans of the units the station lies below, for gateways that hold group plans
      const held = tree.chain(station.unitId).flatMap((u) => plans.get(u.id) ?? []);
      for (const row of devicesOf.get(station.id) ?? [{ code: station.code, groupPlans: false, planHash: null, planAt: null }]) {
        const device = row.code;
        const manifest: Manifest = {
          station: station.code,
          version: station.manifestVersion,
          generatedAt: at.toISOString(),
          horizonUntil: horizonUntil.toISOString(),
          policy: policies.get(station.unitId),
          serverKeys: this.deps.key.trusted(),
          groups: tree.groups(station.unitId),
          ...prefetchOf(templates, new Set(tree.chain(station.unitId).map((u) => u.id))),
          entries: [],
        };
        const mine = entries.flatMap(({ zones, entry }) => {
          // zones: "<device>:<zone>" or "<device>:*"; none = every output of every device.
          if (!zones.length) return [entry];
          const own = zones.filter((z) => z.startsWith(`${device}:`)).map((z) => z.slice(device.length + 1));
          if (!own.length) return [];
          return [own.includes('*') ? entry : { ...entry, zones: own }];
        });
        const split = row.groupPlans && held.length ? splitByGroups(mine, station.code, held) : { own: mine, refs: [] };
        if (split.refs.length) manifest.groupPlans = split.refs;
        // [P-7] Within the limits a gateway enforces; a plan cut short ends where it was cut.
        const cut = cutToLimits(split.own, Buffer.byteLength(JSON.stringify(manifest)));
        manifest.entries = cut.entries;
        if (cut.cutAt) manifest.horizonUntil = cut.cutAt.toISOString();
        out.push({
          stationId: station.id,
          device,
          manifest,
          ...(cut.cutAt ? { cutAt: cut.cutAt } : {}),
          hash: ownHash(manifest),
          holdsGroups: row.groupPlans,
          ...(row.groupPlans && row.planHash && row.planAt ? { last: { hash: row.planHash, at: row.planAt } } : {}),
        });
      }
    }
    return out;
  }

  /**
   * Recompiles and publishes the given stations' manifests in batches; returns how many manifests went out.
   * `group`: the change lies wholly in group plans, so stations whose manifests it cannot change are skipped.
   */
  dispatch(stationIds: Iterable<string>, opts: { force?: boolean; group?: GroupChange } = {}): Promise<number> {
    const ids = [...new Set(stationIds)];
    return this.serial.add(() => this.dispatchNow(ids, opts), { throwOnTimeout: true });
  }

  private async dispatchNow(stationIds: string[], opts: { force?: boolean; group?: GroupChange }): Promise<number> {
    const { db, now, key, link, metrics, horizonDays, log } = this.deps;
    let ids = stationIds;
    if (!ids.length) return 0;
    const tree = await this.deps.units.tree();
    const ttlMs = (horizonDays + 1) * DAY_MS;
    // [P-3.10] First the group plans of every unit these stations lie below: their manifests name them.
    const unitIds = new Set<string>();
    const dialect = dialectOf(db);
    for (const st of await db.$queryRawUnsafe<{ unitId: string }[]>(
      dialect.sql(`SELECT DISTINCT "unitId" FROM "Station" WHERE "id" IN (${dialect.jsonIds})`),
      JSON.stringify(ids),
    ))
      for (const u of tree.chain(st.unitId)) unitIds.add(u.id);
    const plans = await this.groupPlans.refresh([...unitIds], tree, opts.force);
    if (opts.group && !opts.force) {
      const unchanged = await unchangedOwnParts(db, opts.group, plans, now());
      ids = ids.filter((id) => !unchanged.has(id));
    }
    let published = 0;
    // Each batch is published while the next one is compiled and recorded: one batch in flight at most.
    let publishing: Promise<void> = Promise.resolve();
    for (let i = 0; i < ids.length; i += BATCH) {
      const compiled = await this.compileMany(ids.slice(i, i + BATCH), tree, plans);
      const at = now();
      // [P-3.10] A gateway that holds group plans is sent its manifest again only when what it says of its
      // own changed (a change to a group plan alone reaches it on the group's topic), or after a day.
      const changed = compiled.filter(
        (c) => opts.force || c.cutAt || !c.last || c.last.hash !== c.hash || c.last.at.getTime() <= at.getTime() - DAY_MS,
      );
      const sealed = changed.map((c) => ({ ...c, envelope: seal('manifest', c.manifest, key.signer, { now: at, ttlMs }) }));
      // [P-7] A station whose plan was cut is compiled again half-way through it.
      const renew = renewals(sealed, at);
      // Raw statements first, lists as one JSON parameter: Prisma caches a batch led by a model query under a key that
      // grows with its lists (1,000 of ~0.5 MB: a slow leak, one key per size); one led by a raw statement, never.
      await db.$transaction([
        db.$executeRawUnsafe(
          dialect.sql(`UPDATE "Station" SET "planRefreshAt" = NULL WHERE "planRefreshAt" IS NOT NULL AND "id" IN (${dialect.jsonIds})`),
          JSON.stringify(ids.slice(i, i + BATCH).filter((id) => !renew.has(id))),
        ),
        db.$executeRawUnsafe(
          dialect.sql(
            `UPDATE "ManifestDelivery" SET "status" = 'superseded' WHERE "status" = 'pending' AND "device" IN (${dialect.jsonIds})`,
          ),
          JSON.stringify(sealed.map((c) => c.device)),
        ),
        ...[...renew].map(([id, planRefreshAt]) => db.station.update({ where: { id }, data: { planRefreshAt } })),
        db.manifestDelivery.createMany({
          data: sealed.map((c) => ({
            stationId: c.stationId,
            device: c.device,
            version: c.manifest.version,
            entries: c.manifest.entries.length,
            publishedAt: at,
            expiresAt: new Date(at.getTime() + ttlMs),
          })),
        }),
        ...stampPlans(
          db,
          sealed.filter((c) => c.holdsGroups),
          at,
        ),
      ]);
      await publishing;
      publishing = Promise.all(sealed.map((c) => link.publish(manifestTopic(c.device), JSON.stringify(c.envelope), { retain: true }))).then(
        () => {
          metrics.manifests.inc(sealed.length);
          const [c] = sealed;
          if (sealed.length !== 1) return log.info({ manifests: sealed.length }, 'manifests published');
          const { station, version, entries } = c.manifest;
          log.info({ station, device: c.device, version, entries: entries.length }, 'manifest published');
        },
      );
      // Awaited before the next batch or at the end; until then a failure must not go unhandled.
      publishing.catch(() => {});
      published += sealed.length;
    }
    await publishing;
    return published;
  }

  /** [P-3.7] A gateway's signed receipt: the delivery becomes delivered (applied) or failed (rejected); taken in batches. */
  handleAck(device: string, payload: Buffer): Promise<void> {
    return this.acks.handle(device, payload);
  }

  /** Enrolled gateways that have not applied a manifest of their own published since `at` (a key announcement). */
  async unconfirmedSince(at: Date): Promise<string[]> {
    const { db } = this.deps;
    const confirmed = new Set(
      (await db.manifestDelivery.findMany({ where: { status: 'delivered', publishedAt: { gte: at } }, select: { device: true } })).map(
        (d) => d.device,
      ),
    );
    const enrolled = await db.device.findMany({
      where: { revokedAt: null, enrolledAt: { not: null } },
      select: { code: true },
      orderBy: { code: 'asc' },
    });
    return enrolled.map((d) => d.code).filter((code) => !confirmed.has(code));
  }

  /** Every station gets a new plan (after a key change). */
  async dispatchAll(): Promise<number> {
    return this.dispatch(
      (await this.deps.db.station.findMany({ select: { id: true } })).map((s) => s.id),
      { force: true },
    );
  }

  /** Manifest deliveries to the stations within `scope`, with counts by status (expired ones marked first). */
  async deliveries(q: DeliveryQuery, scope: object) {
    await this.expireDeliveries();
    return listDeliveries(this.deps.db, q, scope);
  }

  /** Marks deliveries whose envelope lifetime ended unacknowledged as expired. */
  async expireDeliveries(): Promise<number> {
    const { count } = await this.deps.db.manifestDelivery.updateMany({
      where: { status: 'pending', expiresAt: { lte: this.deps.now() } },
      data: { status: 'expired' },
    });
    return count;
  }

  /**
   * [P-3.7] An ack can be lost (the server stopped before storing it): the plan of an online station whose
   * delivery is still pending after `afterMs` is published again, and its gateway acknowledges it.
   */
  async republishUnacknowledged(afterMs = 5 * 60_000): Promise<number> {
    const rows = await this.deps.db.manifestDelivery.findMany({
      where: { status: 'pending', publishedAt: { lte: new Date(this.deps.now().getTime() - afterMs) }, station: { online: true } },
      select: { stationId: true },
      distinct: ['stationId'],
      take: 500,
    });
    return this.dispatch(
      rows.map((r) => r.stationId),
      { force: true },
    );
  }

  /** [P-3.10] Group plans a day old are published again under a new version, before gateways see them expire. */
  async refreshGroupPlans(): Promise<number> {
    const stale = await this.groupPlans.stale();
    if (!stale.length) return 0;
    return (await this.groupPlans.refresh(stale, await this.deps.units.tree())).size;
  }

  /** [P-7] Stations whose plan was cut to the limits get the next part once half of it has passed. */
  async renewCutPlans(): Promise<number> {
    const due = await this.deps.db.station.findMany({ where: { planRefreshAt: { lte: this.deps.now() } }, select: { id: true } });
    return this.dispatch(due.map((s) => s.id));
  }

  /** Re-plans every station that has this item still to air (after it was withdrawn). */
  async dispatchMedia(mediaId: string): Promise<void> {
    await this.dispatchStationsWithPending(mediaId);
  }

  /** On start: the embedded broker keeps retained messages in memory only, so republish what is pending. */
  async dispatchPending(): Promise<number> {
    await this.groupPlans.republishAll();
    return this.dispatchStationsWithPending(undefined, true);
  }

  /** Re-plans every station with an occurrence still to air (of one item, when given). */
  private async dispatchStationsWithPending(mediaId?: string, force = false): Promise<number> {
    const rows = await this.deps.db.occurrence.findMany({
      where: { ...(mediaId ? { mediaId } : {}), status: 'scheduled', startsAt: { gte: new Date(this.deps.now().getTime() - DAY_MS) } },
      select: { stationId: true },
      distinct: ['stationId'],
    });
    await this.dispatch(
      rows.map((r) => r.stationId),
      { force },
    );
    return rows.length;
  }
}
