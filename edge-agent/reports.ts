// Proof-of-play delivery ([P-3.2], [P-3.8]): each signed report is written to the durable outbox before
// it is published, and leaves it only when the server's signed storage receipt names it. A PUBACK only
// says the broker has it. Unreceipted reports go out again at each reconnect and after the [P-1.2]
// backoff's waits; one past its own expiry is dropped.
import { type PlaybackReport, reportTopic, seal } from '#protocol';
import { Backoff } from './backoff.ts';
import type { AgentContext } from './context.ts';
import type { ServerTrust } from './trust.ts';

const REPORT_TTL_MS = 30 * 86_400_000;

export class ReportSender {
  /** Ids handed to the MQTT client and not yet PUBACKed: MQTT.js resends those itself after a reconnect. */
  private readonly inFlight = new Set<string>();
  /** Waits between resending the reports no receipt has named yet; reset by each receipt. */
  private backoff?: Backoff;
  private timer?: () => void;

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
    const { outbox } = this.ctx.deps;
    for (const { id, payload } of outbox.pending()) this.send(id, payload);
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

  /** The backoff starts over; the next resend is armed only while something waits for a receipt. */
  private restart(): void {
    this.backoff?.reset();
    this.stop();
    if (this.ctx.deps.outbox.pending().length) this.arm();
  }

  private send(id: string, payload: string): void {
    const { mqtt, device, deps } = this.ctx;
    if (!mqtt || this.inFlight.has(id)) return;
    this.inFlight.add(id);
    mqtt.publish(reportTopic(device), payload, { qos: 1 }, (err) => {
      this.inFlight.delete(id);
      // A PUBACK only says the broker has it: the entry stays until a receipt says the server stored it.
      if (err) deps.log.warn('report not acknowledged by the broker, kept in the outbox', { id, err: err.message });
    });
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
      for (const { id, payload } of pending) {
        // A report past its own lifetime would only be refused as EXPIRED: let it go.
        if (expiredEnvelope(payload, now)) {
          outbox.remove(id);
          log.warn('report expired unreceipted, dropped from the outbox', { id });
          continue;
        }
        if (ctx.mqtt?.connected) this.send(id, payload);
      }
      this.arm();
    });
  }
}

/** Whether a stored envelope's expiresAt has passed (unreadable: treated as not expired, the server decides). */
function expiredEnvelope(payload: string, now: number): boolean {
  try {
    const at = Date.parse((JSON.parse(payload) as { expiresAt?: string }).expiresAt ?? '');
    return Number.isFinite(at) && at <= now;
  } catch {
    return false;
  }
}
