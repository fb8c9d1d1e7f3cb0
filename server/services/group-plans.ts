// [P-3.10] Group plans: the airings a unit target reached at all its stations alike (db column groupKey)
// are compiled once per unit, signed once and published retained on the unit's plan topic. A change for
// all of Hanoi is then one signature and one message, whatever the number of gateways. A plan is
// published again only when its entries change, when it is a day old (its lifetime is the manifest's),
// and on start (an embedded broker forgets retained messages).
import { createHash } from 'node:crypto';
import {
  type GroupPlan,
  type GroupPlanRef,
  groupAiringId,
  groupPlanHash,
  groupPlanTopic,
  type Manifest,
  type ManifestEntry,
  seal,
} from '#protocol';
import { chunked, type Db } from '../db/client.ts';
import { dialectOf } from '../db/dialect.ts';
import type { ServerKey } from '../keys.ts';
import type { Publisher } from '../mqtt/link.ts';
import { cutToLimits } from '../scheduling/plan-limits.ts';
import { planEntries } from './plan-entries.ts';
import type { UnitTree } from './unit-service.ts';

const DAY_MS = 86_400_000;

/** A station filter by unit (the user's scope); empty: all. */
type Scope = { unitId?: { in: string[] } };

export interface GroupPlanDeps {
  db: Db;
  link: Publisher;
  key: ServerKey;
  now: () => Date;
  horizonDays: number;
  log: { info(obj: object, msg: string): void };
}

/** A unit's plan as published now, and its entries by group key for splitting station manifests. */
export interface CurrentPlan {
  unitId: string;
  plan: GroupPlan;
  sha256: string;
  byKey: Map<string, ManifestEntry>;
  /** The unit had no plan before this refresh: no manifest names it yet. */
  first?: boolean;
}

export class GroupPlans {
  constructor(private readonly deps: GroupPlanDeps) {}

  /**
   * Brings the plans of these units up to date (a unit with group airings to come, or with a plan now) and
   * publishes those that changed; returns every current plan among them.
   */
  async refresh(unitIds: string[], tree: UnitTree, force = false): Promise<Map<string, CurrentPlan>> {
    const { db, now, horizonDays } = this.deps;
    const at = now();
    const horizonUntil = new Date(at.getTime() + horizonDays * DAY_MS);
    const lookBack = new Date(at.getTime() - DAY_MS);
    const ids = new Set(unitIds);
    // One statement for any number of units (the ids as one JSON parameter): one airing stands for each
    // entry, any station's, as long as one station still has it to air.
    const dialect = dialectOf(db);
    const groups = await db.$queryRawUnsafe<{ unitId: string; id: string }[]>(
      dialect.sql(
        `SELECT "groupUnitId" AS "unitId", MIN("id") AS "id" FROM "Occurrence" WHERE "groupUnitId" IN (${dialect.jsonIds})
         AND "startsAt" >= ? AND "startsAt" < ? AND "status" = 'scheduled' GROUP BY "groupUnitId", "groupKey"`,
      ),
      JSON.stringify([...ids]),
      dialect.time(lookBack),
      dialect.time(horizonUntil),
    );
    const reps = groups.map((g) => ({ unitId: g.unitId, id: g.id }));
    const stored = new Map<string, { body: string; publishedAt: Date }>();
    for (const part of chunked([...ids]))
      for (const p of await db.groupPlan.findMany({
        where: { unitId: { in: part } },
        select: { unitId: true, body: true, publishedAt: true },
      }))
        stored.set(p.unitId, p);
    const rows = [];
    for (const part of chunked(reps.map((r) => r.id)))
      rows.push(
        ...(await db.occurrence.findMany({
          where: { id: { in: part } },
          include: {
            media: { include: { fallbackMedia: true } },
            schedule: { select: { conflict: true, startWindowMs: true, emergencyId: true } },
          },
          orderBy: { startsAt: 'asc' },
        })),
      );
    const keyOf = new Map(rows.map((r) => [r.id, r.groupKey as string]));
    const byUnit = new Map<string, typeof rows>();
    for (const r of rows) byUnit.set(r.groupUnitId as string, [...(byUnit.get(r.groupUnitId as string) ?? []), r]);
    const out = new Map<string, CurrentPlan>();
    const changed: { unitId: string; plan: GroupPlan }[] = [];
    for (const unitId of new Set([...byUnit.keys(), ...stored.keys()])) {
      const unit = tree.byId.get(unitId);
      if (!unit) continue;
      const entries = planEntries(byUnit.get(unitId) ?? [], new Map(), at).map(({ entry }) => ({
        ...entry,
        occurrenceId: keyOf.get(entry.occurrenceId) ?? entry.occurrenceId,
      }));
      const previous = stored.get(unitId);
      const before = previous ? (JSON.parse(previous.body) as GroupPlan) : undefined;
      // [P-7] within the limits; a plan cut short ends where it was cut (and is renewed within the day)
      const cut = cutToLimits(entries, Buffer.byteLength(JSON.stringify({ unit: unit.code, version: 0, generatedAt: at, horizonUntil })));
      const same = before && JSON.stringify(before.entries) === JSON.stringify(cut.entries);
      const fresh = previous && previous.publishedAt.getTime() > at.getTime() - DAY_MS;
      if (before && same && fresh && !force) {
        out.set(unitId, current(unitId, before));
        continue;
      }
      if (!before && !cut.entries.length) continue;
      const plan: GroupPlan =
        before && same && fresh
          ? before
          : {
              unit: unit.code,
              version: (before?.version ?? 0) + 1,
              generatedAt: at.toISOString(),
              horizonUntil: (cut.cutAt ?? horizonUntil).toISOString(),
              entries: cut.entries as GroupPlan['entries'],
            };
      changed.push({ unitId, plan });
      out.set(unitId, { ...current(unitId, plan), ...(before ? {} : { first: true }) });
    }
    await this.publish(changed, at);
    return out;
  }

  /** Every unit's plan published again as stored (on start: the embedded broker lost its retained messages). */
  async republishAll(): Promise<number> {
    const plans = await this.deps.db.groupPlan.findMany({ select: { unitId: true, body: true } });
    await this.publish(
      plans.map((p) => ({ unitId: p.unitId, plan: JSON.parse(p.body) as GroupPlan })),
      this.deps.now(),
    );
    return plans.length;
  }

  /**
   * [P-3.10.5] Each unit's current plan, with how many gateways (among the stations of `scope`, a station
   * filter) below the unit hold group plans and how many of them acknowledged this version.
   */
  async list(scope: Scope, tree: UnitTree) {
    const plans = await this.deps.db.groupPlan.findMany({
      select: { unitId: true, version: true, entries: true, sha256: true, publishedAt: true },
    });
    const out = [];
    for (const p of plans) {
      const unit = tree.byId.get(p.unitId);
      const gateways = unit ? await this.gateways(p.unitId, scope, tree) : [];
      if (!unit || !gateways.length) continue;
      const held = await this.held(p.unitId, p.version, gateways);
      out.push({ unit: unit.code, unitName: unit.name, ...p, unitId: undefined, gateways: gateways.length, held: held.size });
    }
    return out.sort((a, b) => a.unit.localeCompare(b.unit));
  }

  /**
   * [P-3.10.5] The deliveries of the group plans published since `since`: one per gateway below the unit
   * (of the stations of `scope`) that holds group plans, delivered once its ack names that version or a later one.
   */
  async deliveries(since: Date, scope: Scope, tree: UnitTree) {
    const plans = await this.deps.db.groupPlan.findMany({ where: { publishedAt: { gte: since } } });
    const out = [];
    for (const p of plans) {
      const unit = tree.byId.get(p.unitId);
      if (!unit) continue;
      const gateways = await this.gateways(p.unitId, scope, tree);
      const held = await this.held(p.unitId, p.version, gateways);
      for (const g of gateways)
        out.push({
          unit: unit.code,
          version: p.version,
          station: g.station.code,
          device: g.code,
          status: held.has(g.code) ? ('delivered' as const) : ('pending' as const),
          publishedAt: p.publishedAt,
          ackedAt: held.get(g.code) ?? null,
        });
    }
    return out;
  }

  /** Enrolled gateways below a unit (of the stations of `scope`) whose acks say they hold group plans. */
  private async gateways(unitId: string, scope: Scope, tree: UnitTree) {
    const below = tree.subtree(unitId).map((u) => u.id);
    const units = scope.unitId ? below.filter((id) => scope.unitId?.in.includes(id)) : below;
    const out: { code: string; station: { code: string } }[] = [];
    for (const part of chunked(units))
      out.push(
        ...(await this.deps.db.device.findMany({
          where: { revokedAt: null, groupPlans: true, station: { unitId: { in: part } } },
          select: { code: true, station: { select: { code: true } } },
        })),
      );
    return out;
  }

  /** Of these gateways, those that acknowledged this version of the unit's plan or a later one, with when. */
  private async held(unitId: string, version: number, gateways: { code: string }[]): Promise<Map<string, Date>> {
    const held = new Map<string, Date>();
    for (const part of chunked(gateways.map((g) => g.code)))
      for (const r of await this.deps.db.groupDelivery.findMany({
        where: { unitId, version: { gte: version }, device: { in: part } },
        select: { device: true, ackedAt: true },
        orderBy: { version: 'asc' },
      }))
        if (!held.has(r.device)) held.set(r.device, r.ackedAt);
    return held;
  }

  /** Units whose plan is a day old or more: published again before devices see it expire. */
  async stale(): Promise<string[]> {
    const rows = await this.deps.db.groupPlan.findMany({
      where: { publishedAt: { lte: new Date(this.deps.now().getTime() - DAY_MS) } },
      select: { unitId: true },
    });
    return rows.map((r) => r.unitId);
  }

  /** Stores the plans in one transaction, then publishes them all at once (each retained on its unit's topic). */
  private async publish(plans: { unitId: string; plan: GroupPlan }[], at: Date): Promise<void> {
    const { db, key, link, horizonDays, log } = this.deps;
    if (!plans.length) return;
    await db.$transaction(
      plans.map(({ unitId, plan }) => {
        const row = {
          version: plan.version,
          body: JSON.stringify(plan),
          sha256: groupPlanHash(plan),
          entries: plan.entries.length,
          publishedAt: at,
        };
        return db.groupPlan.upsert({ where: { unitId }, create: { unitId, ...row }, update: row });
      }),
    );
    await Promise.all(
      plans.map(({ plan }) => {
        const envelope = seal('group-plan', plan, key.signer, { now: at, ttlMs: (horizonDays + 1) * DAY_MS });
        return link.publish(groupPlanTopic(plan.unit), JSON.stringify(envelope), { retain: true });
      }),
    );
    if (plans.length === 1)
      log.info({ unit: plans[0].plan.unit, version: plans[0].plan.version, entries: plans[0].plan.entries.length }, 'group plan published');
    else log.info({ plans: plans.length }, 'group plans published');
  }
}

function current(unitId: string, plan: GroupPlan): CurrentPlan {
  return { unitId, plan, sha256: groupPlanHash(plan), byKey: new Map(plan.entries.map((e) => [e.occurrenceId, e])) };
}

/**
 * [P-3.10] Splits one device's entries: those its station airs exactly as a group plan it lies below says
 * stay with the plan, the rest stay its own, and the plan's entries it must not air are listed as `except`.
 */
export function splitByGroups(
  mine: ManifestEntry[],
  station: string,
  plans: CurrentPlan[],
): { own: ManifestEntry[]; refs: GroupPlanRef[] } {
  const byId = new Map(mine.map((e) => [e.occurrenceId, e]));
  const covered = new Set<string>();
  const refs = plans.map((p) => {
    const except: string[] = [];
    for (const [key, entry] of p.byKey) {
      const id = groupAiringId(key, station);
      const own = byId.get(id);
      if (own && JSON.stringify(own) === JSON.stringify({ ...entry, occurrenceId: id })) covered.add(id);
      else except.push(key);
    }
    return { unit: p.plan.unit, version: p.plan.version, sha256: p.sha256, ...(except.length ? { except } : {}) };
  });
  return { own: mine.filter((e) => !covered.has(e.occurrenceId)), refs };
}

/**
 * [P-3.10] A change that lies wholly in group plans: at these stations, its only new airings are the
 * group entries `keys` (a new schedule for whole units).
 */
export interface GroupChange {
  stationIds: string[];
  keys: Set<string>;
}

/**
 * [P-3.10] Of a group change's stations, those whose manifests would not change: every new entry is in a
 * plan their gateways' manifests already name (not one published first just now, nor cut off by the limits),
 * and each gateway holds group plans and was sent its own part within the day, none of it cut. Compiling
 * them again would only find what they hold (the request's largest cost at a province's scale); the new
 * entries reach them on the group's topic.
 */
export async function unchangedOwnParts(db: Db, change: GroupChange, plans: Map<string, CurrentPlan>, at: Date): Promise<Set<string>> {
  const named = [...plans.values()].filter((p) => !p.first);
  if (!change.stationIds.length || ![...change.keys].every((k) => named.some((p) => p.byKey.has(k)))) return new Set();
  // One statement for any number of stations (their ids as one JSON parameter).
  const dialect = dialectOf(db);
  const gateway = `"d"."stationId" = "s"."id" AND "d"."revokedAt" IS NULL`;
  const rows = await db.$queryRawUnsafe<{ id: string }[]>(
    dialect.sql(
      `SELECT "s"."id" AS "id" FROM "Station" "s" WHERE "s"."id" IN (${dialect.jsonIds}) AND "s"."planRefreshAt" IS NULL
       AND EXISTS (SELECT 1 FROM "Device" "d" WHERE ${gateway})
       AND NOT EXISTS (SELECT 1 FROM "Device" "d" WHERE ${gateway}
         AND ("d"."groupPlans" = FALSE OR "d"."planHash" IS NULL OR "d"."planAt" IS NULL OR "d"."planAt" <= ?))`,
    ),
    JSON.stringify(change.stationIds),
    dialect.time(new Date(at.getTime() - DAY_MS)),
  );
  return new Set(rows.map((r) => r.id));
}

/** [P-3.10] What a manifest says beyond its version, instants and the versions of the group plans it names. */
export function ownHash(m: Manifest): string {
  const { version: _v, generatedAt: _g, horizonUntil: _h, groupPlans, ...rest } = m;
  const groups = groupPlans?.map(({ unit, except }) => ({ unit, except }));
  return createHash('sha256')
    .update(JSON.stringify({ ...rest, groups }))
    .digest('hex');
}

/** [P-3.10] Records each gateway's last published manifest hash: one statement per 300 gateways. */
export function stampPlans(db: Db, published: { device: string; hash: string }[], at: Date) {
  const dialect = dialectOf(db);
  return chunked(published, 300).map((part) =>
    db.$executeRawUnsafe(
      dialect.sql(
        `UPDATE "Device" SET "planAt" = ?, "planHash" = CASE "code" ${part.map(() => 'WHEN ? THEN ?').join(' ')} END WHERE "code" IN (${part.map(() => '?').join(', ')})`,
      ),
      dialect.time(at),
      ...part.flatMap((c) => [c.device, c.hash]),
      ...part.map((c) => c.device),
    ),
  );
}
