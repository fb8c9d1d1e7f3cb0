// The whole country on today's map: the 34 provinces and 3,321 communes of 2025 (prisma/seed/), added
// beside what is already there (Hanoi from the seed is kept as it is). With history, each province is
// loaded as it was in 2024 (districts, communes, one station per commune "VN-<code>") and the 2025
// conversion table is then applied to it (merger-service.ts), so its stations sit under their 2025 units
// and older airings keep the 2024 units they aired under.
import { BULK_TX, chunked, type Db } from '../db/client.ts';
import { merger2025Rows, REFORM_2025_AT, stationNameFor, units2024, units2025 } from '../db/maps.ts';
import type { MergerService } from './merger-service.ts';
import type { UnitService } from './unit-service.ts';

export interface CountryResult {
  provinces: number;
  communes: number;
  /** With history: the 2024 units loaded and then ended, and the stations created. */
  historyUnits: number;
  stations: number;
  /** Stations placed by the rule among several candidates (their former commune was split). */
  stationsToConfirm: number;
  skippedProvinces: string[];
}

export class CountryImport {
  constructor(private readonly deps: { db: Db; units: UnitService; mergers: MergerService; byId?: string }) {}

  async run(opts: { history: boolean }): Promise<CountryResult> {
    const { db, units } = this.deps;
    const tree = await units.tree();
    const present = new Set([...tree.byCode.values()].filter((u) => !u.parentId).map((u) => u.code));
    const result: CountryResult = { provinces: 0, communes: 0, historyUnits: 0, stations: 0, stationsToConfirm: 0, skippedProvinces: [] };
    const list2025 = units2025();
    if (!opts.history) {
      // Only the 2025 map: each province not here yet, with its communes.
      const rows: { id: string; code: string; name: string; type: string; level: number; parentId: string | null; validFrom: Date }[] = [];
      const ids = new Map<string, string>();
      for (const u of list2025) {
        if (u.parentCode === null && present.has(u.code)) result.skippedProvinces.push(u.code);
        const province = u.parentCode ?? u.code;
        if (present.has(province)) continue;
        const id = crypto.randomUUID();
        ids.set(u.code, id);
        rows.push({
          id,
          code: u.code,
          name: u.name,
          type: u.type,
          level: u.parentCode ? 2 : 1,
          parentId: u.parentCode ? (ids.get(u.parentCode) ?? null) : null,
          validFrom: REFORM_2025_AT,
        });
        if (u.parentCode) result.communes++;
        else result.provinces++;
      }
      for (const part of chunked(rows, 500)) await db.unit.createMany({ data: part });
      units.invalidate();
      return result;
    }

    // History: the 2024 provinces not here yet, as they were, with a station per commune.
    const old = units2024().data.filter((p) => !present.has(p.level1_id));
    result.skippedProvinces = units2024()
      .data.filter((p) => present.has(p.level1_id))
      .map((p) => p.level1_id);
    const unitRows: { id: string; code: string; name: string; type: string; level: number; parentId: string | null }[] = [];
    const stationRows: { code: string; name: string; unitId: string }[] = [];
    for (const p of old) {
      const pid = crypto.randomUUID();
      unitRows.push({ id: pid, code: p.level1_id, name: p.name, type: p.type, level: 1, parentId: null });
      for (const d of p.level2s) {
        const did = crypto.randomUUID();
        unitRows.push({ id: did, code: d.level2_id, name: d.name, type: d.type, level: 2, parentId: pid });
        for (const c of d.level3s) {
          const cid = crypto.randomUUID();
          unitRows.push({ id: cid, code: c.level3_id, name: c.name, type: c.type, level: 3, parentId: did });
          stationRows.push({ code: `VN-${c.level3_id}`, name: stationNameFor(c.name), unitId: cid });
        }
      }
    }
    await db.$transaction(async (tx) => {
      for (const part of chunked(unitRows, 500)) await tx.unit.createMany({ data: part });
      for (const part of chunked(stationRows, 500)) await tx.station.createMany({ data: part });
    }, BULK_TX);
    units.invalidate();
    result.historyUnits = unitRows.length;
    result.stations = stationRows.length;
    const codes = old.map((p) => p.level1_id);
    const plan = await this.deps.mergers.apply({
      rows: merger2025Rows(codes),
      units: list2025,
      effectiveAt: REFORM_2025_AT,
      suffix: '-2024',
      policy: 'none',
      ...(this.deps.byId ? { byId: this.deps.byId } : {}),
    });
    result.provinces = plan.newUnits.filter((u) => u.parentCode === null).length + plan.continuing.length;
    result.communes = plan.newUnits.filter((u) => u.parentCode !== null).length;
    result.stationsToConfirm = plan.decisionsNeeded.length;
    return result;
  }
}
