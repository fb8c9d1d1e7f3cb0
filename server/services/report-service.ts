import { EventEmitter } from 'node:events';
// Proof of play: verifies each report against the station's device key, stores it once
// (the gateway delivers at least once, so duplicates are expected), and moves the occurrence on.
import { open, type PlaybackReport, publicKeyFromHex, StationState } from '#protocol';
import { AS_RUN_RULES } from '../compliance/as-run.ts';
import { type ChainProblem, chainGenesis, chainHash, checkChain, hanoiDay } from '../compliance/chain.ts';
import type { Db } from '../db/client.ts';
import type { Prisma } from '../db/generated/client.ts';
import { notFound } from '../http/errors.ts';
import type { Metrics } from '../metrics.ts';
import { type DeviceService, deviceKid } from './device-service.ts';

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

    // One writer per station at a time: the duplicate check and the chain's next link must see the last write.
    return this.serially(station.id, async () => {
      const duplicate = await db.playbackReport.findUnique({ where: { id: opened.envelope.id }, select: { id: true } });
      if (duplicate) {
        metrics.reports.inc({ result: 'duplicate' });
        return { outcome: 'duplicate' as const, kind: report.kind };
      }
      const receivedAt = now();
      const raw = payload.toString('utf8');
      const chainDay = hanoiDay(receivedAt);
      const last = await db.playbackReport.findFirst({
        where: { stationId: station.id, chainDay },
        orderBy: { chainSeq: 'desc' },
        select: { chainSeq: true, chainHash: true },
      });
      const chainPrev = last?.chainHash ?? chainGenesis(station.id, chainDay);
      await db.$transaction([
        db.playbackReport.create({
          data: {
            chainDay,
            chainSeq: (last?.chainSeq ?? 0) + 1,
            chainPrev,
            chainHash: chainHash(chainPrev, opened.envelope.id, raw),
            id: opened.envelope.id,
            occurrenceId: occurrence.id,
            stationId: station.id,
            kind: report.kind.replace('playback.', ''),
            reportedAt: new Date(report.endedAt ?? report.startedAt),
            receivedAt,
            playedMs: report.playedMs,
            rmsDbfs: report.level?.rmsDbfs,
            peakDbfs: report.level?.peakDbfs,
            sha256: report.sha256,
            raw,
          },
        }),
        // Conditional on the stored status, not the one read above: a late "started" handled concurrently
        // with its "completed" (an outbox flushed after an outage) must not undo the terminal state.
        ...occurrenceUpdates(occurrence.id, report).map((u) => db.occurrence.updateMany(u)),
        db.station.update({ where: { id: station.id }, data: { lastSeenAt: now() } }),
      ]);
      metrics.reports.inc({ result: 'stored' });
      log.info({ station: stationCode, occurrence: occurrence.id, kind: report.kind }, 'playback report stored');
      return { outcome: 'stored' as const, kind: report.kind };
    });
  }

  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` after every earlier call for the same key has settled. */
  private serially<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.tails.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }

  verifyDay(stationCode: string, day: string): Promise<DayVerification> {
    return verifyProofDay(this.deps.db, stationCode, day);
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

export interface DayVerification {
  station: string;
  day: string;
  proofs: number;
  ok: boolean;
  problems: (ChainProblem | { seq: number | null; id: string; code: string; message: string })[];
}

/**
 * Re-checks one station's proofs of one Hanoi day: the hash chain, each proof's device signature (as
 * of its receipt), and that the stored columns say what the signed message says.
 */
export async function verifyProofDay(db: Db, stationCode: string, day: string): Promise<DayVerification> {
  const station = await db.station.findUnique({
    where: { code: stationCode },
    select: { id: true, devices: { select: { publicKeyHex: true } } },
  });
  if (!station) throw notFound('UNKNOWN_STATION', `unknown station ${stationCode}`);
  const links = await db.playbackReport.findMany({ where: { stationId: station.id, chainDay: day }, orderBy: { chainSeq: 'asc' } });
  const problems: DayVerification['problems'] = checkChain(station.id, day, links);
  const keys = new Map(
    station.devices.flatMap((d) => (d.publicKeyHex ? [[deviceKid(d.publicKeyHex), publicKeyFromHex(d.publicKeyHex)] as const] : [])),
  );
  for (const l of links) {
    const at = { seq: l.chainSeq, id: l.id };
    const opened = open(l.raw, 'report', { keys: (kid) => keys.get(kid), now: l.receivedAt });
    if (!opened.ok) {
      problems.push({ ...at, code: opened.code, message: opened.message });
      continue;
    }
    const b = opened.body;
    const same =
      opened.envelope.id === l.id &&
      b.occurrenceId === l.occurrenceId &&
      `playback.${l.kind}` === b.kind &&
      (b.playedMs ?? null) === l.playedMs &&
      (b.level?.rmsDbfs ?? null) === l.rmsDbfs &&
      b.sha256 === l.sha256;
    if (!same) problems.push({ ...at, code: 'FIELDS_MISMATCH', message: 'stored columns differ from the signed proof' });
  }
  problems.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  return { station: stationCode, day, proofs: links.length, ok: problems.length === 0, problems };
}
