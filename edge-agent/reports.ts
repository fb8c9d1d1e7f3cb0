// Proof-of-play delivery ([P-3.2], [P-3.8]): each signed report is written to the durable outbox before
// it is published, and leaves it only when the server's signed storage receipt names it. A PUBACK only
// says the broker has it. Unreceipted reports go out again at each reconnect and after the [P-1.2]
// backoff's waits; one past its own expiry is dropped. Once a receipt has said the server takes them
// ([P-3.9]), a flush of several reports goes out as batches: one signature and one message for many.
import { LIMITS, type PlaybackReport, reportTopic, seal } from '#protocol';
import { Backoff } from './backoff.ts';
import type { AgentContext } from './context.ts';
import type { ServerTrust } from './trust.ts';

const REPORT_TTL_MS = 30 * 86_400_000;
/** Room left in a batch's payload for the envelope around the reports (ids, keys, signature). */
const BATCH_ENVELOPE_BYTES = 1024;

type Read = { body: Record<string, unknown>; expiresAt: number } | undefined;
/** An outbox entry; `read` once its envelope has been parsed (undefined when it cannot be). */
type Pending = { id: string; payload: string; read?: Read };

export class ReportSender {
  /** Ids handed to the MQTT client and not yet PUBACKed: MQTT.js resends those itself after a reconnect. */
  private readonly inFlight = new Set<string>();
  /** Waits between resending the reports no receipt has named yet; reset by each receipt. */
  private backoff?: Backoff;
  private timer?: () => void;
  /** [P-3.9] The most reports the server takes in one batch, once a receipt has said it takes batches. */
  private batchReports?: number;
  /** The reports each recent batch carried, by batch id: a receipt may name the batch as unverified. */
  private readonly batches = new Map<string, string[]>();

  constructor(
    private readonly ctx: AgentContext,
    private readonly trust: ServerTrust,
  ) {}

  /** Writes the signed report to the outbox, then publishes it. */
  publish(report: PlaybackReport): void {
    const { deps } = this.ctx;
    const envelope = seal('report', report, this.ctx.signer, { now: new Date(deps.clock.now()), ttlMs: REPORT_TTL_MS });
    const payload = JSON.stringify(envelope);
    deps.outbox.put(envelope.id, payload, deps.clock.now());
    this.send(envelope.id, payload);
    this.arm();
  }

  /** (Re)connected: reports written before a restart or during an outage go out now, oldest first. */
  connected(): void {
    this.flush(this.ctx.deps.outbox.pending());
    this.restart();
  }

  stop(): void {
    this.timer?.();
    this.timer = undefined;
  }

  /** [P-3.8] A signed storage receipt: what it lists is on the server's disk (or refused for good) and leaves the outbox. */
  onReceipt(payload: Buffer): void {
    const { deps, station } = this.ctx;
    const opened = this.trust.openIdempotent(payload, 'receipt');
    if (!opened.ok || opened.body.station !== station) {
      deps.log.warn('receipt refused', opened.ok ? { station: opened.body.station } : { code: opened.code });
      return;
    }
    this.batchReports = opened.body.batchReports;
    this.keyRefused(opened.body.unverified ?? [], opened.body.stored);
    for (const id of opened.body.stored) {
      deps.outbox.remove(id);
      this.ctx.emit({ type: 'delivered', id });
    }
    for (const { id, code } of opened.body.refused) {
      deps.outbox.remove(id);
      deps.log.warn('report refused by the server', { id, code });
      this.ctx.emit({ type: 'delivered', id, refused: code });
    }
    this.restart();
  }

  /**
   * [P-5.4.1] Our own reports named unverified: the server cannot verify what this gateway signs (its key is
   * corrupt or was replaced). They stay in the outbox; the fault goes out in the unsigned state message until a
   * receipt stores one of ours again.
   */
  private keyRefused(unverified: string[], stored: string[]): void {
    const { ctx } = this;
    const held = new Set(ctx.deps.outbox.pending().map((p) => p.id));
    const ours = unverified.filter((id) => held.has(id) || this.batches.get(id)?.some((r) => held.has(r)));
    const had = ctx.stateFaults.has('KEY_REFUSED');
    if (ours.length) ctx.stateFaults.add('KEY_REFUSED');
    else if (stored.length) ctx.stateFaults.delete('KEY_REFUSED');
    if (had === ctx.stateFaults.has('KEY_REFUSED')) return;
    if (ours.length)
      ctx.deps.log.warn('the server cannot verify our signature: the key is corrupt or was replaced; enroll again', { ids: ours.length });
    ctx.publishState();
  }

  /** The backoff starts over; the next resend is armed only while something waits for a receipt. */
  private restart(): void {
    this.backoff?.reset();
    this.stop();
    if (this.ctx.deps.outbox.pending().length) this.arm();
  }

  private send(id: string, payload: string): void {
    this.publishFor([id], payload);
  }

  /** Publishes a message carrying the reports `ids`; each stays in the outbox until a receipt names it. */
  private publishFor(ids: string[], payload: string): void {
    const { mqtt, device, deps } = this.ctx;
    if (!mqtt || ids.some((id) => this.inFlight.has(id))) return;
    for (const id of ids) this.inFlight.add(id);
    mqtt.publish(reportTopic(device), payload, { qos: 1 }, (err) => {
      for (const id of ids) this.inFlight.delete(id);
      // A PUBACK only says the broker has it: the entry stays until a receipt says the server stored it.
      if (err) deps.log.warn('reports not acknowledged by the broker, kept in the outbox', { ids: ids.length, err: err.message });
    });
  }

  /**
   * Sends what the outbox holds: report by report, or, when the server takes batches and more than one
   * waits, as [P-3.9] batches that fit its count and the payload limit, each signed once and living no
   * longer than the earliest report it carries.
   */
  private flush(pending: Pending[]): void {
    const max = this.batchReports;
    const waiting = pending.filter((p) => !this.inFlight.has(p.id));
    if (!max || waiting.length < 2) {
      for (const { id, payload } of waiting) this.send(id, payload);
      return;
    }
    let batch: (Pending & { report: Record<string, unknown>; expiresAt: number })[] = [];
    let bytes = 0;
    const flushBatch = () => {
      const [only] = batch;
      if (batch.length === 1 && only) this.send(only.id, only.payload);
      else if (batch.length) this.sendBatch(batch);
      batch = [];
      bytes = 0;
    };
    for (const p of waiting) {
      const env = 'read' in p ? p.read : readEnvelope(p.payload);
      // Unreadable (it cannot be): it goes alone, and the server decides.
      if (!env) {
        this.send(p.id, p.payload);
        continue;
      }
      const size = Buffer.byteLength(JSON.stringify(env.body)) + 64;
      if (batch.length >= max || bytes + size > LIMITS.maxPayloadBytes - BATCH_ENVELOPE_BYTES) flushBatch();
      batch.push({ ...p, report: env.body, expiresAt: env.expiresAt });
      bytes += size;
    }
    flushBatch();
  }

  private sendBatch(items: { id: string; report: Record<string, unknown>; expiresAt: number }[]): void {
    const { deps, station, signer } = this.ctx;
    const now = deps.clock.now();
    const ttlMs = Math.min(REPORT_TTL_MS, ...items.map((i) => i.expiresAt - now));
    if (ttlMs <= 0) return;
    const body = { station, reports: items.map(({ id, report }) => ({ id, report })) };
    const envelope = seal('report-batch', body, signer, { now: new Date(now), ttlMs });
    this.batches.set(
      envelope.id,
      items.map((i) => i.id),
    );
    if (this.batches.size > 64) this.batches.delete(this.batches.keys().next().value as string);
    this.publishFor(
      items.map((i) => i.id),
      JSON.stringify(envelope),
    );
  }

  /** While the outbox holds anything, resends it after the backoff's next wait (1 s doubling to 300 s, jittered). */
  private arm(): void {
    const { ctx } = this;
    if (this.timer || ctx.stopped) return;
    this.backoff ??= new Backoff({ random: ctx.options.random });
    const { clock, outbox, log } = ctx.deps;
    this.timer = clock.at(clock.now() + this.backoff.next(), () => {
      this.timer = undefined;
      const pending = outbox.pending();
      if (!pending.length) return this.backoff?.reset();
      const now = clock.now();
      const live = pending
        .map((p) => ({ ...p, read: readEnvelope(p.payload) }))
        .filter(({ id, read }) => {
          // A report past its own lifetime would only be refused as EXPIRED: let it go.
          if ((read?.expiresAt ?? Number.POSITIVE_INFINITY) > now) return true;
          outbox.remove(id);
          log.warn('report expired unreceipted, dropped from the outbox', { id });
          return false;
        });
      if (ctx.mqtt?.connected) this.flush(live);
      this.arm();
    });
  }
}

/** A stored report envelope's body and expiry; undefined when it cannot be read (the server decides then). */
function readEnvelope(payload: string): Read {
  try {
    const env = JSON.parse(payload) as { body?: unknown; expiresAt?: string };
    const expiresAt = Date.parse(env.expiresAt ?? '');
    if (typeof env.body !== 'object' || env.body === null || !Number.isFinite(expiresAt)) return undefined;
    return { body: env.body as Record<string, unknown>, expiresAt };
  } catch {
    return undefined;
  }
}
