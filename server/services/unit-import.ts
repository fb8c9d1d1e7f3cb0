// Units in and out of files: the export (every unit, ended ones too, parents first) and the import
// (creates and updates, never deletes; every row validated first, nothing written when any is wrong).
import { z } from 'zod';
import { BULK_TX, chunked, type Db } from '../db/client.ts';
import { badRequest } from './errors.ts';
import type { UnitTree } from './unit-tree.ts';

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

/** Every unit (ended ones too, for history), parents before children. */
export async function exportUnits(
  db: Db,
  tree: UnitTree,
): Promise<(UnitRecord & { level: number; endedAt: string | null; mergedInto: string | null })[]> {
  const stationOf = new Map<string, string>();
  for (const st of await db.station.findMany({ select: { code: true, unitId: true }, orderBy: { code: 'desc' } }))
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
export async function importUnits(
  { db, now }: { db: Db; now: () => Date },
  tree: UnitTree,
  rows: unknown[],
  byId?: string,
): Promise<{ created: number; updated: number; unchanged: number; stationsCreated: number }> {
  const errors: string[] = [];
  const records: UnitRecord[] = [];
  rows.forEach((row, i) => {
    const r = UnitRecord.safeParse(row);
    if (r.success) records.push(r.data);
    else errors.push(`row ${i + 1}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
  });
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
  }, BULK_TX);
  return { created, updated, unchanged: records.length - created - updated, stationsCreated: newStations.length };
}
