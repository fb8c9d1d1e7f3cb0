// Proof of play and station health at scale: signed reports and telemetry are queued as they arrive,
// then taken in batches off the MQTT loop. Each batch: one query for the devices, signatures checked,
// one query for the occurrences, then one SQLite transaction of prepared statements (proof-ledger.ts) that
// drops duplicates (gateways deliver at least once), links each proof into its station's hash chain,
// stores the as-run verdict and raises alerts. One lane runs batches, state changes and the sweep in
// order, so the duplicate check and the chain's next link always see the last write.

import { EventEmitter } from 'node:events';
import { LIMITS, open, type PlaybackReport, publicKeyFromHex, type ReportReceipt, StationState, type Telemetry } from '#protocol';
import { AS_RUN_RULES, asRun } from '../compliance/as-run.ts';
import { type ChainProblem, chainGenesis, chainHash, checkChain } from '../compliance/chain.ts';
import openMany, { type OpenResult, type OpenTask } from '../compliance/open-worker.ts';
import { chunked, type Db } from '../db/client.ts';
import type { ProofLedger } from '../db/proof-ledger.ts';
import type { Metrics } from '../metrics.ts';
import { hanoiDay } from '../scheduling/recurrence.ts';
import { type DeviceIdentity, type DeviceService, deviceKid } from './device-service.ts';
import { notFound } from './errors.ts';

/** Below this share of the expected duration a completed playback counts as partial. */
export const FULL_PLAY_RATIO = AS_RUN_RULES.fullPlayRatio;

export interface ReportDeps {
  db: Db;
  ledger: ProofLedger;
  devices: DeviceService;
  now: () => Date;
  metrics: Metrics;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Most messages taken into one transaction (default 1000). */
  batchSize?: number;
  /** Opens signed messages; the server passes its worker pool (compliance/open-worker.ts), default inline. */
  open?: (task: OpenTask) => Promise<OpenResult[]> | OpenResult[];
  /** How many tasks `open` runs at once (the pool's threads). */
  openers?: number;
  /**
   * [P-3.8] Sends a device its storage receipt; called only after the transaction that stored the
   * reports it lists has committed.
   */
  receipt?: (device: string, receipt: ReportReceipt) => Promise<void>;
  /** Waits before each retry of a batch whose transaction failed (default 250 ms, then 1 s). */
  retryDelaysMs?: number[];
  /** Most messages waiting in memory; past it the MQTT link stops reading (default 20,000). */
  maxQueue?: number;
  /** Stations whose live state (online, playing, alerts) may have changed, after the commit that changed it. */
  onStationsChanged?: (stationIds: string[]) => void;
}

/** [P-3.2] How far a proof's instants may lie ahead of the server's clock before it is refused as untrue. */
export const CLOCK_TOLERANCE_MS = 120_000;
/** How much more audio than elapsed wall time a proof may claim (samples counted against a device clock). */
export const PLAYED_TOLERANCE_MS = 2_000;
/** Refused proofs from one station, counted on its open alert, that make it a `refused_proofs` alert. */
const REFUSALS_FOR_ALERT = 3;
/**
 * Refusals decided after the device's signature verified: the proof is authentic and would be refused
 * again, so the receipt names it and the device lets it go. A refusal before that (unknown key, bad
 * signature) is not receipted: anyone could have sent it under that id.
 */
const FINAL_REFUSALS = new Set([
  'EXPIRED',
  'INVALID_BODY',
  'STATION_MISMATCH',
  'UNKNOWN_OCCURRENCE',
  'FUTURE_AIRING',
  'FUTURE_PROOF',
  'ENDED_BEFORE_STARTED',
  'PLAYED_EXCEEDS_ELAPSED',
]);
/** Refusals that say the gateway's evidence cannot be true; repeated, they raise an alert. */
const UNTRUE = new Set(['FUTURE_AIRING', 'FUTURE_PROOF', 'ENDED_BEFORE_STARTED', 'PLAYED_EXCEEDS_ELAPSED']);

/**
 * [P-3.2] A proof that cannot be true at `now`: an airing that begins later than now (beyond the clock
 * tolerance), instants in the future, an end before the start, more audio played than time elapsed.
 */
export function untrueProof(r: PlaybackReport, airingStartsAt: Date, now: number): { code: string; detail: string } | undefined {
  const limit = now + CLOCK_TOLERANCE_MS;
  if (airingStartsAt.getTime() > limit)
    return { code: 'FUTURE_AIRING', detail: `the airing begins at ${airingStartsAt.toISOString()}, after now + ${CLOCK_TOLERANCE_MS} ms` };
  const started = Date.parse(r.startedAt);
  const ended = r.endedAt === undefined ? undefined : Date.parse(r.endedAt);
  if (started > limit || (ended !== undefined && ended > limit))
    return { code: 'FUTURE_PROOF', detail: `startedAt ${r.startedAt} / endedAt ${r.endedAt} lie after now + ${CLOCK_TOLERANCE_MS} ms` };
  if (ended !== undefined && ended < started)
    return { code: 'ENDED_BEFORE_STARTED', detail: `endedAt ${r.endedAt} < startedAt ${r.startedAt}` };
  if (ended !== undefined && (r.playedMs ?? 0) > ended - started + PLAYED_TOLERANCE_MS)
    return { code: 'PLAYED_EXCEEDS_ELAPSED', detail: `playedMs ${r.playedMs} > ${ended - started} ms elapsed` };
  return undefined;
}

export type ReportOutcome = 'stored' | 'duplicate' | 'rejected';
type Result = { outcome: ReportOutcome; kind: string; id?: string };
type Job = { type: 'report' | 'telemetry'; device: string; payload: Buffer; done: (r: Result) => void };
type Opened = { job: Job; identity: DeviceIdentity; envelope: { id: string }; report?: PlaybackReport; telemetry?: Telemetry };
/** A batch once opened: early verdicts, the messages that verified, and each known device's station code. */
type Batch = { results: Map<Job, Result>; opened: Opened[]; stations: Map<string, string> };
type Occ = { id: string; stationId: string; startsAt: Date; startWindowMs: number; durationMs: number };

/** Batches opened ahead of the one being written. */
const MAX_BATCHES_IN_FLIGHT = 3;

/** Airings closed per sweep transaction, so a long backlog does not hold the event loop. */
const SWEEP_CHUNK = 2000;

export class ReportService {
  /** Emits ('handled', outcome, kind) after each report and ('telemetry', outcome, kind) after each heartbeat: for monitoring and tests. */
  readonly events = new EventEmitter();
  private readonly queue: Job[] = [];
  private scheduled = false;
  private inFlight = 0;
  private lane: Promise<unknown> = Promise.resolve();
  /** Set while the last batch could not be committed: the store is down and nothing is receipted. */
  private storeDown?: { since: Date; detail: string };
  private readonly roomWaiters: (() => void)[] = [];
  /** When each station's recent untrue proofs were refused (the last hour's). */
  private readonly untrue = new Map<string, number[]>();

  constructor(private readonly deps: ReportDeps) {}

  /** Whether proofs are being committed (and so receipted); for /health. */
  storeHealth(): { ok: boolean; detail?: string } {
    const down = this.storeDown;
    return down ? { ok: false, detail: `proof store failing since ${down.since.toISOString()}: ${down.detail}` } : { ok: true };
  }

  /**
   * Back-pressure for the MQTT link: undefined while the queue has room, else a promise that settles when
   * it has drained to half its bound (the link reads nothing meanwhile, so the broker holds the rest).
   */
  room(): Promise<void> | undefined {
    if (this.queue.length < (this.deps.maxQueue ?? 20_000)) return undefined;
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private freeRoom(): void {
    if (this.queue.length > (this.deps.maxQueue ?? 20_000) / 2) return;
    for (const resolve of this.roomWaiters.splice(0)) resolve();
  }

  /** [P-3.2] A signed playback report; resolves once it is stored, found a duplicate, or rejected. */
  async handleReport(device: string, payload: Buffer): Promise<ReportOutcome> {
    const r = await this.enqueue('report', device, payload);
    this.events.emit('handled', r.outcome, r.kind);
    return r.outcome;
  }

  /** [P-3.4] Signed heartbeat and telemetry: last seen, clock offset, disk, versions, cache state. */
  async handleTelemetry(device: string, payload: Buffer): Promise<ReportOutcome> {
    const r = await this.enqueue('telemetry', device, payload);
    this.events.emit('telemetry', r.outcome, r.kind);
    return r.outcome;
  }

  private enqueue(type: Job['type'], device: string, payload: Buffer): Promise<Result> {
    return new Promise((done) => {
      this.queue.push({ type, device, payload, done });
      this.kick();
    });
  }

  /**
   * Forms a batch on the next turn of the event loop (every message read meanwhile joins it) and opens
   * it (signatures, in the worker pool) while earlier batches are still being written: opening runs
   * beside the lane, writing in it, in batch order.
   */
  private kick(): void {
    if (this.scheduled || this.inFlight >= MAX_BATCHES_IN_FLIGHT) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.queue.splice(0, this.deps.batchSize ?? 1000);
      this.freeRoom();
      if (!batch.length) return;
      this.inFlight++;
      const opened = this.openBatch(batch);
      // Awaited in the lane (which reports a failure per message); until then a rejection must not go unhandled.
      opened.catch(() => {});
      void this.inLane(() => this.store(batch, opened)).finally(() => {
        this.inFlight--;
        if (this.queue.length) this.kick();
      });
      if (this.queue.length) this.kick();
    });
  }

  /** Settles once every message received so far is handled (before shutdown). */
  async drain(): Promise<void> {
    while (this.queue.length || this.scheduled || this.inFlight) {
      if (!this.scheduled) this.kick();
      await new Promise((r) => setImmediate(r));
      await this.lane;
    }
    await this.lane;
  }

  /** Runs `fn` after everything queued in the lane before it has settled. */
  private inLane<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.lane.then(fn, fn);
    this.lane = run.catch(() => {});
    return run;
  }

  private reject(results: Map<Job, Result>, job: Job, code: string, detail: string, id?: string): void {
    this.deps.metrics.reports.inc({ result: code });
    this.deps.log.warn({ device: job.device, type: job.type, reason: code, detail }, `${job.type} rejected`);
    results.set(job, { outcome: 'rejected', kind: code, ...(id ? { id } : {}) });
  }

  /** Signature, expiry and schema per message, with each device's enrolled key (one query for the batch). */
  private async openBatch(batch: Job[]): Promise<Batch> {
    const results = new Map<Job, Result>();
    const identities = await this.deps.devices.identifyMany([...new Set(batch.map((j) => j.device))]);
    const known: { job: Job; identity: DeviceIdentity }[] = [];
    for (const job of batch) {
      const identity = identities.get(job.device);
      if (identity) known.push({ job, identity });
      else this.reject(results, job, 'UNKNOWN_DEVICE', `no enrolled device ${job.device}`);
    }
    const now = this.deps.now().getTime();
    const items = known.map(({ job, identity }) => ({
      payload: job.payload,
      type: job.type,
      kid: deviceKid(identity.publicKeyHex),
      publicKeyHex: identity.publicKeyHex,
    }));
    // One task per worker, so every thread checks signatures at once.
    const size = Math.ceil(items.length / (this.deps.openers ?? 1)) || 1;
    const parts = await Promise.all(
      Array.from({ length: Math.ceil(items.length / size) }, (_, i) =>
        (this.deps.open ?? openMany)({ now, items: items.slice(i * size, (i + 1) * size) }),
      ),
    );
    const outcomes = parts.flat();
    const opened: Opened[] = [];
    for (const [i, { job, identity }] of known.entries()) {
      const o = outcomes[i] as OpenResult;
      if (!o.ok) {
        this.reject(results, job, o.code, o.message, o.id);
        continue;
      }
      const body = o.body as PlaybackReport | Telemetry;
      if (body.station !== identity.station.code) {
        this.reject(results, job, 'STATION_MISMATCH', `body names ${body.station}`, o.envelope.id);
        continue;
      }
      opened.push({
        job,
        identity,
        envelope: o.envelope,
        ...(job.type === 'report' ? { report: body as PlaybackReport } : { telemetry: body as Telemetry }),
      });
    }
    return { results, opened, stations: new Map([...identities].map(([device, id]) => [device, id.station.code])) };
  }

  /**
   * In the lane: the batch's occurrences in one query, then one transaction (retried when it fails);
   * every message answered, and receipts sent for what was committed or refused for good.
   */
  private async store(batch: Job[], opening: Promise<Batch>): Promise<void> {
    const { metrics, log } = this.deps;
    let results = new Map<Job, Result>();
    let stations = new Map<string, string>();
    try {
      const { results: early, opened, stations: known } = await opening;
      results = early;
      stations = known;
      const occurrences = await this.occurrences(opened.flatMap((o) => (o.report ? [o.report.occurrenceId] : [])));
      const now = this.deps.now().getTime();
      const accepted = opened.filter((o) => {
        if (!o.report) return true;
        const occ = occurrences.get(o.report.occurrenceId);
        if (!occ || occ.stationId !== o.identity.station.id) {
          this.reject(results, o.job, 'UNKNOWN_OCCURRENCE', o.report.occurrenceId, o.envelope.id);
          return false;
        }
        const untrue = untrueProof(o.report, occ.startsAt, now);
        if (untrue) {
          this.reject(results, o.job, untrue.code, untrue.detail, o.envelope.id);
          return false;
        }
        return true;
      });
      const refusedUntrue = new Map<string, { station: string; codes: string[] }>();
      for (const o of opened) {
        const r = results.get(o.job);
        if (r && UNTRUE.has(r.kind)) {
          const seen = refusedUntrue.get(o.identity.station.id) ?? { station: o.identity.station.code, codes: [] };
          seen.codes.push(r.kind);
          refusedUntrue.set(o.identity.station.id, seen);
        }
      }
      const written = await this.commit(() => {
        const w = this.write(accepted, occurrences);
        for (const [stationId, { station, codes }] of refusedUntrue) this.refusalAlert(stationId, station, codes);
        return w;
      });
      for (const [job, r] of written.results) results.set(job, r);
      if (written.changed.size) this.deps.onStationsChanged?.([...written.changed]);
      for (const r of written.results.values())
        metrics.reports.inc({ result: r.kind === 'telemetry' ? 'telemetry' : r.outcome === 'stored' ? 'stored' : 'duplicate' });
      if (written.stations) log.info({ proofs: written.proofs, stations: written.stations }, 'playback reports stored');
    } catch (err) {
      // The database failed, not the input: nothing is receipted, so every gateway keeps its copy and sends it again.
      log.error({ err: (err as Error).message, messages: batch.length }, 'proof batch not stored; gateways keep their copies');
      for (const job of batch)
        if (results.get(job)?.outcome !== 'rejected') {
          metrics.reports.inc({ result: 'STORE_FAILED' });
          results.set(job, { outcome: 'rejected', kind: 'STORE_FAILED' });
        }
    }
    for (const job of batch) job.done(results.get(job) ?? { outcome: 'rejected', kind: 'STORE_FAILED' });
    await this.sendReceipts(batch, results, stations);
  }

  /** Runs a transaction, retrying it after each of the configured waits; the store is down while it fails. */
  private async commit<T>(fn: () => T): Promise<T> {
    const waits = this.deps.retryDelaysMs ?? [250, 1000];
    for (let attempt = 0; ; attempt++) {
      try {
        const out = this.deps.ledger.transaction(fn);
        if (this.storeDown) this.deps.log.info({ since: this.storeDown.since }, 'proof store is writable again');
        this.storeDown = undefined;
        return out;
      } catch (err) {
        const detail = (err as Error).message;
        if (attempt >= waits.length) {
          this.storeDown ??= { since: this.deps.now(), detail };
          this.storeDown.detail = detail;
          throw err;
        }
        this.deps.log.warn({ err: detail, attempt: attempt + 1 }, 'proof batch transaction failed; retrying');
        await new Promise((r) => setTimeout(r, waits[attempt]));
      }
    }
  }

  /** [P-3.8] One receipt per device of the batch: its reports now stored (or found stored) and those refused for good. */
  private async sendReceipts(batch: Job[], results: Map<Job, Result>, stations: Map<string, string>): Promise<void> {
    const send = this.deps.receipt;
    if (!send) return;
    const byDevice = new Map<string, { stored: string[]; refused: { id: string; code: string }[] }>();
    for (const job of batch) {
      const r = results.get(job);
      if (job.type !== 'report' || !r?.id) continue;
      const stored = r.outcome !== 'rejected';
      if (!stored && !FINAL_REFUSALS.has(r.kind)) continue;
      const entry = byDevice.get(job.device) ?? { stored: [], refused: [] };
      if (stored) entry.stored.push(r.id);
      else entry.refused.push({ id: r.id, code: r.kind });
      byDevice.set(job.device, entry);
    }
    await Promise.all(
      [...byDevice].map(async ([device, { stored, refused }]) => {
        const station = stations.get(device);
        if (!station) return;
        const max = LIMITS.maxReceiptIds;
        for (let i = 0; i < Math.max(stored.length, refused.length); i += max) {
          await send(device, { station, stored: stored.slice(i, i + max), refused: refused.slice(i, i + max) }).catch((err: Error) =>
            this.deps.log.warn({ device, err: err.message }, 'receipt not sent; the gateway will send its reports again'),
          );
        }
      }),
    );
  }

  /** Inside the batch's transaction: a station that keeps sending untrue proofs (3 within an hour) gets an alert. */
  private refusalAlert(stationId: string, station: string, codes: string[]): void {
    const at = this.deps.now();
    const recent = (this.untrue.get(stationId) ?? []).filter((t) => t > at.getTime() - 3600_000);
    recent.push(...codes.map(() => at.getTime()));
    this.untrue.set(stationId, recent);
    if (recent.length < REFUSALS_FOR_ALERT) return;
    const message = `${station}: ${recent.length} proofs refused as untrue within an hour (${[...new Set(codes)].join(', ')}); check the gateway's clock`;
    this.deps.ledger.raiseAlert(stationId, 'refused_proofs', null, message, at);
  }

  private async occurrences(ids: string[]): Promise<Map<string, Occ>> {
    const found = new Map<string, Occ>();
    for (const part of chunked([...new Set(ids)]))
      for (const o of await this.deps.db.occurrence.findMany({
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

  /** Inside the batch's transaction: synchronous prepared statements only; the outcomes count once it commits. */
  private write(
    accepted: Opened[],
    occurrences: Map<string, Occ>,
  ): { results: Map<Job, Result>; proofs: number; stations: number; changed: Set<string> } {
    const { ledger } = this.deps;
    const results = new Map<Job, Result>();
    const receivedAt = this.deps.now();
    const chainDay = hanoiDay(receivedAt);
    const tails = new Map<string, { seq: number; hash: string }>();
    const seenIds = new Set<string>();
    const seenStations = new Set<string>();
    const changed = new Set<string>();
    for (const { job, identity, envelope, report, telemetry } of accepted) {
      const stationId = identity.station.id;
      if (telemetry) {
        if (this.storeTelemetry(stationId, telemetry, receivedAt)) changed.add(stationId);
        results.set(job, { outcome: 'stored', kind: 'telemetry' });
        continue;
      }
      if (!report) continue;
      if (seenIds.has(envelope.id) || ledger.isStored(envelope.id)) {
        results.set(job, { outcome: 'duplicate', kind: report.kind, id: envelope.id });
        continue;
      }
      seenIds.add(envelope.id);
      const occ = occurrences.get(report.occurrenceId) as Occ;
      const raw = job.payload.toString('utf8');
      const tail = tails.get(stationId) ?? ledger.chainTail(stationId, chainDay);
      const chainPrev = tail?.hash ?? chainGenesis(stationId, chainDay);
      const link = { seq: (tail?.seq ?? 0) + 1, hash: chainHash(chainPrev, envelope.id, raw) };
      tails.set(stationId, link);
      ledger.insertReport({
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
      });
      this.applyReport(occ, report, identity.station.code, receivedAt);
      seenStations.add(stationId);
      results.set(job, { outcome: 'stored', kind: report.kind, id: envelope.id });
    }
    for (const id of seenStations) {
      ledger.touchStation(id, receivedAt);
      changed.add(id);
    }
    return { results, proofs: seenIds.size, stations: seenStations.size, changed };
  }

  /** Moves the occurrence on and records its as-run verdict when the proof ends the airing. */
  private applyReport(occ: Occ, r: PlaybackReport, stationCode: string, at: Date): void {
    const { ledger } = this.deps;
    const startedAt = new Date(r.startedAt);
    if (r.kind === 'playback.started') {
      ledger.markStarted(occ.id, startedAt);
      return;
    }
    const end = {
      kind: r.kind === 'playback.failed' ? ('failed' as const) : ('completed' as const),
      playedMs: r.playedMs ?? null,
      reason: r.reason,
      rmsDbfs: r.level?.rmsDbfs,
    };
    const verdict = asRun({ startsAt: occ.startsAt, expectedMs: occ.durationMs, startWindowMs: occ.startWindowMs, startedAt, end }, at);
    const status = end.kind === 'failed' ? 'failed' : (r.playedMs ?? 0) >= r.expectedMs * FULL_PLAY_RATIO ? 'aired' : 'partial';
    ledger.markEnded({
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
    ledger.raiseAlert(
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
  private storeTelemetry(stationId: string, t: Telemetry, at: Date): boolean {
    const { ledger } = this.deps;
    ledger.storeTelemetry({
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
    if (t.faults?.length) ledger.raiseAlert(stationId, 'device_fault', null, `the gateway reports ${t.faults.join(', ')}`, at, false);
    else ledger.resolveAlerts(stationId, 'device_fault', at, 'no fault reported');
    // A signed heartbeat is better evidence of life than a retained state that may be stale.
    if (!ledger.setOnline(stationId, true, at, 'telemetry')) return false;
    ledger.resolveAlerts(stationId, 'offline', at, 'station back online');
    return true;
  }

  /**
   * Closes the proof windows that have passed: an airing without an end proof by then is missed (or
   * partial when it started) for "offline", and raises an alert; a station marked offline with an airing
   * due raises one at once. Runs in the lane, so it never races a batch.
   */
  sweep(): Promise<{ closed: number }> {
    return this.inLane(async () => {
      const { ledger } = this.deps;
      const now = this.deps.now();
      let closed = 0;
      const changed = new Set<string>();
      ledger.transaction(() => {
        for (const a of ledger.dueAtOfflineStations(now)) {
          ledger.raiseAlert(a.stationId, 'offline', a.id, `${a.stationCode}: offline when an airing was due at ${a.startsAt}`, now, false);
          changed.add(a.stationId);
        }
      });
      for (;;) {
        const n = ledger.transaction(() => {
          const rows = ledger.closedAirings(now, SWEEP_CHUNK);
          for (const a of rows) {
            const lateMs = a.startedAt ? Math.max(0, Date.parse(a.startedAt) - Date.parse(a.startsAt)) : null;
            ledger.closeAiring(a.id, a.startedAt ? 'partial' : 'missed', lateMs);
            changed.add(a.stationId);
            const message = `${a.stationCode}: no proof for the airing at ${a.startsAt}`;
            if (a.online) ledger.raiseAlert(a.stationId, 'missed', a.id, message, now);
            else ledger.raiseAlert(a.stationId, 'offline', a.id, message, now, false);
          }
          return rows.length;
        });
        closed += n;
        if (n < SWEEP_CHUNK) break;
        await new Promise((r) => setImmediate(r));
      }
      if (changed.size) this.deps.onStationsChanged?.([...changed]);
      return { closed };
    });
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
    const online = state.data.online;
    const stationId = identity.station.id;
    const flipped = await this.inLane(() => {
      const at = this.deps.now();
      const { ledger } = this.deps;
      return ledger.transaction(() => {
        ledger.touchStation(stationId, at);
        const flip = ledger.setOnline(stationId, online, at, 'state');
        if (flip && online) ledger.resolveAlerts(stationId, 'offline', at, 'station back online');
        return flip;
      });
    });
    if (flipped) this.deps.onStationsChanged?.([stationId]);
  }
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
