// Positions for the seeded stations, as a district's CSV would give them: each station of the 2024 map at a
// point of its district, spread on a small grid around the centre of the district's outline (the shipped
// 2024 outlines). Test data: real coordinates come from each district's survey.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../../server/db/client.ts';
import { SEED_DIR } from '../../server/db/maps.ts';

interface Outlines {
  level2s: { level2_id: string; coordinates: number[][][][] }[];
}

export async function stationCoordinatesCsv(db: Db, only?: (code: string) => boolean): Promise<{ csv: string; rows: number }> {
  const outlines = JSON.parse(readFileSync(join(SEED_DIR, 'hanoi-districts-2024.geo.json'), 'utf8')) as Outlines;
  const centre = new Map(
    outlines.level2s.map((d) => {
      const ring = d.coordinates[0]?.[0] ?? [];
      const lon = ring.reduce((a, p) => a + (p[0] ?? 0), 0) / ring.length;
      const lat = ring.reduce((a, p) => a + (p[1] ?? 0), 0) / ring.length;
      return [d.level2_id, [lon, lat]] as const;
    }),
  );
  const stations = await db.station.findMany({
    select: { code: true, unit: { select: { parent: { select: { code: true } } } } },
    orderBy: { code: 'asc' },
  });
  const seen = new Map<string, number>();
  const lines = ['code,latitude,longitude'];
  for (const s of stations) {
    if (only && !only(s.code)) continue;
    const district = s.unit.parent?.code ?? '';
    const c = centre.get(district);
    if (!c) continue;
    const i = seen.get(district) ?? 0;
    seen.set(district, i + 1);
    const lon = c[0] + ((i % 6) - 2.5) * 0.0025;
    const lat = c[1] + (Math.floor(i / 6) - 2) * 0.0025;
    lines.push(`${s.code},${lat.toFixed(5)},${lon.toFixed(5)}`);
  }
  return { csv: `${lines.join('\n')}\n`, rows: lines.length - 1 };
}
