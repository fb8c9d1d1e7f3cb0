// Station health for the provincial office: availability history with durations, the last telemetry,
// and the alerts the ingest and the sweep raise (offline in a scheduled window, missed, silent), with
// their workflow new → acknowledged → resolved.

import { inServiceSince, onlineShare } from '../compliance/tally.ts';
import type { Db } from '../db/client.ts';
import type { Prisma } from '../db/generated/client.ts';
import { hanoiMinute } from '../scheduling/recurrence.ts';
import { badRequest, conflict, notFound } from './errors.ts';
import type { UnitService } from './unit-service.ts';

export const ALERT_KINDS = ['offline', 'missed', 'silent', 'refused_proofs', 'device_fault'] as const;
export const ALERT_STATUSES = ['new', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

/** Which moves the workflow allows: acknowledge what is new; resolve what is not resolved yet. */
const MOVES: Record<'acknowledge' | 'resolve', AlertStatus[]> = { acknowledge: ['new'], resolve: ['new', 'acknowledged'] };

export interface HealthDeps {
  db: Db;
  now: () => Date;
  units: UnitService;
  sweep: () => Promise<unknown>;
  /** An alert moved: its station's live state changed. */
  onStationsChanged?: (stationIds: string[]) => void;
}

export class HealthService {
  constructor(private readonly deps: HealthDeps) {}

  /** A station's availability over [from, to) (default: the last 7 days), its telemetry and its open alerts. */
  async station(code: string, range: { from?: Date; to?: Date }) {
    const { db } = this.deps;
    const now = this.deps.now();
    const to = range.to ?? now;
    const asked = range.from ?? new Date(to.getTime() - 7 * 86_400_000);
    if (to <= asked) throw badRequest('INVALID_RANGE', '`to` must be after `from`');
    const st = await db.station.findUnique({
      where: { code },
      include: { unit: { select: { code: true, name: true, type: true } }, devices: { select: { enrolledAt: true } } },
    });
    if (!st) throw notFound('UNKNOWN_STATION', `unknown station ${code}`);
    // Time before the station entered service is neither online nor offline: the history starts there.
    const inService = inServiceSince(
      st.installedAt,
      st.devices.map((d) => d.enrolledAt),
    );
    const from = new Date(Math.max(asked.getTime(), inService?.getTime() ?? now.getTime()));
    await this.deps.sweep();
    const before = await db.stationEvent.findFirst({ where: { stationId: st.id, at: { lt: from } }, orderBy: { at: 'desc' } });
    const end = new Date(Math.min(to.getTime(), now.getTime()));
    const ongoing = end.getTime() === now.getTime();
    // Up to and including now when the range reaches it: a change that happened this instant is the current state.
    const events = await db.stationEvent.findMany({
      where: { stationId: st.id, at: { gte: from, ...(ongoing ? { lte: end } : { lt: end }) } },
      orderBy: { at: 'asc' },
    });
    // Periods of one state each, clipped to the range; the last one is open while it lasts.
    const history: { online: boolean; from: Date; to: Date; durationMs: number; ongoing: boolean }[] = [];
    let state = before?.online ?? false;
    let since = from;
    for (const e of events) {
      if (e.online === state) continue;
      if (e.at > since)
        history.push({ online: state, from: since, to: e.at, durationMs: e.at.getTime() - since.getTime(), ongoing: false });
      state = e.online;
      since = e.at;
    }
    if (end > since || ongoing) history.push({ online: state, from: since, to: end, durationMs: end.getTime() - since.getTime(), ongoing });
    // The same share the reports compute, from the events already at hand.
    const changes = [...(before ? [before] : []), ...events].map((e) => ({ online: e.online, at: e.at.getTime() }));
    const serving = inService !== null && inService <= end;
    if (!serving) history.length = 0;
    const uptimeRate = serving && end > from ? onlineShare(changes, from.getTime(), end.getTime()) : null;
    const alerts = await db.alert.findMany({ where: { stationId: st.id, status: { not: 'resolved' } }, orderBy: { raisedAt: 'desc' } });
    // [P-3.10] A compile that changed only group plans publishes no manifest: the last one published counts.
    const published = await db.manifestDelivery.findFirst({
      where: { stationId: st.id },
      orderBy: { version: 'desc' },
      select: { version: true },
    });
    return {
      station: st.code,
      name: st.name,
      unit: st.unit.code,
      unitName: st.unit.name,
      unitType: st.unit.type,
      online: st.online,
      lastSeenAt: st.lastSeenAt,
      telemetry: st.telemetryAt
        ? {
            at: st.telemetryAt,
            clockOffsetMs: st.clockOffsetMs,
            diskFreeBytes: st.diskFreeBytes,
            agentVersion: st.agentVersion,
            uptimeS: st.uptimeS,
            cacheItems: st.cacheItems,
            cacheMissing: st.cacheMissing,
            manifestVersion: st.appliedManifest,
          }
        : null,
      /** The manifest version the server last published; ahead of telemetry's when the gateway has not synced. */
      manifestVersion: published?.version ?? st.manifestVersion,
      /** Installation or first enrollment, whichever is later; the history and uptime count from there. */
      inServiceSince: inService,
      from,
      to,
      uptimeRate,
      offlineMs: history.filter((h) => !h.online).reduce((a, h) => a + h.durationMs, 0),
      history,
      openAlerts: alerts.map(alertView(st)),
    };
  }

  async alerts(q: { status?: AlertStatus; kind?: string; station?: string; unit?: string; limit: number; offset: number }) {
    await this.deps.sweep();
    const where: Prisma.AlertWhereInput = {
      ...(q.status ? { status: q.status } : {}),
      ...(q.kind ? { kind: q.kind } : {}),
      ...(q.station ? { station: { code: q.station } } : {}),
    };
    if (q.unit) {
      const tree = await this.deps.units.tree();
      const ids = tree.subtree(tree.get(q.unit).id).map((u) => u.id);
      where.station = { ...(q.station ? { code: q.station } : {}), unitId: { in: ids } };
    }
    const [total, rows] = await Promise.all([
      this.deps.db.alert.count({ where }),
      this.deps.db.alert.findMany({
        where,
        include: { station: STATION_PLACE },
        orderBy: [{ raisedAt: 'desc' }, { id: 'asc' }],
        take: q.limit,
        skip: q.offset,
      }),
    ]);
    return { total, items: rows.map((a) => alertView(a.station)(a)) };
  }

  /** The unit of the alert's station (for the caller's scope check) and the alert's status. */
  async alertPlace(id: string): Promise<{ unitId: string; status: string }> {
    const a = await this.deps.db.alert.findUnique({ where: { id }, select: { status: true, station: { select: { unitId: true } } } });
    if (!a) throw notFound('UNKNOWN_ALERT', `unknown alert ${id}`);
    return { unitId: a.station.unitId, status: a.status };
  }

  /** Moves an alert along its workflow; a move the workflow does not allow is a 409 with the current status. */
  async move(id: string, move: 'acknowledge' | 'resolve', by: string, note?: string) {
    const { db } = this.deps;
    const at = this.deps.now();
    const data =
      move === 'acknowledge'
        ? { status: 'acknowledged', acknowledgedAt: at, acknowledgedBy: by, ...(note ? { note } : {}) }
        : { status: 'resolved', resolvedAt: at, resolvedBy: by, ...(note ? { note } : {}) };
    // Conditional on the status, so two operators cannot both move the same alert.
    const moved = await db.alert.updateMany({ where: { id, status: { in: MOVES[move] } }, data });
    const alert = await db.alert.findUnique({ where: { id }, include: { station: STATION_PLACE } });
    if (!alert) throw notFound('UNKNOWN_ALERT', `unknown alert ${id}`);
    if (moved.count === 0) throw conflict('INVALID_TRANSITION', `cannot ${move} an alert that is ${alert.status}`);
    this.deps.onStationsChanged?.([alert.stationId]);
    return alertView(alert.station)(alert);
  }
}

type AlertRow = Prisma.AlertGetPayload<object>;

/** An alert's station with its name and unit (code, name, type), as every alert view shows them. */
export const STATION_PLACE = { select: { code: true, name: true, unit: { select: { code: true, name: true, type: true } } } } as const;
type Place = { code: string; name: string; unit: { code: string; name: string; type: string } };

const KIND_VI: Record<string, string> = {
  offline: 'mất kết nối khi đến giờ phát',
  missed: 'không phát lượt đã lên lịch',
  silent: 'phát ra im lặng',
  refused_proofs: 'gửi bằng chứng phát bị từ chối',
  device_fault: 'thiết bị báo lỗi',
};
/** The alert said in Vietnamese for the people it reaches, with Hanoi times. */
const messageVi = (place: Place, a: AlertRow) =>
  `${place.name} (${place.unit.name}): ${KIND_VI[a.kind] ?? a.kind}, từ ${hanoiMinute(a.raisedAt)}` +
  (a.count > 1 ? `, ${a.count} lần, lần cuối ${hanoiMinute(a.lastAt)}` : '') +
  ' (giờ Hà Nội)';

export const alertView = (place: Place) => (a: AlertRow) => ({
  id: a.id,
  station: place.code,
  stationName: place.name,
  unitCode: place.unit.code,
  unitName: place.unit.name,
  unitType: place.unit.type,
  kind: a.kind,
  status: a.status,
  occurrenceId: a.occurrenceId,
  message: a.message,
  messageVi: messageVi(place, a),
  count: a.count,
  raisedAt: a.raisedAt,
  raisedAtLocal: hanoiMinute(a.raisedAt),
  lastAt: a.lastAt,
  lastAtLocal: hanoiMinute(a.lastAt),
  acknowledgedAt: a.acknowledgedAt,
  acknowledgedBy: a.acknowledgedBy,
  resolvedAt: a.resolvedAt,
  resolvedBy: a.resolvedBy,
  note: a.note,
});
