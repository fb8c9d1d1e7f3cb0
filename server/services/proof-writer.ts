// Writing a batch of opened proofs and heartbeats inside one ledger transaction: duplicates dropped,
// each proof linked into its station's hash chain, the airing moved on with its as-run verdict, alerts
// raised and resolved, through the ledger's transaction (proof-ledger.ts).
import type { PlaybackReport, Telemetry } from '#protocol';
import { asRun, playedInFull } from '../compliance/as-run.ts';
import { chainGenesis, chainHash } from '../compliance/chain.ts';
import { chunked, type Db } from '../db/client.ts';
import type { LedgerTx, Step } from '../db/proof-ledger.ts';
import { hanoiDay } from '../scheduling/recurrence.ts';
import type { DeviceIdentity } from './device-service.ts';

export type ReportOutcome = 'stored' | 'duplicate' | 'rejected';
/** `batch`: the answer to a [P-3.9] batch that was unpacked (its reports are answered one by one). */
export type Result = { outcome: ReportOutcome; kind: string; id?: string; batch?: true };
export type Job = { type: 'report' | 'telemetry'; device: string; payload: Buffer; done: (r: Result) => void };
export type Opened = {
  job: Job;
  identity: DeviceIdentity;
  envelope: { id: string };
  report?: PlaybackReport;
  telemetry?: Telemetry;
  /** The [P-3.9] batch that carried the report, as received: its signature is the report's proof. */
  batch?: { id: string; raw: string };
};
export type Occ = { id: string; stationId: string; startsAt: Date; startWindowMs: number; durationMs: number };

/** Refused proofs from one station, counted on its open alert, that make it a `refused_proofs` alert. */
const REFUSALS_FOR_ALERT = 3;

export class ProofWriter {
  /** When each station's recent refusals of each kind came (the last hour's), by `${why}:${stationId}`. */
  private readonly refusals = new Map<string, number[]>();

  constructor(private readonly deps: { now: () => Date }) {}

  /**
   * Inside the batch's transaction: a station that keeps sending untrue proofs, or messages whose signature
   * fails with its enrolled key ([P-5.4.1]), 3 within an hour, gets an alert.
   */
  *refusalAlert(tx: LedgerTx, why: 'untrue' | 'unverified', stationId: string, station: string, codes: string[]): Step<void> {
    const at = this.deps.now();
    const key = `${why}:${stationId}`;
    const recent = (this.refusals.get(key) ?? []).filter((t) => t > at.getTime() - 3600_000);
    recent.push(...codes.map(() => at.getTime()));
    this.refusals.set(key, recent);
    if (recent.length < REFUSALS_FOR_ALERT) return;
    const seen = [...new Set(codes)].join(', ');
    if (why === 'untrue') {
      const message = `${station}: ${recent.length} proofs refused as untrue within an hour (${seen}); check the gateway's clock`;
      return yield* tx.raiseAlert(stationId, 'refused_proofs', null, message, at);
    }
    const message = `${station}: ${recent.length} messages from the gateway failed their signature within an hour (${seen}); its key is corrupt or was replaced: enroll it again`;
    yield* tx.raiseAlert(stationId, 'device_fault', null, message, at);
  }

  /** Steps of the batch's transaction (proof-ledger.ts `Step`); the outcomes count once it commits. */
  *write(
    tx: LedgerTx,
    accepted: Opened[],
    occurrences: Map<string, Occ>,
  ): Step<{ results: Map<Job, Result>; proofs: number; stations: number; changed: Set<string> }> {
    const results = new Map<Job, Result>();
    const receivedAt = this.deps.now();
    const chainDay = hanoiDay(receivedAt);
    const tails = new Map<string, { seq: number; hash: string }>();
    const seenIds = new Set<string>();
    const seenStations = new Set<string>();
    const changed = new Set<string>();
    const batches = new Set<string>();
    // An airing whose end proof is in this batch gets its start from it: its start proof moves nothing more.
    const ending = new Set(accepted.flatMap((o) => (o.report && o.report.kind !== 'playback.started' ? [o.report.occurrenceId] : [])));
    for (const { job, identity, envelope, report, telemetry, batch } of accepted) {
      const stationId = identity.station.id;
      if (telemetry) {
        if (yield* this.storeTelemetry(tx, stationId, telemetry, receivedAt)) changed.add(stationId);
        results.set(job, { outcome: 'stored', kind: 'telemetry' });
        continue;
      }
      if (!report) continue;
      if (seenIds.has(envelope.id) || (yield* tx.isStored(envelope.id))) {
        results.set(job, { outcome: 'duplicate', kind: report.kind, id: envelope.id });
        continue;
      }
      seenIds.add(envelope.id);
      const occ = occurrences.get(report.occurrenceId) as Occ;
      const raw = job.payload.toString('utf8');
      const tail = tails.get(stationId) ?? (yield* tx.chainTail(stationId, chainDay));
      const chainPrev = tail?.hash ?? chainGenesis(stationId, chainDay);
      const link = { seq: (tail?.seq ?? 0) + 1, hash: chainHash(chainPrev, envelope.id, raw) };
      tails.set(stationId, link);
      if (batch && !batches.has(batch.id)) {
        batches.add(batch.id);
        yield* tx.insertBatch({ id: batch.id, stationId, receivedAt, raw: batch.raw });
      }
      yield* tx.insertReport({
        id: envelope.id,
        occurrenceId: occ.id,
        stationId,
        kind: report.kind.replace('playback.', ''),
        reportedAt: new Date(report.endedAt ?? report.startedAt),
        receivedAt,
        playedMs: report.playedMs ?? null,
        rmsDbfs: report.level?.rmsDbfs ?? null,
        peakDbfs: report.level?.peakDbfs ?? null,
        sha256: report.sha256,
        raw,
        chainDay,
        chainSeq: link.seq,
        chainPrev,
        chainHash: link.hash,
        batchId: batch?.id ?? null,
      });
      if (report.kind !== 'playback.started' || !ending.has(report.occurrenceId))
        yield* this.applyReport(tx, occ, report, identity.station.code, receivedAt);
      seenStations.add(stationId);
      results.set(job, { outcome: 'stored', kind: report.kind, id: envelope.id });
    }
    for (const id of seenStations) {
      yield* tx.touchStation(id, receivedAt);
      changed.add(id);
    }
    return { results, proofs: seenIds.size, stations: seenStations.size, changed };
  }

  /** Moves the occurrence on and records its as-run verdict when the proof ends the airing. */
  private *applyReport(tx: LedgerTx, occ: Occ, r: PlaybackReport, stationCode: string, at: Date): Step<void> {
    const startedAt = new Date(r.startedAt);
    if (r.kind === 'playback.started') {
      yield* tx.markStarted(occ.id, startedAt);
      return;
    }
    const end = {
      kind: r.kind === 'playback.failed' ? ('failed' as const) : ('completed' as const),
      playedMs: r.playedMs ?? null,
      reason: r.reason,
      rmsDbfs: r.level?.rmsDbfs,
    };
    const verdict = asRun({ startsAt: occ.startsAt, expectedMs: occ.durationMs, startWindowMs: occ.startWindowMs, startedAt, end }, at);
    const status = end.kind === 'failed' ? 'failed' : playedInFull(r.playedMs, r.expectedMs) ? 'aired' : 'partial';
    yield* tx.markEnded({
      id: occ.id,
      status,
      startedAt,
      endedAt: new Date(r.endedAt ?? r.startedAt),
      playedMs: r.playedMs ?? null,
      asRun: verdict.status,
      discrepancy: verdict.reason ?? null,
      deviceReason: verdict.deviceReason ?? null,
      lateMs: verdict.lateMs ?? null,
      rmsDbfs: r.level?.rmsDbfs ?? null,
    });
    if (verdict.status !== 'missed') return;
    const silent = verdict.reason === 'silent';
    yield* tx.raiseAlert(
      occ.stationId,
      silent ? 'silent' : 'missed',
      occ.id,
      silent
        ? `${stationCode}: output measured silent (${r.level?.rmsDbfs} dBFS) for the airing at ${r.scheduledAt}`
        : `${stationCode}: airing at ${r.scheduledAt} failed (${verdict.deviceReason ?? verdict.reason})`,
      at,
    );
  }

  /** Returns whether the heartbeat brought the station back online. */
  private *storeTelemetry(tx: LedgerTx, stationId: string, t: Telemetry, at: Date): Step<boolean> {
    yield* tx.storeTelemetry({
      stationId,
      at,
      clockOffsetMs: t.clockOffsetMs ?? null,
      diskFreeBytes: t.diskFreeBytes,
      agentVersion: t.agentVersion,
      uptimeS: t.uptimeS,
      cacheItems: t.cache.items,
      cacheMissing: t.cache.missing ?? null,
      appliedManifest: t.manifestVersion ?? null,
    });
    // A fault the gateway found in itself (an unreadable state file kept aside) stays an open alert while reported.
    if (t.faults?.length) yield* tx.raiseAlert(stationId, 'device_fault', null, `the gateway reports ${t.faults.join(', ')}`, at, false);
    else yield* tx.resolveAlerts(stationId, 'device_fault', at, 'no fault reported');
    // A signed heartbeat is better evidence of life than a retained state that may be stale.
    if (!(yield* tx.setOnline(stationId, true, at, 'telemetry'))) return false;
    yield* tx.resolveAlerts(stationId, 'offline', at, 'station back online');
    return true;
  }
}

/** The airings the proofs of a batch name, with what their verdicts need (chunked queries). */
export async function airingsOf(db: Db, ids: string[]): Promise<Map<string, Occ>> {
  const found = new Map<string, Occ>();
  for (const part of chunked([...new Set(ids)]))
    for (const o of await db.occurrence.findMany({
      where: { id: { in: part } },
      select: {
        id: true,
        stationId: true,
        startsAt: true,
        schedule: { select: { startWindowMs: true } },
        media: { select: { durationMs: true } },
      },
    }))
      found.set(o.id, {
        id: o.id,
        stationId: o.stationId,
        startsAt: o.startsAt,
        startWindowMs: o.schedule.startWindowMs,
        durationMs: o.media.durationMs,
      });
  return found;
}
