import { EventEmitter } from 'node:events';
// Proof of play: verifies each report against the station's device key, stores it once
// (the gateway delivers at least once, so duplicates are expected), and moves the occurrence on.
import { type PlaybackReport, StationState } from '#protocol';
import { AS_RUN_RULES } from '../compliance/as-run.ts';
import type { Db } from '../db/client.ts';
import type { Prisma } from '../db/generated/client.ts';
import type { Metrics } from '../metrics.ts';
import type { DeviceService } from './device-service.ts';

/** Below this share of the expected duration a completed playback counts as partial. */
export const FULL_PLAY_RATIO = AS_RUN_RULES.fullPlayRatio;

export interface ReportDeps {
  db: Db;
  devices: DeviceService;
  now: () => Date;
  metrics: Metrics;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export type ReportOutcome = 'stored' | 'duplicate' | 'rejected';

export class ReportService {
  /** Emits ('handled', outcome, kind) after each report is processed: for monitoring and tests. */
  readonly events = new EventEmitter();

  constructor(private readonly deps: ReportDeps) {}

  async handleReport(device: string, payload: Buffer): Promise<ReportOutcome> {
    const result = await this.process(device, payload);
    this.events.emit('handled', result.outcome, result.kind);
    return result.outcome;
  }

  private async process(device: string, payload: Buffer): Promise<{ outcome: ReportOutcome; kind?: string }> {
    const { db, now, log, metrics } = this.deps;
    const reject = (reason: string, detail: string) => {
      metrics.reports.inc({ result: reason });
      log.warn({ device, reason, detail }, 'report rejected');
      return { outcome: 'rejected' as const, kind: reason };
    };
    const opened = await this.deps.devices.open(device, payload, 'report');
    if (!opened.ok) return reject(opened.code, opened.message);
    const { station } = opened.identity;
    const stationCode = station.code;
    const report = opened.body;
    if (report.station !== stationCode) return reject('STATION_MISMATCH', `body names ${report.station}`);
    const occurrence = await db.occurrence.findUnique({ where: { id: report.occurrenceId }, include: { media: true } });
    if (!occurrence || occurrence.stationId !== station.id) return reject('UNKNOWN_OCCURRENCE', report.occurrenceId);

    const duplicate = await db.playbackReport.findUnique({ where: { id: opened.envelope.id }, select: { id: true } });
    if (duplicate) {
      metrics.reports.inc({ result: 'duplicate' });
      return { outcome: 'duplicate', kind: report.kind };
    }
    await db.$transaction([
      db.playbackReport.create({
        data: {
          id: opened.envelope.id,
          occurrenceId: occurrence.id,
          stationId: station.id,
          kind: report.kind.replace('playback.', ''),
          reportedAt: new Date(report.endedAt ?? report.startedAt),
          receivedAt: now(),
          playedMs: report.playedMs,
          rmsDbfs: report.level?.rmsDbfs,
          peakDbfs: report.level?.peakDbfs,
          sha256: report.sha256,
          raw: payload.toString('utf8'),
        },
      }),
      // Conditional on the stored status, not the one read above: a late "started" handled concurrently
      // with its "completed" (an outbox flushed after an outage) must not undo the terminal state.
      ...occurrenceUpdates(occurrence.id, report).map((u) => db.occurrence.updateMany(u)),
      db.station.update({ where: { id: station.id }, data: { lastSeenAt: now() } }),
    ]);
    metrics.reports.inc({ result: 'stored' });
    log.info({ station: stationCode, occurrence: occurrence.id, kind: report.kind }, 'playback report stored');
    return { outcome: 'stored', kind: report.kind };
  }

  /** [P-3.3] Unsigned availability hint from a device's state topic (its last-will when it drops). */
  async handleState(device: string, payload: Buffer): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      this.deps.log.warn({ device }, 'state message is not JSON');
      return;
    }
    const state = StationState.safeParse(json);
    const identity = await this.deps.devices.identify(device);
    if (!state.success || !identity || state.data.station !== identity.station.code) {
      this.deps.log.warn({ device }, 'invalid state message');
      return;
    }
    await this.deps.db.station.update({
      where: { id: identity.station.id },
      data: { online: state.data.online, lastSeenAt: this.deps.now() },
    });
  }
}

const TERMINAL = ['aired', 'partial', 'failed'];

/** Terminal states are never left; a "started" after the end sets nothing but a missing startedAt. */
function occurrenceUpdates(id: string, r: PlaybackReport): Prisma.OccurrenceUpdateManyArgs[] {
  const startedAt = new Date(r.startedAt);
  if (r.kind === 'playback.started')
    return [
      { where: { id, status: { notIn: TERMINAL } }, data: { status: 'playing', startedAt } },
      { where: { id, startedAt: null }, data: { startedAt } },
    ];
  const status = r.kind === 'playback.failed' ? 'failed' : (r.playedMs ?? 0) >= r.expectedMs * FULL_PLAY_RATIO ? 'aired' : 'partial';
  return [{ where: { id }, data: { status, startedAt, endedAt: new Date(r.endedAt ?? r.startedAt), playedMs: r.playedMs } }];
}
