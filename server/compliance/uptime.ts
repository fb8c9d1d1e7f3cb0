// Uptime: the share of a range each station was online, from its availability history (StationEvent).
import { chunked, type Db } from '../db/client.ts';
import { dialectOf } from '../db/dialect.ts';
import { inServiceSince, onlineShare } from './tally.ts';

/**
 * Share of [from, until) each station was online, from its availability history, counted from the
 * station's entry into service (installation or its first enrollment, whichever is later): time before
 * it is not offline. A station not in service during the range has no uptime (absent from the map).
 */
export async function uptimeShares(db: Db, stationIds: string[], from: Date, until: Date): Promise<Map<string, number>> {
  const end = until.getTime();
  const out = new Map<string, number>();
  if (end <= from.getTime() || stationIds.length === 0) return out;
  const starts = new Map<string, number>();
  for (const part of chunked(stationIds))
    for (const st of await db.station.findMany({
      where: { id: { in: part } },
      select: { id: true, installedAt: true, devices: { select: { enrolledAt: true } } },
    })) {
      const since = inServiceSince(
        st.installedAt,
        st.devices.map((d) => d.enrolledAt),
      );
      if (since && since.getTime() < end) starts.set(st.id, Math.max(from.getTime(), since.getTime()));
    }
  const d = dialectOf(db);
  const events = await db.$queryRawUnsafe<{ stationId: string; online: number | boolean; at: Date }[]>(
    d.sql(`WITH ids(id) AS (${d.jsonIds})
     SELECT e."stationId" AS "stationId", e."online" AS online, e."at" AS at FROM "StationEvent" e JOIN ids ON ids.id = e."stationId"
     WHERE e."at" < ? AND (e."at" >= ? OR e."at" = (SELECT max(p."at") FROM "StationEvent" p WHERE p."stationId" = e."stationId" AND p."at" < ?))
     ORDER BY e."stationId", e."at"`),
    JSON.stringify(stationIds),
    d.time(new Date(end)),
    d.time(from),
    d.time(from),
  );
  const byStation = new Map<string, { online: boolean; at: number }[]>();
  for (const e of events) {
    const list = byStation.get(e.stationId) ?? [];
    list.push({ online: Boolean(e.online), at: new Date(e.at).getTime() });
    byStation.set(e.stationId, list);
  }
  for (const [id, start] of starts) out.set(id, onlineShare(byStation.get(id) ?? [], start, end));
  return out;
}
