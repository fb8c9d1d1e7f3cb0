// First-start seed: Hanoi, one station per 2024 commune, and the first administrator. The default map is
// today's (hanoi-2025): the city and its 126 units of the two-tier reform of 1 July 2025, each of the 579
// stations under the unit that took its former commune (services/merger-service.ts says which when a
// commune was split), and the 2024 tree (30 districts, 579 communes) kept as ended units, merged on
// 2025-07-01, so reports of earlier airings roll up by the districts of the time. hanoi-2024 seeds the old
// map alone. The lists are copies in prisma/seed/ of the government data (sources named inside each file).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePassword, hashPassword } from '../auth/passwords.ts';
import { hanoiPolicyFor } from '../scheduling/policy.ts';
import { MergerService } from '../services/merger-service.ts';
import { UnitService } from '../services/unit-service.ts';
import { BULK_TX, type Db } from './client.ts';
import { merger2025Rows, REFORM_2025_AT, SEED_DIR, stationNameFor, units2025 } from './maps.ts';

const SEED_FILE = join(SEED_DIR, 'hanoi-units-2024-09.json');

export type SeedMap = 'hanoi-2025' | 'hanoi-2024';

interface SeedProvince {
  level1_id: string;
  name: string;
  type: string;
  level2s: { level2_id: string; name: string; type: string; level3s: { level3_id: string; name: string; type: string }[] }[];
}

export interface SeedResult {
  seeded: boolean;
  units: number;
  stations: number;
  /** The first administrator; the server writes the password to passwordFile (0600) and never logs it. */
  admin?: { username: string; password: string; passwordFile?: string };
}

/** Station code for a commune: "HN-" and the national commune code. */
export const stationCodeFor = (communeCode: string) => `HN-${communeCode}`;

export async function seedIfEmpty(
  db: Db,
  opts: { adminPassword?: string; policy?: 'hanoi-2021' | 'none'; map?: SeedMap } = {},
): Promise<SeedResult> {
  if ((await db.unit.count()) > 0) return { seeded: false, units: 0, stations: 0 };
  const province: SeedProvince = JSON.parse(readFileSync(SEED_FILE, 'utf8'));
  const password = opts.adminPassword ?? generatePassword();
  const passwordHash = await hashPassword(password);
  const policyOf = (u: { level: number; type: string; name: string }) => {
    const p = opts.policy === 'none' ? null : hanoiPolicyFor(u);
    return p ? JSON.stringify(p) : null;
  };
  let units = 0;
  let stations = 0;
  await db.$transaction(async (tx) => {
    const root = await tx.unit.create({
      data: { code: province.level1_id, name: province.name, type: province.type, level: 1, policy: policyOf({ ...province, level: 1 }) },
    });
    units++;
    for (const d of province.level2s) {
      const district = await tx.unit.create({
        data: { code: d.level2_id, name: d.name, type: d.type, level: 2, parentId: root.id, policy: policyOf({ ...d, level: 2 }) },
      });
      units++;
      const communes = d.level3s.map((c) => ({
        id: crypto.randomUUID(),
        code: c.level3_id,
        name: c.name,
        type: c.type,
        level: 3,
        parentId: district.id,
      }));
      await tx.unit.createMany({ data: communes });
      await tx.station.createMany({
        data: communes.map((c) => ({ code: stationCodeFor(c.code), name: stationNameFor(c.name), unitId: c.id })),
      });
      units += communes.length;
      stations += communes.length;
    }
    await tx.user.create({ data: { username: 'admin', passwordHash, role: 'province_admin' } });
  }, BULK_TX);
  if ((opts.map ?? 'hanoi-2025') === 'hanoi-2025') {
    // Today's map: the 2025 reform applied to the 2024 tree, dated when it took effect.
    const plan = await new MergerService({
      db,
      now: () => REFORM_2025_AT,
      units: new UnitService({ db, now: () => REFORM_2025_AT }),
    }).apply({
      rows: merger2025Rows([province.level1_id]),
      units: units2025([province.level1_id]),
      effectiveAt: REFORM_2025_AT,
      suffix: '-2024',
      policy: opts.policy === 'none' ? 'none' : 'hanoi-2021',
    });
    units += plan.newUnits.length;
  }
  return { seeded: true, units, stations, admin: { username: 'admin', password } };
}
