// First-start seed: Hanoi's administrative tree (2024 map: 30 districts, 579 communes) from the
// national list copied into prisma/seed/, one station per commune, and the first administrator.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatePassword, hashPassword } from '../auth/passwords.ts';
import { hanoiPolicyFor } from '../scheduling/policy.ts';
import type { Db } from './client.ts';

const SEED_FILE = join(dirname(fileURLToPath(import.meta.url)), '../../prisma/seed/hanoi-units-2024-09.json');

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

export async function seedIfEmpty(db: Db, opts: { adminPassword?: string; policy?: 'hanoi-2021' | 'none' } = {}): Promise<SeedResult> {
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
        data: communes.map((c) => ({ code: stationCodeFor(c.code), name: `Đài truyền thanh ${c.name}`, unitId: c.id })),
      });
      units += communes.length;
      stations += communes.length;
    }
    await tx.user.create({ data: { username: 'admin', passwordHash, role: 'province_admin' } });
  });
  return { seeded: true, units, stations, admin: { username: 'admin', password } };
}
