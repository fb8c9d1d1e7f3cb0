// Proof of play and station health at scale: signed reports and telemetry are queued as they arrive,
// then taken in batches off the MQTT loop. Each batch: one query for the devices, signatures checked,
// one query for the occurrences, then one SQLite transaction of prepared statements (proof-ledger.ts) that
// drops duplicates (gateways deliver at least once), links each proof into its station's hash chain,
// stores the as-run verdict and raises alerts. One lane runs batches, state changes and the sweep in
// order, so the duplicate check and the chain's next link always see the last write.

import { EventEmitter } from 'node:events';
import type { BodyType, PlaybackReport, ReportBatch, ReportReceipt, Telemetry } from '#protocol';
import { type Opener, type OpenResult, openInParts } from '../compliance/open-worker.ts';
import { UNTRUE, UNVERIFIED, untrueProof } from '../compliance/proof-rules.ts';
import { type DayVerification, verifyProofDay } from '../compliance/verify-day.ts';
import type { Db } from '../db/client.ts';
import type { LedgerTx, ProofLedger, Step } from '../db/proof-ledger.ts';
import type { Metrics } from '../metrics.ts';
import { type DeviceIdentity, type DeviceService, deviceKid } from './device-service.ts';
import { airingsOf, type Job, type Opened, ProofWriter, type ReportOutcome, type Result } from './proof-writer.ts';
import { receiptsFor, unpackBatch } from './report-batch.ts';
import { StateIntake } from './state-intake.ts';

export { CLOCK_TOLERANCE_MS, untrueProof } from '../compliance/proof-rules.ts';
export type { ReportOutcome };

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
  open?: Opener;
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

/**
 * A batch once opened: early verdicts, the messages that verified, each known device's station code, and
 * the jobs of the reports that [P-3.9] batches carried (answered and receipted like the rest).
 */
type Batch = { results: Map<Job, Result>; opened: Opened[]; stations: Map<string, string>; children: Job[]; unverified: Refusals };
/** Refusals to count toward an alert, by station id. */
type Refusals = Map<string, { station: string; codes: string[] }>;
const count = (into: Refusals, station: { id: string; code: string }, code: string) => {
  const seen = into.get(station.id) ?? { station: station.code, codes: [] };
  seen.codes.push(code);
  into.set(station.id, seen);
};

/** What each topic's messages may be ([P-3.9]: a report topic carries reports and batches of them). */
const TYPES: Record<Job['type'], BodyType[]> = { report: ['report', 'report-batch'], telemetry: ['telemetry'] };

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
  private readonly writer: ProofWriter;
  private readonly states: StateIntake;

  constructor(private readonly deps: ReportDeps) {
    this.writer = new ProofWriter(deps);
    this.states = new StateIntake({ ...deps, inLane: (fn) => this.inLane(fn) });
  }

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

  /**
   * [P-3.2] A signed playback report, or a [P-3.9] batch of them; resolves once it is stored, found a
   * duplicate, or rejected ('handled' is emitted for each report a batch carried, not for the batch).
   */
  async handleReport(device: string, payload: Buffer): Promise<ReportOutcome> {
    const r = await this.enqueue('report', device, payload);
    if (!r.batch) this.events.emit('handled', r.outcome, r.kind);
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
    while (this.queue.length || this.scheduled || this.inFlight || this.states.busy) {
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
      types: TYPES[job.type],
      kid: deviceKid(identity.publicKeyHex),
      publicKeyHex: identity.publicKeyHex,
    }));
    // One task per worker, so every thread checks signatures at once.
    const outcomes = await openInParts(this.deps.open, this.deps.openers, now, items);
    const opened: Opened[] = [];
    const children: Job[] = [];
    const unverified: Refusals = new Map();
    for (const [i, { job, identity }] of known.entries()) {
      const o = outcomes[i] as OpenResult;
      if (!o.ok) {
        this.reject(results, job, o.code, o.message, o.id);
        if (UNVERIFIED.has(o.code)) count(unverified, identity.station, o.code);
        continue;
      }
      if (o.envelope.type === 'report-batch') {
        const { station } = o.body as Pick<ReportBatch, 'station'>;
        if (station !== identity.station.code) {
          this.reject(results, job, 'STATION_MISMATCH', `batch names ${station}`, o.envelope.id);
          continue;
        }
        const raw = job.payload.toString('utf8');
        const unpacked = unpackBatch(job, identity, { id: o.envelope.id, raw, items: o.items ?? [] }, (r) =>
          this.events.emit('handled', r.outcome, r.kind),
        );
        for (const r of unpacked.refused) this.reject(results, r.job, r.code, r.detail, r.id);
        children.push(...unpacked.children);
        opened.push(...unpacked.opened);
        results.set(job, { outcome: 'stored', kind: 'report-batch', batch: true });
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
    return { results, opened, stations: new Map([...identities].map(([device, id]) => [device, id.station.code])), children, unverified };
  }

  /**
   * In the lane: the batch's occurrences in one query, then one transaction (retried when it fails);
   * every message answered, and receipts sent for what was committed or refused for good.
   */
  private async store(batch: Job[], opening: Promise<Batch>): Promise<void> {
    const { metrics, log } = this.deps;
    let results = new Map<Job, Result>();
    let stations = new Map<string, string>();
    let jobs = batch;
    try {
      const { results: early, opened, stations: known, children, unverified } = await opening;
      results = early;
      stations = known;
      jobs = [...batch, ...children];
      const occurrences = await airingsOf(
        this.deps.db,
        opened.flatMap((o) => (o.report ? [o.report.occurrenceId] : [])),
      );
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
      const untrue: Refusals = new Map();
      for (const o of opened) {
        const r = results.get(o.job);
        if (r && UNTRUE.has(r.kind)) count(untrue, o.identity.station, r.kind);
      }
      const writer = this.writer;
      const written = await this.commit(function* (tx) {
        const w = yield* writer.write(tx, accepted, occurrences);
        for (const [id, { station, codes }] of untrue) yield* writer.refusalAlert(tx, 'untrue', id, station, codes);
        for (const [id, { station, codes }] of unverified) yield* writer.refusalAlert(tx, 'unverified', id, station, codes);
        return w;
      });
      for (const [job, r] of written.results) results.set(job, r);
      if (written.changed.size) this.deps.onStationsChanged?.([...written.changed]);
      for (const r of written.results.values())
        metrics.reports.inc({ result: r.kind === 'telemetry' ? 'telemetry' : r.outcome === 'stored' ? 'stored' : 'duplicate' });
      if (written.stations) log.info({ proofs: written.proofs, stations: written.stations }, 'playback reports stored');
    } catch (err) {
      // The database failed, not the input: nothing is receipted, so every gateway keeps its copy and sends it again.
      log.error({ err: (err as Error).message, messages: jobs.length }, 'proof batch not stored; gateways keep their copies');
      for (const job of jobs) {
        const r = results.get(job);
        if (r?.outcome === 'rejected') continue;
        if (!r?.batch) metrics.reports.inc({ result: 'STORE_FAILED' });
        results.set(job, { outcome: 'rejected', kind: 'STORE_FAILED', ...(r?.batch ? { batch: true as const } : {}) });
      }
    }
    for (const job of jobs) job.done(results.get(job) ?? { outcome: 'rejected', kind: 'STORE_FAILED' });
    await this.sendReceipts(jobs, results, stations);
  }

  /** Runs a transaction, retrying it after each of the configured waits; the store is down while it fails. */
  private async commit<T>(fn: (tx: LedgerTx) => Step<T>): Promise<T> {
    const waits = this.deps.retryDelaysMs ?? [250, 1000];
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await this.deps.ledger.transaction(fn);
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
  private async sendReceipts(jobs: Job[], results: Map<Job, Result>, stations: Map<string, string>): Promise<void> {
    const send = this.deps.receipt;
    if (!send) return;
    await Promise.all(
      receiptsFor(jobs, results, stations).map(async ({ device, receipts }) => {
        for (const receipt of receipts)
          await send(device, receipt).catch((err: Error) =>
            this.deps.log.warn({ device, err: err.message }, 'receipt not sent; the gateway will send its reports again'),
          );
      }),
    );
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
      await ledger.transaction(function* (tx) {
        for (const a of yield* tx.dueAtOfflineStations(now)) {
          const message = `${a.stationCode}: offline when an airing was due at ${a.startsAt}`;
          yield* tx.raiseAlert(a.stationId, 'offline', a.id, message, now, false);
          changed.add(a.stationId);
        }
      });
      for (;;) {
        const n = await ledger.transaction(function* (tx) {
          const rows = yield* tx.closedAirings(now, SWEEP_CHUNK);
          for (const a of rows) {
            const lateMs = a.startedAt ? Math.max(0, Date.parse(a.startedAt) - Date.parse(a.startsAt)) : null;
            yield* tx.closeAiring(a.id, a.startedAt ? 'partial' : 'missed', lateMs);
            changed.add(a.stationId);
            const message = `${a.stationCode}: no proof for the airing at ${a.startsAt}`;
            if (a.online) yield* tx.raiseAlert(a.stationId, 'missed', a.id, message, now);
            else yield* tx.raiseAlert(a.stationId, 'offline', a.id, message, now, false);
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
  handleState(device: string, payload: Buffer): Promise<void> {
    return this.states.handle(device, payload);
  }
}
