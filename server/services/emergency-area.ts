// The area of an emergency alert: administrative units (any level), stations, and a polygon or a circle
// matched against the stations' coordinates; then the fewest group topics that carry it ([P-2.3]): every
// unit all of whose stations are in the area, topmost first, and the stations left over one by one.
import type { Db } from '../db/client.ts';
import { badRequest, forbidden, notFound } from './errors.ts';
import type { UnitTree } from './unit-tree.ts';

/** [lat, lon] in degrees (WGS 84), as CAP 1.2 writes its points. */
export type Point = [number, number];

export interface Area {
  units?: string[];
  stations?: string[];
  /** A closed ring of at least 3 points; the last may repeat the first. */
  polygon?: Point[];
  circle?: { lat: number; lon: number; radiusM: number };
  /** More shapes (a CAP alert may carry several). */
  polygons?: Point[][];
  circles?: { lat: number; lon: number; radiusM: number }[];
}

export interface AreaStation {
  id: string;
  code: string;
  name: string;
  unitId: string;
  latitude: number | null;
  longitude: number | null;
}

export interface ResolvedArea {
  stations: AreaStation[];
  /** Unit codes whose group topics reach exactly stations of the area (and together as many as they can). */
  groups: string[];
  /** Stations no such unit covers: each gets the alert on its own gateway's topic. */
  singles: AreaStation[];
  /** The narrowest unit holding every station of the area ("" when they lie in different provinces). */
  unitId: string;
  /** How many communes (units directly holding stations) the area touches. */
  communes: number;
}

/** Ray casting on [lat, lon]: whether the point lies inside the ring. */
export function insidePolygon(p: Point, ring: Point[]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [yi, xi] = ring[i] as Point;
    const [yj, xj] = ring[j] as Point;
    if (yi > p[0] !== yj > p[0] && p[1] < ((xj - xi) * (p[0] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Great-circle distance in metres (haversine, mean Earth radius). */
export function distanceM(a: Point, b: Point): number {
  const rad = Math.PI / 180;
  const dLat = (b[0] - a[0]) * rad;
  const dLon = (b[1] - a[1]) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6_371_008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

const STATION_FIELDS = { id: true, code: true, name: true, unitId: true, latitude: true, longitude: true } as const;

/** The stations an area reaches and how to carry the alert to them. Unknown or ended units and unknown stations are refused. */
export async function resolveArea(db: Db, tree: UnitTree, area: Area): Promise<ResolvedArea> {
  const { units = [], stations = [] } = area;
  const polygons = [...(area.polygon ? [area.polygon] : []), ...(area.polygons ?? [])];
  const circles = [...(area.circle ? [area.circle] : []), ...(area.circles ?? [])];
  if (!units.length && !stations.length && !polygons.length && !circles.length)
    throw badRequest('NO_AREA', 'give units, stations, a polygon or a circle');
  const all = await db.station.findMany({ select: STATION_FIELDS });
  const picked = new Map<string, AreaStation>();
  const unitIds = new Set<string>();
  for (const code of new Set(units)) {
    const u = tree.byCode.get(code);
    if (!u) throw notFound('UNKNOWN_UNIT', `unknown unit ${code}`);
    tree.assertCurrent(u);
    for (const sub of tree.subtree(u.id)) unitIds.add(sub.id);
  }
  const byCode = new Map(all.map((s) => [s.code, s]));
  const unknown = [...new Set(stations)].filter((c) => !byCode.has(c));
  if (unknown.length) throw notFound('UNKNOWN_STATION', `unknown station(s): ${unknown.slice(0, 20).join(', ')}`);
  const named = new Set(stations);
  for (const s of all) {
    const at: Point | null = s.latitude !== null && s.longitude !== null ? [s.latitude, s.longitude] : null;
    const inShape =
      at !== null && (polygons.some((ring) => insidePolygon(at, ring)) || circles.some((c) => distanceM(at, [c.lat, c.lon]) <= c.radiusM));
    if (unitIds.has(s.unitId) || named.has(s.code) || inShape) picked.set(s.id, s);
  }
  const reached = [...picked.values()].sort((a, b) => a.code.localeCompare(b.code));
  if (!reached.length) throw badRequest('EMPTY_AREA', 'the area holds no station');
  return { stations: reached, ...cover(tree, all, reached) };
}

/** The units a user acts for: their unit and all below it; null for a user of no unit (the whole country). */
export function scopeOf(tree: UnitTree, user: { unitId: string | null }): Set<string> | null {
  return user.unitId === null ? null : new Set(tree.subtree(user.unitId).map((u) => u.id));
}

/** The area resolved, refused (OUT_OF_SCOPE) when any of it lies outside the user's units. */
export async function scopedArea(db: Db, tree: UnitTree, user: { unitId: string | null }, area: Area): Promise<ResolvedArea> {
  const resolved = await resolveArea(db, tree, area);
  const scope = scopeOf(tree, user);
  const outside = scope ? resolved.stations.filter((s) => !scope.has(s.unitId)) : [];
  if (outside.length)
    throw forbidden('OUT_OF_SCOPE', `the area reaches ${outside.length} station(s) outside your units, e.g. ${outside[0]?.code}`);
  return resolved;
}

/** The topmost units whose stations are all in the area, the stations left, the area's narrowest unit. */
function cover(tree: UnitTree, all: { unitId: string }[], reached: AreaStation[]) {
  const count = (rows: { unitId: string }[]) => {
    const n = new Map<string, number>();
    for (const s of rows) for (const u of tree.chain(s.unitId)) n.set(u.id, (n.get(u.id) ?? 0) + 1);
    return n;
  };
  const total = count(all);
  const inArea = count(reached);
  const full = (id: string | null | undefined) => Boolean(id) && inArea.get(id as string) === total.get(id as string);
  const groups = new Set<string>();
  const singles: AreaStation[] = [];
  for (const s of reached) {
    // The topmost full unit above the station (the chain is root first).
    const top = tree.chain(s.unitId).find((u) => full(u.id));
    if (top) groups.add(top.code);
    else singles.push(s);
  }
  // The narrowest unit on every station's chain: the deepest unit that holds them all.
  const chains = reached.map((s) => tree.chain(s.unitId));
  let unitId = '';
  for (let depth = 0; ; depth++) {
    const here = chains[0]?.[depth]?.id;
    if (!here || !chains.every((c) => c[depth]?.id === here)) break;
    unitId = here;
  }
  return { groups: [...groups].sort(), singles, unitId, communes: new Set(reached.map((s) => s.unitId)).size };
}
