// The province's map without a tile server: district outlines shipped with the server, drawn as SVG paths
// under an equirectangular projection fitted to what must show (exact enough for one province).
export interface Outlines {
  name: string;
  districts: { code: string; name: string; polygons: number[][][][] }[];
}

/** The SVG's width; its height follows the fitted box. */
export const MAP_W = 1000;

/** A projection fitted to the bounding box of [lon, lat] points. */
export function projection(points: number[][]) {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const point of points) {
    const lon = point[0] as number;
    const lat = point[1] as number;
    minX = Math.min(minX, lon);
    maxX = Math.max(maxX, lon);
    minY = Math.min(minY, lat);
    maxY = Math.max(maxY, lat);
  }
  const k = Math.cos((((minY + maxY) / 2) * Math.PI) / 180);
  const scale = MAP_W / ((maxX - minX) * k || 1);
  const height = Math.ceil((maxY - minY) * scale) || MAP_W;
  return { height, at: (lon: number, lat: number) => [(lon - minX) * k * scale, (maxY - lat) * scale] as const };
}

/**
 * Each district as one SVG path under a projection fitted to the outlines and the given [lon, lat] points,
 * or (`zoom`) to the points alone with a margin, so a small area fills the picture.
 */
export function fitMap(outlines: Outlines, extra: number[][] = [], zoom = false) {
  const p = projection(zoom && extra.length ? padded(extra) : [...outlines.districts.flatMap((d) => d.polygons.flat(2)), ...extra]);
  const xy = (pt: number[]) =>
    p
      .at(pt[0] as number, pt[1] as number)
      .map((v) => v.toFixed(1))
      .join(' ');
  const paths = outlines.districts.map((d) => ({
    code: d.code,
    name: d.name,
    d: d.polygons.flatMap((poly) => poly.map((ring) => `M${ring.map(xy).join('L')}Z`)).join(''),
  }));
  return { ...p, paths };
}

/** The outlines, once per page load. */
let loaded: Promise<Outlines> | undefined;
export function loadOutlines(): Promise<Outlines> {
  loaded ??= fetch('/api/v1/map/outlines', { credentials: 'same-origin' }).then((r) =>
    r.ok ? (r.json() as Promise<Outlines>) : Promise.reject(new Error(r.statusText)),
  );
  return loaded;
}

/** The points' box grown by a fifth on each side, and to at least ~2 km, so lone points keep their surroundings. */
function padded(points: number[][]): number[][] {
  const lons = points.map((p) => p[0] as number);
  const lats = points.map((p) => p[1] as number);
  const pad = (lo: number, hi: number) => Math.max((hi - lo) / 5, 0.01);
  const [x0, x1, y0, y1] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const dx = pad(x0, x1);
  const dy = pad(y0, y1);
  return [
    [x0 - dx, y0 - dy],
    [x1 + dx, y1 + dy],
  ];
}
