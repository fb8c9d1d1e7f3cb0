// Targets: the stations (and outputs) a schedule reaches, from units (every station at or below),
// stations, whole devices and single zones. Unknown, revoked or merged targets are refused unless lenient.
import { chunked, type Db } from '../db/client.ts';
import { badRequest, type DomainError, notFound } from './errors.ts';
import type { UnitService } from './unit-service.ts';

export interface Targets {
  /** Unit codes: every station at or below each unit. */
  units?: string[];
  stations?: string[];
  /** Device codes: every output of the device. */
  devices?: string[];
  /** "<device>:<zone>" pairs. */
  zones?: string[];
}

/** A station a schedule reaches, and on which outputs ("<device>:<zone>"; empty = all). */
export interface TargetStation {
  id: string;
  code: string;
  unitId: string;
  zones: string[];
  /**
   * [P-3.10] The unit target that reached the whole station (the first given, when several did): its
   * airings are entries of that unit's group plan.
   */
  group?: string;
}

/** The stations (and outputs) a set of targets reaches. Unknown or merged targets are refused unless `lenient`. */
export async function resolveTargets(deps: { db: Db; units: UnitService }, targets: Targets, lenient = false): Promise<TargetStation[]> {
  const { db } = deps;
  const units = targets.units ?? [];
  const stationCodes = targets.stations ?? [];
  const deviceCodes = [...new Set([...(targets.devices ?? []), ...(targets.zones ?? []).map((z) => z.split(':')[0])])];
  if (!units.length && !stationCodes.length && !deviceCodes.length)
    throw badRequest('NO_TARGETS', 'give at least one unit, station, device or zone');
  const fail = (err: DomainError) => {
    if (!lenient) throw err;
  };
  const byId = new Map<string, TargetStation>();
  const whole = (st: { id: string; code: string; unitId: string }, group?: string) => {
    const existing = byId.get(st.id)?.group ?? group;
    byId.set(st.id, { ...st, zones: [], ...(existing ? { group: existing } : {}) });
  };

  if (units.length) {
    const tree = await deps.units.tree();
    const unitIds: string[] = [];
    for (const code of new Set(units)) {
      const u = tree.byCode.get(code);
      if (!u) {
        fail(notFound('UNKNOWN_UNIT', `unknown unit ${code}`));
        continue;
      }
      try {
        tree.assertCurrent(u);
      } catch (err) {
        fail(err as DomainError);
        continue;
      }
      unitIds.push(u.id);
    }
    for (const unitId of unitIds) for (const st of await deps.units.stationsBelow([unitId])) whole(st, unitId);
  }
  const codes = [...new Set(stationCodes)];
  const found = (
    await Promise.all(
      chunked(codes).map((part) => db.station.findMany({ where: { code: { in: part } }, select: { id: true, code: true, unitId: true } })),
    )
  ).flat();
  if (found.length !== codes.length) {
    const known = new Set(found.map((s) => s.code));
    fail(
      notFound(
        'UNKNOWN_STATION',
        `unknown station(s): ${codes
          .filter((c) => !known.has(c))
          .slice(0, 20)
          .join(', ')}`,
      ),
    );
  }
  for (const st of found) whole(st);

  if (deviceCodes.length) {
    const devices = (
      await Promise.all(
        chunked(deviceCodes).map((part) =>
          db.device.findMany({
            where: { code: { in: part }, revokedAt: null },
            include: { zones: { select: { code: true } }, station: { select: { id: true, code: true, unitId: true } } },
          }),
        ),
      )
    ).flat();
    const byCode = new Map(devices.map((d) => [d.code, d]));
    const missing = deviceCodes.filter((c) => !byCode.has(c));
    if (missing.length) fail(notFound('UNKNOWN_DEVICE', `unknown or revoked device(s): ${missing.slice(0, 20).join(', ')}`));
    const wanted = new Map<string, Set<string>>();
    for (const d of targets.devices ?? []) if (byCode.has(d)) wanted.set(d, new Set(['*']));
    for (const z of targets.zones ?? []) {
      const [device, zone] = z.split(':');
      const d = byCode.get(device);
      if (!d) continue;
      if (!zone || !d.zones.some((x) => x.code === zone)) {
        fail(notFound('UNKNOWN_ZONE', `device ${device} has no zone "${zone ?? ''}"`));
        continue;
      }
      if (!wanted.get(device)?.has('*')) wanted.set(device, new Set([...(wanted.get(device) ?? []), zone]));
    }
    for (const [device, zones] of wanted) {
      const st = (byCode.get(device) as (typeof devices)[number]).station;
      const existing = byId.get(st.id);
      if (existing && existing.zones.length === 0) continue; // the whole station is targeted already
      const entry = existing ?? { ...st, zones: [] as string[] };
      entry.zones.push(...[...zones].map((z) => `${device}:${z}`));
      byId.set(st.id, entry);
    }
  }
  return [...byId.values()].sort((a, b) => a.code.localeCompare(b.code));
}
