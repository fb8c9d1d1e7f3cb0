// A reform of the administrative map, imported from its conversion table (old commune → new commune, with
// how much went where) and applied in one transaction with history: new units are created, old communes
// and the districts left empty end with `mergedInto`, a code a new unit takes is kept by the old unit with
// a suffix ("00004" → "00004-2024"), stations move to the unit that took their former commune, airings from
// the effective date on move with them, commune users' scopes follow. Past airings keep the unit they aired
// under, so reports of before the reform roll up by the map of the time. Written for the 2025 reform
// (one table for the whole country, shipped in prisma/seed/) and for the next one.
//
// Which new unit a station (and the old unit's `mergedInto`) goes to, when its former commune went to
// several: the one that took it whole ("full"); else the one that kept the commune's code (the new unit
// was formed around it); else one with the commune's name; else the first listed in the table. Such
// stations keep the other candidates in `unitCandidates` until an operator confirms one.
import { z } from 'zod';
import { chunked, type Db } from '../db/client.ts';
import { HANOI_2021, type Policy } from '../scheduling/policy.ts';
import { CountryImport } from './country-import.ts';
import { badRequest, conflict } from './errors.ts';
import type { UnitRow, UnitService } from './unit-service.ts';

export const MergerRow = z.object({
  oldCode: z.string().regex(/^[A-Za-z0-9_-]{1,20}$/),
  newCode: z.string().regex(/^[A-Za-z0-9_-]{1,20}$/),
  newName: z.string().trim().min(1).max(200).optional(),
  /** full: the whole old unit went here; partial: part of it; possible: it may lie here (the data cannot say). */
  share: z.enum(['full', 'partial', 'possible']).default('full'),
  oldName: z.string().max(200).optional(),
  newProvinceCode: z.string().max(20).optional(),
});
export type MergerRow = z.infer<typeof MergerRow>;

/** A unit the reform creates or keeps, with its name and type (a province, or a commune whose row lacks a name). */
export const NewUnit = z.object({ code: z.string(), name: z.string(), type: z.string(), parentCode: z.string().nullable() });
export type NewUnit = z.infer<typeof NewUnit>;

export interface MergerInput {
  rows: MergerRow[];
  effectiveAt: Date;
  /** Appended to the code of an ended unit whose code a new unit takes. */
  suffix: string;
  /** Names and types of the new map's units (provinces above all); rows give commune names otherwise. */
  units?: NewUnit[];
  /** A station's unit chosen by an operator (station code → new unit code), for stations of split communes. */
  decisions?: Record<string, string>;
  /** The policy new units get: Hanoi's 2021 limits by unit type (hanoi-2021), or none (inherit the province's). */
  policy: 'hanoi-2021' | 'none';
  byId?: string;
}

type Candidate = { code: string; name: string; share: string };
type Rule = 'only' | 'full' | 'kept-code' | 'same-name' | 'first-listed' | 'decided';

export interface MergerPlan {
  effectiveAt: string;
  newUnits: { code: string; name: string; type: string; parentCode: string | null; from: string[]; policy: Policy | null }[];
  recoded: { from: string; to: string }[];
  /** Provinces that continue under the same code and name; their type is brought to the new list's. */
  continuing: { code: string; type: string }[];
  ended: { code: string; name: string; level: number; mergedInto: string }[];
  stations: { station: string; from: string; to: string; rule: Rule; candidates: Candidate[] }[];
  /** Stations of split communes with no operator decision: placed by the rule, to be confirmed. */
  decisionsNeeded: string[];
  futureAirings: number;
  users: { username: string; from: string; to: string | null; why: string }[];
  /** Old codes of the table that are not current units here (unknown, or already merged): left alone. */
  skipped: string[];
  counts: Record<string, number>;
}

const TYPES = ['Thành phố trực thuộc trung ương', 'Đặc khu', 'Thị trấn', 'Phường', 'Xã', 'Thành phố', 'Tỉnh'];
/** The unit type a Vietnamese unit name begins with ("Phường Ba Đình" → "Phường"). */
export const typeOfName = (name: string) => TYPES.find((t) => name.startsWith(`${t} `)) ?? 'Xã';
const bare = (name: string) => {
  const type = TYPES.find((t) => name.startsWith(`${t} `));
  return (type ? name.slice(type.length + 1) : name).trim().toLowerCase();
};

/** Which of several new units an old commune (and its station) goes to; see the header. */
export function chooseTarget(old: { code: string; name: string }, rows: MergerRow[]): { code: string; rule: Rule } {
  if (rows.length === 1) return { code: (rows[0] as MergerRow).newCode, rule: 'only' };
  const full = rows.find((r) => r.share === 'full');
  if (full) return { code: full.newCode, rule: 'full' };
  const kept = rows.find((r) => r.newCode === old.code);
  if (kept) return { code: kept.newCode, rule: 'kept-code' };
  const named = rows.find((r) => r.newName && bare(r.newName) === bare(old.name));
  if (named) return { code: named.newCode, rule: 'same-name' };
  return { code: (rows[0] as MergerRow).newCode, rule: 'first-listed' };
}

/** Hanoi's 2021 limits on the two-tier map: by unit type, and emergency-only where the former inner districts were. */
export function hanoi2025Policy(type: string, innerShare: number): Policy {
  const base = type === 'Phường' ? HANOI_2021.urban : HANOI_2021.rural;
  return innerShare > 0.5 ? { ...base, ...HANOI_2021.inner } : base;
}

/** The value that occurs most often (the first such, in order of appearance); undefined for none. */
export const mostCommon = (values: string[]): string | undefined => {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
};

export class MergerService {
  constructor(private readonly deps: { db: Db; now: () => Date; units: UnitService }) {}

  /** Loads the whole country's 2025 map (and, with `history`, its 2024 units as ended ones); see country-import.ts. */
  importCountry(opts: { history: boolean; byId?: string }) {
    return new CountryImport({ db: this.deps.db, units: this.deps.units, mergers: this, byId: opts.byId }).run({ history: opts.history });
  }

  /** What the reform would do here, without writing anything. */
  async plan(input: MergerInput): Promise<MergerPlan> {
    const { db } = this.deps;
    const tree = await this.deps.units.tree();
    const current = (code: string) => {
      const u = tree.byCode.get(code);
      return u && !u.endedAt ? u : undefined;
    };
    // An old unit existed before the reform: one this reform (or a later one) created is not (applied twice).
    const before = (u: UnitRow | undefined) => (u && (!u.validFrom || u.validFrom < input.effectiveAt) ? u : undefined);
    const skipped = new Set<string>();
    const byOld = new Map<string, MergerRow[]>();
    for (const r of input.rows) {
      const old = before(current(r.oldCode));
      if (!old) {
        skipped.add(r.oldCode);
        continue;
      }
      byOld.set(r.oldCode, [...(byOld.get(r.oldCode) ?? []), r]);
    }
    if (!byOld.size) throw badRequest('NOTHING_TO_MERGE', 'no old code of the table is a current unit here');
    const given = new Map((input.units ?? []).map((u) => [u.code, u]));

    // New units: each target of the table (communes), and the provinces the caller names.
    const targets = new Map<string, { name: string; parentCode: string | null; from: MergerRow[] }>();
    for (const rows of byOld.values())
      for (const r of rows) {
        const t = targets.get(r.newCode) ?? {
          name: r.newName ?? given.get(r.newCode)?.name ?? '',
          parentCode: r.newProvinceCode ?? given.get(r.newCode)?.parentCode ?? null,
          from: [],
        };
        t.from.push(r);
        targets.set(r.newCode, t);
      }
    const oldUnits = [...byOld.keys()].map((c) => current(c) as UnitRow);
    const ending = new Set(oldUnits.map((u) => u.id));
    // A province (a root) named the same under the same code continues; any other is a new unit.
    const provinces = (input.units ?? []).filter((u) => u.parentCode === null);
    const continuing = new Set(provinces.filter((p) => current(p.code)?.name === p.name && !current(p.code)?.parentId).map((p) => p.code));
    for (const [code, t] of targets) {
      if (!t.name) throw badRequest('UNNAMED_UNIT', `the table gives no name for new unit ${code}`);
      if (!t.parentCode) {
        // Without a province code, the new unit goes under the root above its old communes.
        const roots = t.from.map((r) => tree.chain((current(r.oldCode) as UnitRow).id)[0]?.code ?? '');
        t.parentCode = mostCommon(roots) ?? null;
      }
    }
    const newProvinces = provinces.filter((p) => !continuing.has(p.code) && !targets.has(p.code));
    for (const [code, t] of targets) {
      const parentKnown = t.parentCode && (current(t.parentCode) || newProvinces.some((p) => p.code === t.parentCode));
      if (!parentKnown) throw badRequest('UNKNOWN_PARENT', `new unit ${code} belongs to ${t.parentCode}, which is not a unit here`);
    }

    // Districts and provinces left with no current unit below them end too.
    const children = new Map<string, UnitRow[]>();
    for (const u of tree.byId.values()) if (u.parentId && !u.endedAt) children.set(u.parentId, [...(children.get(u.parentId) ?? []), u]);
    const targetOf = new Map(oldUnits.map((u) => [u.code, chooseTarget(u, byOld.get(u.code) as MergerRow[])]));
    const parentOfTarget = (code: string) => targets.get(code)?.parentCode ?? code;
    const ended: MergerPlan['ended'] = oldUnits.map((u) => ({
      code: u.code,
      name: u.name,
      level: u.level,
      mergedInto: (targetOf.get(u.code) as { code: string }).code,
    }));
    const endsWhenEmpty = (id: string): boolean => {
      const below = children.get(id) ?? [];
      return below.length > 0 && below.every((c) => ending.has(c.id) || endsWhenEmpty(c.id));
    };
    const above = [...new Set(oldUnits.flatMap((u) => tree.chain(u.id).slice(0, -1)))].sort((a, b) => b.level - a.level);
    // A unit the new ones hang under continues (a province whose districts end, but not itself), unless a
    // new unit takes its code.
    const parents = new Set([...targets.values()].map((t) => t.parentCode).filter((c) => !newProvinces.some((p) => p.code === c)));
    for (const u of above) {
      if (continuing.has(u.code) || parents.has(u.code) || !endsWhenEmpty(u.id)) continue;
      const leaves = oldUnits.filter((c) => tree.chain(c.id).some((x) => x.id === u.id));
      const into = mostCommon(leaves.map((c) => parentOfTarget((targetOf.get(c.code) as { code: string }).code))) as string;
      ended.push({ code: u.code, name: u.name, level: u.level, mergedInto: into });
      ending.add(u.id);
    }
    // A code a new unit takes from a unit that ends is kept by that unit with the suffix.
    const newCodes = new Set([...targets.keys(), ...newProvinces.map((p) => p.code)]);
    const recoded: MergerPlan['recoded'] = [];
    for (const code of newCodes) {
      const holder = tree.byCode.get(code);
      if (!holder) continue;
      if (!ending.has(holder.id) && !holder.endedAt)
        throw conflict('CODE_IN_USE', `new unit ${code} would take the code of current unit ${holder.name}`);
      const to = `${code}${input.suffix}`;
      if (tree.byCode.has(to)) throw conflict('CODE_IN_USE', `the old unit ${code} cannot keep its code as ${to}: taken`);
      recoded.push({ from: code, to });
    }

    const innerNames: readonly string[] = HANOI_2021.innerDistricts;
    const newUnits: MergerPlan['newUnits'] = [
      ...newProvinces.map((p) => ({ code: p.code, name: p.name, type: p.type, parentCode: null, from: [] as string[], policy: null })),
      ...[...targets].map(([code, t]) => {
        const type = given.get(code)?.type ?? typeOfName(t.name);
        const inner = t.from.filter((r) => {
          const old = current(r.oldCode) as UnitRow;
          return tree.chain(old.id).some((a) => innerNames.includes(a.name));
        }).length;
        return {
          code,
          name: t.name,
          type,
          parentCode: t.parentCode,
          from: t.from.map((r) => r.oldCode),
          policy: input.policy === 'hanoi-2021' ? hanoi2025Policy(type, inner / t.from.length) : null,
        };
      }),
    ];

    const oldIds = oldUnits.map((u) => u.id);
    const stationRows: { id: string; code: string; unitId: string }[] = [];
    for (const part of chunked(oldIds))
      stationRows.push(...(await db.station.findMany({ where: { unitId: { in: part } }, select: { id: true, code: true, unitId: true } })));
    const decisionsNeeded: string[] = [];
    const stations = stationRows.map((st) => {
      const old = tree.byId.get(st.unitId) as UnitRow;
      const rows = byOld.get(old.code) as MergerRow[];
      const candidates = rows.map((r) => ({ code: r.newCode, name: targets.get(r.newCode)?.name ?? '', share: r.share }));
      const decided = input.decisions?.[st.code];
      if (decided && !rows.some((r) => r.newCode === decided))
        throw badRequest('BAD_DECISION', `station ${st.code} can only go to ${candidates.map((c) => c.code).join(', ')}`);
      const chosen = decided ? { code: decided, rule: 'decided' as const } : (targetOf.get(old.code) as { code: string; rule: Rule });
      if (!decided && rows.length > 1) decisionsNeeded.push(st.code);
      return { station: st.code, from: old.code, to: chosen.code, rule: chosen.rule, candidates: rows.length > 1 ? candidates : [] };
    });
    let futureAirings = 0;
    for (const part of chunked(stationRows.map((s) => s.id)))
      futureAirings += await db.occurrence.count({ where: { stationId: { in: part }, startsAt: { gte: input.effectiveAt } } });
    const userRows: { username: string; unitId: string | null }[] = [];
    for (const part of chunked([...ending]))
      userRows.push(...(await db.user.findMany({ where: { unitId: { in: part } }, select: { username: true, unitId: true } })));
    const users = userRows.map((u) => {
      const unit = tree.byId.get(u.unitId as string) as UnitRow;
      const commune = targetOf.get(unit.code);
      return commune
        ? { username: u.username, from: unit.code, to: commune.code, why: `follows ${unit.name} (${commune.rule})` }
        : { username: u.username, from: unit.code, to: null, why: `${unit.name} ends with no single successor: an administrator decides` };
    });
    const byLevel = (level: number) => ended.filter((e) => e.level === level).length;
    return {
      effectiveAt: input.effectiveAt.toISOString(),
      newUnits,
      recoded,
      continuing: provinces.filter((p) => continuing.has(p.code)).map((p) => ({ code: p.code, type: p.type })),
      ended,
      stations,
      decisionsNeeded,
      futureAirings,
      users,
      skipped: [...skipped],
      counts: {
        newUnits: newUnits.length,
        endedProvinces: byLevel(1),
        endedDistricts: byLevel(2),
        endedCommunes: ended.filter((e) => e.level >= 3).length,
        recoded: recoded.length,
        stations: stations.length,
        stationsOfSplitCommunes: stations.filter((s) => s.candidates.length).length,
        decisionsNeeded: decisionsNeeded.length,
        futureAirings,
        usersMoved: users.filter((u) => u.to).length,
        usersUndecided: users.filter((u) => !u.to).length,
        skipped: skipped.size,
      },
    };
  }

  /** Plans and applies the reform in one transaction; answers the plan it applied. */
  async apply(input: MergerInput): Promise<MergerPlan> {
    const plan = await this.plan(input);
    const { db } = this.deps;
    const at = input.effectiveAt;
    const tree = await this.deps.units.tree();
    const byId = input.byId ?? null;
    const moved: string[] = [];
    await db.$transaction(
      async (tx) => {
        for (const r of plan.recoded) {
          const u = tree.byCode.get(r.from) as UnitRow;
          await tx.unit.update({ where: { id: u.id }, data: { code: r.to } });
          await tx.unitEvent.create({
            data: {
              unitId: u.id,
              kind: 'recode',
              before: JSON.stringify({ code: r.from }),
              after: JSON.stringify({ code: r.to }),
              byId,
              at,
            },
          });
        }
        for (const c of plan.continuing) {
          const u = tree.byCode.get(c.code) as UnitRow;
          if (u.type === c.type) continue;
          await tx.unit.update({ where: { id: u.id }, data: { type: c.type } });
          await tx.unitEvent.create({
            data: {
              unitId: u.id,
              kind: 'rename',
              before: JSON.stringify({ type: u.type }),
              after: JSON.stringify({ type: c.type }),
              byId,
              at,
            },
          });
        }
        const ids = new Map<string, string>();
        const idOf = (code: string) => ids.get(code) ?? (tree.byCode.get(code) as UnitRow).id;
        // Provinces first, then the communes below them.
        for (const n of [...plan.newUnits].sort((a, b) => Number(a.parentCode !== null) - Number(b.parentCode !== null))) {
          const parentId = n.parentCode ? idOf(n.parentCode) : null;
          // Under an existing unit one level below it; under a province this reform creates, level 2.
          const level = parentId ? (tree.byId.get(parentId)?.level ?? 1) + 1 : 1;
          const u = await tx.unit.create({
            data: {
              code: n.code,
              name: n.name,
              type: n.type,
              level,
              parentId,
              validFrom: at,
              policy: n.policy ? JSON.stringify(n.policy) : null,
            },
          });
          ids.set(n.code, u.id);
          await tx.unitEvent.create({
            data: {
              unitId: u.id,
              kind: 'create',
              after: JSON.stringify({ name: n.name, type: n.type, from: n.from, policy: n.policy }),
              byId,
              at,
            },
          });
        }
        const oldIdOf = (code: string) => (tree.byCode.get(code) as UnitRow).id;
        for (const e of plan.ended) {
          const id = oldIdOf(e.code);
          await tx.unit.update({ where: { id }, data: { endedAt: at, mergedIntoId: idOf(e.mergedInto) } });
          await tx.unitEvent.create({
            data: { unitId: id, kind: 'merge', before: '{}', after: JSON.stringify({ mergedInto: e.mergedInto }), byId, at },
          });
        }
        for (const s of plan.stations) {
          const station = await tx.station.update({
            where: { code: s.station },
            data: {
              unitId: idOf(s.to),
              unitCandidates: s.candidates.length && s.rule !== 'decided' ? JSON.stringify(s.candidates) : null,
            },
            select: { id: true },
          });
          moved.push(station.id);
          await tx.occurrence.updateMany({ where: { stationId: station.id, startsAt: { gte: at } }, data: { unitId: idOf(s.to) } });
        }
        for (const u of plan.users) if (u.to) await tx.user.update({ where: { username: u.username }, data: { unitId: idOf(u.to) } });
      },
      { timeout: 600_000 },
    );
    this.deps.units.invalidate();
    await this.deps.units.stationsMoved(moved);
    return plan;
  }
}
