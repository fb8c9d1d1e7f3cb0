// The government's lists of administrative units, as copied into prisma/seed/ (sources named inside each
// file): Hanoi's 2024 tree, the national 2024 and 2025 lists, and the 2024 → 2025 conversion table.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MergerRow, mostCommon, type NewUnit } from '../services/merger-service.ts';

export const SEED_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../prisma/seed');
/** The national 2024 list: 63 provinces, their districts and communes. */
export const UNITS_2024_FILE = join(SEED_DIR, 'vn-admin-units-2024-09.json');
/** The reform took effect at 00:00 on 1 July 2025, Hanoi time. */
export const REFORM_2025_AT = new Date('2025-07-01T00:00:00+07:00');

/** The 2025 list: 34 provinces, 3,321 communes. */
export const UNITS_2025_FILE = join(SEED_DIR, 'vn-admin-units-2025-07.json');
/** The 2024 → 2025 conversion table, one row per (old commune, new commune). */
export const MERGER_2025_FILE = join(SEED_DIR, 'vn-commune-merger-2025.json');

export interface Units2025 {
  provinces: { code: string; name: string; type: string; communes: { code: string; name: string; type: string }[] }[];
}

/** The 2025 list as units of the new map (provinces, and their communes one level below). */
export function units2025(provinceCodes?: string[]): NewUnit[] {
  const list = JSON.parse(readFileSync(UNITS_2025_FILE, 'utf8')) as Units2025;
  return list.provinces
    .filter((p) => !provinceCodes || provinceCodes.includes(p.code))
    .flatMap((p) => [
      { code: p.code, name: p.name, type: p.type, parentCode: null },
      ...p.communes.map((c) => ({ code: c.code, name: c.name, type: c.type, parentCode: p.code })),
    ]);
}

interface MergerFile {
  mergers: (MergerRow & { oldProvinceCode: string; oldDistrictCode: string })[];
  nonCommuneSources: {
    oldUnit: string;
    oldDistrictCode: string;
    oldDistrictName: string;
    oldProvinceCode: string;
    newCode: string;
    newName: string;
  }[];
  unmapped2024Codes: {
    oldCode: string;
    oldName: string;
    oldDistrictCode: string;
    oldProvinceCode: string;
    unverifiedCandidatePreJuly2025Code?: string;
  }[];
}

/**
 * The conversion table's rows (of some old provinces), in the merger's shape. The table has no row for
 * 457 codes of the 2024 list that were abolished between September 2024 and March 2025 (see the file's
 * unmapped2024Codes): each gets the targets of its candidate successor named there, or else the new
 * unit most of its district's communes went to, always with share "possible" (for an operator to confirm).
 * Districts that had no communes (island districts such as Bạch Long Vĩ, Côn Đảo) became units of their
 * own: each is a row of its own, from the district.
 */
export function merger2025Rows(oldProvinceCodes?: string[]): MergerRow[] {
  const table = JSON.parse(readFileSync(MERGER_2025_FILE, 'utf8')) as MergerFile;
  const wanted = (province: string) => !oldProvinceCodes || oldProvinceCodes.includes(province);
  const rows = table.mergers.filter((r) => wanted(r.oldProvinceCode));
  const byOld = new Map<string, typeof rows>();
  const byDistrict = new Map<string, string[]>();
  for (const r of table.mergers) {
    byOld.set(r.oldCode, [...(byOld.get(r.oldCode) ?? []), r]);
    byDistrict.set(r.oldDistrictCode, [...(byDistrict.get(r.oldDistrictCode) ?? []), r.newCode]);
  }
  const extra = table.unmapped2024Codes
    .filter((u) => wanted(u.oldProvinceCode))
    .flatMap((u) => {
      const successor = u.unverifiedCandidatePreJuly2025Code ? byOld.get(u.unverifiedCandidatePreJuly2025Code) : undefined;
      const codes = successor?.map((r) => r.newCode) ?? [mostCommon(byDistrict.get(u.oldDistrictCode) ?? [])].filter(Boolean);
      return [...new Set(codes)].map((newCode) => {
        const target = table.mergers.find((r) => r.newCode === newCode);
        return { ...target, oldCode: u.oldCode, oldName: u.oldName, share: 'possible' as const, newCode };
      });
    });
  const islands = table.nonCommuneSources
    .filter((n) => wanted(n.oldProvinceCode) && n.oldUnit === n.oldDistrictName)
    .map((n) => ({
      oldCode: n.oldDistrictCode,
      oldName: n.oldDistrictName,
      newCode: n.newCode,
      newName: n.newName,
      share: 'full' as const,
    }));
  return [...rows, ...extra, ...islands].map((r) => MergerRow.parse(r));
}

/** "Phường Phúc Xá" → "Đài Phúc Xá": a station is named after its (former) commune. */
export const stationNameFor = (communeName: string) => `Đài ${communeName.replace(/^(Phường|Xã|Thị trấn|Đặc khu) /, '')}`;

export interface Units2024 {
  data: {
    level1_id: string;
    name: string;
    type: string;
    level2s: { level2_id: string; name: string; type: string; level3s: { level3_id: string; name: string; type: string }[] }[];
  }[];
}

/** The national 2024 list. */
export const units2024 = (): Units2024 => JSON.parse(readFileSync(UNITS_2024_FILE, 'utf8')) as Units2024;
