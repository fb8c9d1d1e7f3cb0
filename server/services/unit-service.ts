// The administrative tree: lookups, inherited policy, and the changes real users make to it (import,
// rename, merge under the 2025 reform). History is never rewritten: a merged unit keeps its code and
// past airings stay attributed to it; every change is a UnitEvent.
import { z } from 'zod';
import { chunked, type Db } from '../db/client.ts';
import type { Unit } from '../db/generated/client.ts';
import { inherit, Policy, type PolicyRule } from '../scheduling/policy.ts';
import { badRequest, conflict, notFound } from './errors.ts';
import type { DomainEvents } from './events.ts';

export type UnitRow = Pick<
  Unit,
  'id' | 'code' | 'name' | 'type' | 'level' | 'parentId' | 'policy' | 'endedAt' | 'mergedIntoId' | 'validFrom'
>;

/** An in-memory snapshot of the tree (~11,000 units for the whole country). */
export class UnitTree {
  readonly byId = new Map<string, UnitRow>();
  readonly byCode = new Map<string, UnitRow>();
  private readonly children = new Map<string, UnitRow[]>();

  constructor(rows: UnitRow[]) {
    for (const u of rows) {
      this.byId.set(u.id, u);
      this.byCode.set(u.code, u);
      if (u.parentId) this.children.set(u.parentId, [...(this.children.get(u.parentId) ?? []), u]);
    }
  }

  get(code: string): UnitRow {
    const u = this.byCode.get(code);
    if (!u) throw notFound('UNKNOWN_UNIT', `unknown unit ${code}`);
    return u;
  }

  /** The unit and every unit below it. */
  subtree(id: string): UnitRow[] {
    const out: UnitRow[] = [];
    const stack = [this.byId.get(id)].filter((u): u is UnitRow => Boolean(u));
    while (stack.length) {
      const u = stack.pop() as UnitRow;
      out.push(u);
      stack.push(...(this.children.get(u.id) ?? []));
    }
    return out;
  }

  /** Root first, ending with the unit itself. */
  chain(id: string): UnitRow[] {
    const out: UnitRow[] = [];
    for (let u = this.byId.get(id); u; u = u.parentId ? this.byId.get(u.parentId) : undefined) out.unshift(u);
    return out;
  }

  effectivePolicy(id: string): { policy: Policy; source: Partial<Record<PolicyRule, string>> } {
    return inherit(this.chain(id).map((u) => ({ code: u.code, policy: u.policy ? (JSON.parse(u.policy) as Policy) : null })));
  }
}

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

/** One unit in import and export files (CSV columns or JSON fields). */
export const UnitRecord = z.object({
  code: z.string().regex(/^[A-Za-z0-9_-]{1,20}$/, 'a national unit code such as 00004'),
  name: z.string().trim().min(1).max(200),
  type: z.string().trim().min(1).max(60),
  level: z.coerce.number().int().min(1).max(5).optional(),
  parentCode: z
    .string()
    .max(20)
    .transform((v) => v || null)
    .nullish(),
  /** Creates the unit's broadcasting station under this code when it has none by that code yet. */
  stationCode: z
    .string()
    .regex(/^([A-Za-z0-9_-]{1,64})?$/)
    .transform((v) => v || null)
    .nullish(),
});
export type UnitRecord = z.infer<typeof UnitRecord>;

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

  /** Every unit (ended ones too, for history), parents before children. */
  async export(): Promise<(UnitRecord & { level: number; endedAt: string | null; mergedInto: string | null })[]> {
    const tree = await this.tree();
    const stationOf = new Map<string, string>();
    for (const st of await this.deps.db.station.findMany({ select: { code: true, unitId: true }, orderBy: { code: 'desc' } }))
      stationOf.set(st.unitId, st.code);
    return [...tree.byId.values()]
      .sort((a, b) => a.level - b.level || a.code.localeCompare(b.code))
      .map((u) => ({
        code: u.code,
        name: u.name,
        type: u.type,
        level: u.level,
        parentCode: u.parentId ? (tree.byId.get(u.parentId)?.code ?? null) : null,
        stationCode: stationOf.get(u.id) ?? null,
        endedAt: u.endedAt?.toISOString() ?? null,
        mergedInto: u.mergedIntoId ? (tree.byId.get(u.mergedIntoId)?.code ?? null) : null,
      }));
  }

  /**
   * Creates new units and updates the name, type and parent of existing ones; never deletes (history).
   * All rows are validated first, and nothing is written when any row is wrong.
   */
  async import(rows: unknown[], byId?: string): Promise<{ created: number; updated: number; unchanged: number; stationsCreated: number }> {
    const { db, now } = this.deps;
    const errors: string[] = [];
    const records: UnitRecord[] = [];
    rows.forEach((row, i) => {
      const r = UnitRecord.safeParse(row);
      if (r.success) records.push(r.data);
      else errors.push(`row ${i + 1}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
    });
    const tree = await this.tree();
    const incoming = new Map(records.map((r) => [r.code, r]));
    if (incoming.size !== records.length) errors.push('a code appears more than once');
    for (const r of records) {
      if (r.parentCode && !incoming.has(r.parentCode) && !tree.byCode.has(r.parentCode))
        errors.push(`unit ${r.code}: unknown parent ${r.parentCode}`);
      if (r.parentCode === r.code) errors.push(`unit ${r.code} is its own parent`);
    }
    // Levels follow the parents; a cycle leaves a level undecided.
    const levelOf = new Map<string, number>();
    const level = (code: string, seen = new Set<string>()): number => {
      if (levelOf.has(code)) return levelOf.get(code) as number;
      const r = incoming.get(code);
      if (!r) return tree.byCode.get(code)?.level ?? 0;
      if (seen.has(code)) throw badRequest('INVALID_IMPORT', `units ${[...seen].join(' → ')} form a cycle`);
      seen.add(code);
      const l = r.parentCode ? level(r.parentCode, seen) + 1 : 1;
      levelOf.set(code, l);
      return l;
    };
    if (!errors.length) for (const r of records) level(r.code);
    if (errors.length)
      throw badRequest('INVALID_IMPORT', errors.slice(0, 5).join(' | '), { errors: errors.slice(0, 200), total: errors.length });

    const sorted = [...records].sort((a, b) => (levelOf.get(a.code) ?? 0) - (levelOf.get(b.code) ?? 0));
    let created = 0;
    let updated = 0;
    const wantedStations = records.filter((r) => r.stationCode).map((r) => r.stationCode as string);
    const existingStations = new Set<string>();
    for (const part of chunked(wantedStations))
      for (const st of await db.station.findMany({ where: { code: { in: part } }, select: { code: true } })) existingStations.add(st.code);
    const newStations: { code: string; name: string; unitCode: string }[] = records
      .filter((r) => r.stationCode && !existingStations.has(r.stationCode))
      .map((r) => ({ code: r.stationCode as string, name: `Đài truyền thanh ${r.name}`, unitCode: r.code }));
    this.changed();
    await db.$transaction(async (tx) => {
      const ids = new Map([...tree.byCode].map(([code, u]) => [code, u.id]));
      for (const r of sorted) {
        const parentId = r.parentCode ? (ids.get(r.parentCode) ?? null) : null;
        const lvl = levelOf.get(r.code) ?? 1;
        const existing = tree.byCode.get(r.code);
        if (!existing) {
          const u = await tx.unit.create({ data: { code: r.code, name: r.name, type: r.type, level: lvl, parentId } });
          ids.set(r.code, u.id);
          await tx.unitEvent.create({ data: { unitId: u.id, kind: 'create', after: JSON.stringify(r), byId, at: now() } });
          created++;
          continue;
        }
        const before = { name: existing.name, type: existing.type, parentId: existing.parentId, level: existing.level };
        const after = { name: r.name, type: r.type, parentId, level: lvl };
        if (JSON.stringify(before) === JSON.stringify(after)) continue;
        await tx.unit.update({ where: { id: existing.id }, data: after });
        const kind = before.parentId !== after.parentId ? 'move' : 'rename';
        await tx.unitEvent.create({
          data: { unitId: existing.id, kind, before: JSON.stringify(before), after: JSON.stringify(after), byId, at: now() },
        });
        updated++;
      }
      await tx.station.createMany({
        data: newStations.map((st) => ({ code: st.code, name: st.name, unitId: ids.get(st.unitCode) as string })),
      });
    });
    this.changed();
    return { created, updated, unchanged: records.length - created - updated, stationsCreated: newStations.length };
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
    for (const u of sources) UnitService.assertCurrent(u, tree);
    if (sources.some((u) => u.code === input.into.code))
      throw badRequest('MERGE_INTO_SOURCE', 'a unit cannot be merged into itself; list only the others');
    let target = tree.byCode.get(input.into.code);
    if (target) UnitService.assertCurrent(target, tree);
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
    UnitService.assertCurrent(unit, tree);
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
   * The tree, cached: every dispatch and enrollment needs it, and only this service changes units after
   * the seed, so each change below drops the cache (a failed load is not kept).
   */
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

  tree(): Promise<UnitTree> {
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

  /** Refuses a unit that no longer exists as a target of new work, naming its successor. */
  static assertCurrent(u: UnitRow, tree: UnitTree): void {
    if (!u.endedAt) return;
    const successor = u.mergedIntoId ? tree.byId.get(u.mergedIntoId)?.code : undefined;
    throw conflict('UNIT_ENDED', `unit ${u.code} ${successor ? `was merged into ${successor}` : 'no longer exists'}`);
  }
}
