// What an alert reached: for its current airing, each station's state (not reached, received, playing,
// completed, failed) with the reason, from the gateways' answers to its command and the proofs of its
// occurrences; and the alert as the console and the API show it.
import type { Db } from '../db/client.ts';
import type { Area } from './emergency-area.ts';

export type EmergencyRow = NonNullable<Awaited<ReturnType<Db['emergency']['findUnique']>>>;
type Row = EmergencyRow;

/** Refusals that say a gateway had the alert already (by its plan, or the same command twice), not that it failed. */
const STALE_ANSWERS = new Set(['REPLAYED', 'STALE_SEQUENCE']);

export class EmergencyTracking {
  constructor(private readonly deps: { db: Db; log?: { warn(obj: object, msg: string): void } }) {}

  /** The alert with its people, content and counts (without the station list). */
  async summary(fresh: Row, states?: Awaited<ReturnType<EmergencyTracking['stationStates']>>) {
    const users = await this.deps.db.user.findMany({
      where: {
        id: { in: [fresh.createdById, fresh.confirmedById, fresh.cancelledById, fresh.updatedById].filter((x): x is string => !!x) },
      },
      select: { id: true, username: true },
    });
    const name = (uid: string | null) => (uid ? (users.find((u) => u.id === uid)?.username ?? uid) : null);
    const media = await this.deps.db.media.findUnique({
      where: { id: fresh.mediaId },
      select: { title: true, sha256: true, durationMs: true },
    });
    const template = fresh.templateId ? await this.deps.db.emergencyTemplate.findUnique({ where: { id: fresh.templateId } }) : null;
    return {
      id: fresh.id,
      status: fresh.status,
      state: fresh.state,
      headline: fresh.headline,
      text: fresh.text,
      area: JSON.parse(fresh.area) as Area,
      groups: JSON.parse(fresh.groups) as string[],
      media: media ? { id: fresh.mediaId, ...media } : null,
      template: template?.code ?? null,
      repeat: { count: fresh.repeatCount, intervalS: fresh.repeatIntervalS, until: fresh.repeatUntil },
      validUntil: fresh.validUntil,
      airing: fresh.airing,
      version: fresh.version,
      source: fresh.source,
      createdBy: name(fresh.createdById),
      createdAt: fresh.createdAt,
      confirmBy: fresh.confirmBy,
      confirmedBy: name(fresh.confirmedById),
      confirmedAt: fresh.confirmedAt,
      updatedBy: name(fresh.updatedById),
      updatedAt: fresh.updatedAt,
      cancelledBy: name(fresh.cancelledById),
      cancelledAt: fresh.cancelledAt,
      counts: await this.counts(fresh, states),
    };
  }

  async counts(row: Row, known?: Awaited<ReturnType<EmergencyTracking['stationStates']>>) {
    const states = known ?? (await this.stationStates(row));
    const n = (s: string) => states.filter((x) => x.state === s).length;
    if (!states.length) {
      // Not on the air yet (pending, lapsed): every station of its area is still to reach.
      const stations = (JSON.parse(row.stationCodes) as string[]).length;
      return { stations, received: 0, playing: 0, completed: 0, failed: 0, notReached: stations };
    }
    return {
      stations: states.length,
      received: states.filter((x) => x.receivedAt).length,
      playing: n('playing'),
      completed: n('completed'),
      failed: n('failed'),
      notReached: n('not-reached'),
    };
  }

  /** Each station of the current airing: not-reached | received | playing | completed | failed, with the reason. */
  async stationStates(row: Row) {
    const { db } = this.deps;
    const [occurrences, answers] = await Promise.all([
      db.occurrence.findMany({
        where: { scheduleId: { in: await this.schedules(row.id) }, id: { startsWith: `${row.airing}@` } },
        select: {
          id: true,
          status: true,
          asRun: true,
          startedAt: true,
          endedAt: true,
          playedMs: true,
          lateMs: true,
          discrepancy: true,
          deviceReason: true,
          station: { select: { code: true, name: true, online: true, lastSeenAt: true, latitude: true, longitude: true } },
        },
      }),
      db.emergencyStation.findMany({ where: { emergencyId: row.id } }),
    ]);
    const answerOf = new Map(answers.map((a) => [a.occurrenceId, a]));
    return occurrences
      .map((o) => {
        const a = answerOf.get(o.id);
        const failed = o.status === 'failed' || o.asRun === 'missed' || o.asRun === 'skipped' || Boolean(a?.errorCode);
        const state = failed
          ? 'failed'
          : o.status === 'aired' || o.status === 'partial'
            ? 'completed'
            : o.status === 'playing'
              ? 'playing'
              : a?.receivedAt
                ? 'received'
                : 'not-reached';
        const reason = failed
          ? (o.deviceReason ?? a?.errorCode ?? o.discrepancy ?? 'failed')
          : state === 'not-reached'
            ? o.station.online
              ? 'no-answer'
              : 'offline'
            : null;
        return {
          station: o.station.code,
          name: o.station.name,
          latitude: o.station.latitude,
          longitude: o.station.longitude,
          state,
          reason,
          receivedAt: a?.receivedAt ?? null,
          startedAt: o.startedAt,
          endedAt: o.endedAt,
          playedMs: o.playedMs,
          late: (o.lateMs ?? 0) > 2000,
          lateMs: o.lateMs,
        };
      })
      .sort((x, y) => x.station.localeCompare(y.station));
  }

  /** The schedules of an alert's airings (the occurrences' indexed key). */
  async schedules(id: string): Promise<string[]> {
    return (await this.deps.db.schedule.findMany({ where: { emergencyId: id }, select: { id: true } })).map((s) => s.id);
  }

  /**
   * A gateway's answer to the alert's group command, recorded for its station. Answers come by the
   * thousand within a second: they are written together, a tenth of a second after the first.
   */
  answered(id: string, device: string, reply: { ok: boolean; error?: { code: string; message: string } }, at: Date): void {
    const error = reply.ok ? null : (reply.error ?? null);
    if (error && STALE_ANSWERS.has(error.code)) return;
    this.answers.push({ id, device, error, at });
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush().catch((err: Error) => this.deps.log?.warn({ err: err.message }, 'alert answers not recorded'));
    }, 100);
  }

  private answers: { id: string; device: string; error: { code: string; message: string } | null; at: Date }[] = [];
  private flushTimer?: NodeJS.Timeout;

  /** The answers so far: one query for their stations, one update per alert for those received. */
  private async flush(): Promise<void> {
    const { db } = this.deps;
    const batch = this.answers.splice(0);
    const devices = await db.device.findMany({
      where: { code: { in: [...new Set(batch.map((a) => a.device))] } },
      select: { code: true, stationId: true },
    });
    const stationOf = new Map(devices.map((d) => [d.code, d.stationId]));
    const received = new Map<string, { stations: string[]; at: Date }>();
    for (const a of batch) {
      const stationId = stationOf.get(a.device);
      if (!stationId) continue;
      if (a.error) await this.record(a.id, { id: stationId }, a.error, a.at);
      else {
        const r = received.get(a.id) ?? { stations: [], at: a.at };
        r.stations.push(stationId);
        received.set(a.id, r);
      }
    }
    for (const [id, r] of received)
      await db.emergencyStation.updateMany({
        where: { emergencyId: id, stationId: { in: r.stations } },
        data: { receivedAt: r.at, errorCode: null },
      });
  }

  /** Received (ok) or refused (with its code) by a station's gateway. */
  async record(id: string, st: { id: string }, error: { code: string; message: string } | null, at: Date): Promise<void> {
    // The command met again, or after the plan that already carried the alert: no news about the airing.
    if (error && STALE_ANSWERS.has(error.code)) return;
    await this.deps.db.emergencyStation.updateMany({
      where: { emergencyId: id, stationId: st.id },
      data: error ? { errorCode: error.code, errorMessage: error.message.slice(0, 500) } : { receivedAt: at, errorCode: null },
    });
  }
}
