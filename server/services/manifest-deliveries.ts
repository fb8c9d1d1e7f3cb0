// The record of manifest deliveries ([P-3.7]) as the console lists it: per station or unit, by status, newest first.
import type { Db } from '../db/client.ts';

export interface DeliveryQuery {
  station?: string;
  unit?: string;
  status?: string;
  since?: string;
  limit: number;
  offset: number;
}

/** Deliveries to the stations within `scope` (a station filter), newest first, with counts by status. */
export async function listDeliveries(db: Db, q: DeliveryQuery, scope: object) {
  const where = {
    AND: [{ station: scope }],
    ...(q.station ? { station: { code: q.station } } : {}),
    ...(q.unit
      ? { station: { unit: { OR: [{ code: q.unit }, { parent: { code: q.unit } }, { parent: { parent: { code: q.unit } } }] } } }
      : {}),
    ...(q.since ? { publishedAt: { gte: new Date(q.since) } } : {}),
  };
  const [groups, rows] = await Promise.all([
    db.manifestDelivery.groupBy({ by: ['status'], where, _count: { _all: true } }),
    db.manifestDelivery.findMany({
      where: { ...where, ...(q.status ? { status: q.status } : {}) },
      include: { station: { select: { code: true } } },
      orderBy: [{ publishedAt: 'desc' }, { version: 'desc' }, { device: 'asc' }],
      take: q.limit,
      skip: q.offset,
    }),
  ]);
  const byStatus: Record<string, number> = Object.fromEntries(groups.map((g) => [g.status, g._count._all]));
  const total = q.status ? (byStatus[q.status] ?? 0) : groups.reduce((n, g) => n + g._count._all, 0);
  return { total, byStatus, rows };
}
