// The administrative tree: lookups, inherited policy, and the changes real users make to it (import,
// rename, merge under the 2025 reform). History is never rewritten: a merged unit keeps its code and
// past airings stay attributed to it; every change is a UnitEvent.
import { chunked, type Db } from '../db/client.ts';
import { Policy } from '../scheduling/policy.ts';
import { badRequest, notFound } from './errors.ts';
import type { DomainEvents } from './events.ts';
import { exportUnits, importUnits } from './unit-import.ts';
import { type UnitRow, UnitTree } from './unit-tree.ts';

export { type UnitRow, UnitTree };

/** How long a process trusts its cached unit tree (another process sharing the database may change it). */
const TREE_TTL_MS = 30_000;

const UNIT_SELECT = {
  id: true,
  code: true,
  name: true,
  type: true,
  level: true,
  parentId: true,
  policy: true,
  endedAt: true,
  mergedIntoId: true,
  validFrom: true,
};

export interface MergeInput {
  sources: string[];
  /** An existing unit, or a new one to create (the 2025 reform made new communes from several old ones). */
  into: { code: string; name?: string; type?: string; parentCode?: string | null };
  byId?: string;
}

const parentOf = (u: UnitRow, tree: UnitTree) => (u.parentId ? (tree.byId.get(u.parentId)?.code ?? null) : null);

export class UnitService {
  constructor(
    private readonly deps: {
      db: Db;
      now: () => Date;
      /** Told of stations moved by a merge and of plans changed under a changed policy. */
      events?: DomainEvents;
    },
  ) {}

  /** Every unit (ended ones too, for history), parents before children (unit-import.ts). */
  async export() {
    return exportUnits(this.deps.db, await this.tree());
  }

  /** Creates and updates units from import rows; never deletes (unit-import.ts). */
  async import(rows: unknown[], byId?: string) {
    this.changed();
    try {
      return await importUnits(this.deps, await this.tree(), rows, byId);
    } finally {
      this.changed();
    }
  }

  /** Renames a unit (or changes its type); the old name stays in its history. */
  async rename(code: string, input: { name?: string; type?: string }, byId?: string) {
    const { db, now } = this.deps;
    const unit = await db.unit.findUnique({ where: { code } });
    if (!unit) throw notFound('UNKNOWN_UNIT', `unknown unit ${code}`);
    const after = { name: input.name ?? unit.name, type: input.type ?? unit.type };
    this.changed();
    await db.$transaction([
      db.unit.update({ where: { id: unit.id }, data: after }),
      db.unitEvent.create({
        data: {
          unitId: unit.id,
          kind: 'rename',
          before: JSON.stringify({ name: unit.name, type: unit.type }),
          after: JSON.stringify(after),
          byId,
          at: now(),
        },
      }),
    ]);
    this.changed();
    return after;
  }

  /**
   * Merges units into one (existing or created): their stations and children move to it, what is still
   * to air moves with the stations, what already aired stays attributed to the old unit, and the old
   * units end (kept, with mergedInto) so reports by old unit keep working.
   */
  async merge(input: MergeInput) {
    const { db, now } = this.deps;
    const at = now();
    const tree = await this.tree();
    const sources = [...new Set(input.sources)].map((c) => tree.get(c));
    if (!sources.length) throw badRequest('NO_SOURCES', 'name the units to merge');
    for (const u of sources) tree.assertCurrent(u);
    if (sources.some((u) => u.code === input.into.code))
      throw badRequest('MERGE_INTO_SOURCE', 'a unit cannot be merged into itself; list only the others');
    let target = tree.byCode.get(input.into.code);
    if (target) tree.assertCurrent(target);
    const parentCode = input.into.parentCode ?? (target?.parentId ? tree.byId.get(target.parentId)?.code : undefined) ?? null;
    const parent = parentCode ? tree.get(parentCode) : undefined;
    if (!target && (!input.into.name || !input.into.type)) throw badRequest('MERGE_TARGET_INCOMPLETE', 'a new unit needs name and type');
    const sourceIds = sources.map((u) => u.id);
    if (parent && tree.chain(parent.id).some((u) => sourceIds.includes(u.id)))
      throw badRequest('MERGE_CYCLE', 'the new parent lies inside a merged unit');

    this.changed();
    const result = await db.$transaction(async (tx) => {
      const into =
        target ??
        (await tx.unit.create({
          data: {
            code: input.into.code,
            name: input.into.name as string,
            type: input.into.type as string,
            level: parent ? parent.level + 1 : sources[0].level,
            parentId: parent?.id ?? null,
          },
        }));
      if (!target)
        await tx.unitEvent.create({
          data: { unitId: into.id, kind: 'create', after: JSON.stringify({ ...input.into, from: input.sources }), byId: input.byId, at },
        });
      const stations = await tx.station.findMany({ where: { unitId: { in: sourceIds } }, select: { id: true } });
      const stationIds = stations.map((s) => s.id);
      await tx.station.updateMany({ where: { id: { in: stationIds } }, data: { unitId: into.id } });
      // What has not aired yet moves with the station; past airings keep the unit they aired under.
      const moved = await tx.occurrence.updateMany({
        where: { stationId: { in: stationIds }, status: 'scheduled', startsAt: { gte: at } },
        data: { unitId: into.id },
      });
      await tx.unit.updateMany({ where: { parentId: { in: sourceIds } }, data: { parentId: into.id } });
      await tx.unit.updateMany({ where: { id: { in: sourceIds } }, data: { endedAt: at, mergedIntoId: into.id } });
      for (const u of sources)
        await tx.unitEvent.create({
          data: {
            unitId: u.id,
            kind: 'merge',
            before: JSON.stringify({ parentCode: parentOf(u, tree) }),
            after: JSON.stringify({ mergedInto: into.code }),
            byId: input.byId,
            at,
          },
        });
      await tx.unitEvent.create({
        data: {
          unitId: into.id,
          kind: 'merge',
          after: JSON.stringify({ from: sources.map((u) => u.code), stations: stationIds.length }),
          byId: input.byId,
          at,
        },
      });
      return { into: into.code, stations: stationIds, movedOccurrences: moved.count };
    });
    // Policy and group topics may differ under the new unit: the moved stations get new plans.
    this.changed();
    await this.deps.events?.emit('stations-moved', result.stations);
    await this.deps.events?.emit('stations-changed', result.stations);
    target = undefined;
    return {
      into: result.into,
      ended: sources.map((u) => u.code),
      stations: result.stations.length,
      movedOccurrences: result.movedOccurrences,
    };
  }

  /**
   * Puts a station under another current unit (an operator confirming where a station of a split commune
   * belongs): airings from now on move with it, past ones keep their unit; its candidates are cleared.
   */
  async moveStation(code: string, unitCode: string, byId?: string) {
    const { db, now } = this.deps;
    const tree = await this.tree();
    const unit = tree.get(unitCode);
    tree.assertCurrent(unit);
    const station = await db.station.findUnique({ where: { code }, include: { unit: { select: { code: true } } } });
    if (!station) throw notFound('UNKNOWN_STATION', `unknown station ${code}`);
    const at = now();
    const moved = await db.$transaction(async (tx) => {
      await tx.station.update({ where: { id: station.id }, data: { unitId: unit.id, unitCandidates: null } });
      const airings = await tx.occurrence.updateMany({
        where: { stationId: station.id, startsAt: { gte: at } },
        data: { unitId: unit.id },
      });
      await tx.unitEvent.create({
        data: {
          unitId: unit.id,
          kind: 'station',
          before: JSON.stringify({
            station: code,
            unit: station.unit.code,
            candidates: station.unitCandidates ? JSON.parse(station.unitCandidates) : null,
          }),
          after: JSON.stringify({ station: code, unit: unit.code }),
          byId,
          at,
        },
      });
      return airings.count;
    });
    if (station.unitId !== unit.id) await this.stationsMoved([station.id]);
    return { station: code, unit: unit.code, unitName: unit.name, from: station.unit.code, movedAirings: moved };
  }

  /** Every station at or below the given units (ids). */
  async stationsBelow(unitIds: string[]): Promise<{ id: string; code: string; unitId: string }[]> {
    const tree = await this.tree();
    const ids = [...new Set(unitIds.flatMap((id) => tree.subtree(id).map((u) => u.id)))];
    const out: { id: string; code: string; unitId: string }[] = [];
    for (const part of chunked(ids))
      out.push(
        ...(await this.deps.db.station.findMany({ where: { unitId: { in: part } }, select: { id: true, code: true, unitId: true } })),
      );
    return out;
  }

  history(code: string) {
    return this.deps.db.unitEvent.findMany({
      where: { unit: { code } },
      orderBy: { at: 'asc' },
      include: { unit: { select: { code: true } } },
    });
  }

  /**
  /** A page of units by code: children of `parent`, those current at `at` (a Hanoi date or an instant), or all with `includeEnded`. */
  async list(q: { parent?: string; includeEnded?: boolean; at?: string; limit: number; offset: number }) {
    const { db } = this.deps;
    // A date alone is that day in Hanoi.
    const instant = q.at ? new Date(q.at.length === 10 ? `${q.at}T00:00:00+07:00` : q.at) : undefined;
    const when = instant
      ? {
          AND: [{ OR: [{ endedAt: null }, { endedAt: { gt: instant } }] }, { OR: [{ validFrom: null }, { validFrom: { lte: instant } }] }],
        }
      : q.includeEnded
        ? {}
        : { endedAt: null };
    const where = { ...(q.parent ? { parent: { code: q.parent } } : {}), ...when };
    const [total, rows] = await Promise.all([
      db.unit.count({ where }),
      db.unit.findMany({
        where,
        include: { parent: { select: { code: true } }, mergedInto: { select: { code: true } } },
        orderBy: { code: 'asc' },
        take: q.limit,
        skip: q.offset,
      }),
    ]);
    return { total, rows };
  }

  /**
   * The tree, cached: every dispatch and enrollment needs it, and only this service changes units after
   * the seed, so each change below drops the cache (a failed load is not kept).
   */
  tree(): Promise<UnitTree> {
    // Another server process on the same database may have changed the tree: never older than TREE_TTL_MS.
    const now = this.deps.now().getTime();
    if (Math.abs(now - this.cachedAt) > TREE_TTL_MS) this.cached = undefined;
    if (!this.cached) this.cachedAt = now;
    this.cached ??= this.deps.db.unit.findMany({ select: UNIT_SELECT }).then(
      (rows) => new UnitTree(rows),
      (err: unknown) => {
        this.cached = undefined;
        throw err;
      },
    );
    return this.cached;
  }

  private cached?: Promise<UnitTree>;
  private cachedAt = 0;

  private changed(): void {
    this.cached = undefined;
  }

  /** Drops the cached tree after a change made elsewhere (a reform applied by merger-service.ts). */
  invalidate(): void {
    this.changed();
  }

  /** Stations that moved to other units: their gateways' group topics and plans follow. */
  async stationsMoved(stationIds: string[]): Promise<void> {
    if (!stationIds.length) return;
    await this.deps.events?.emit('stations-moved', stationIds);
    await this.deps.events?.emit('stations-changed', stationIds);
  }

  async policy(code: string) {
    const tree = await this.tree();
    const unit = tree.get(code);
    const { policy, source } = tree.effectivePolicy(unit.id);
    return { unit: code, own: unit.policy ? (JSON.parse(unit.policy) as Policy) : {}, effective: policy, source };
  }

  /** Replaces a unit's own rules (an empty object inherits everything). */
  async setPolicy(code: string, input: unknown, byId?: string) {
    const parsed = Policy.safeParse(input);
    if (!parsed.success) throw badRequest('INVALID_POLICY', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const unit = await this.deps.db.unit.findUnique({ where: { code } });
    if (!unit) throw notFound('UNKNOWN_UNIT', `unknown unit ${code}`);
    const after = Object.keys(parsed.data).length ? JSON.stringify(parsed.data) : null;
    this.changed();
    await this.deps.db.$transaction([
      this.deps.db.unit.update({ where: { id: unit.id }, data: { policy: after } }),
      this.deps.db.unitEvent.create({
        data: { unitId: unit.id, kind: 'policy', before: unit.policy ?? '{}', after: after ?? '{}', byId, at: this.deps.now() },
      }),
    ]);
    this.changed();
    // Quiet hours and volume limits travel in the manifests of every station below.
    await this.deps.events?.emit(
      'stations-changed',
      (await this.stationsBelow([unit.id])).map((st) => st.id),
    );
    return this.policy(code);
  }
}
