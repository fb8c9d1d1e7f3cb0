// Manifest sync and prefetch: verifies and applies the signed plan with a signed ack ([P-3.7]), then
// keeps the audio cache in step with it ([P-5.3]).
import {
  ackTopic,
  type Envelope,
  effectivePlan,
  type GroupPlanHeld,
  groupsHeld,
  type Manifest,
  type ManifestAck,
  type ManifestEntry,
  manifestTopic,
  seal,
} from '#protocol';
import { Backoff } from './backoff.ts';
import type { AgentContext } from './context.ts';
import { claimed, type ServerTrust } from './trust.ts';

const ACK_TTL_MS = 3600_000;

type Armed = { plan: Manifest; groups: GroupPlanHeld[] };
/** Airings started by command and not (yet) in any manifest, remembered as played. */
const UNPLANNED_KEPT = 64;

export class ManifestSync {
  /** Audio downloads that failed, each waiting out its own backoff. */
  private readonly retry = new Map<string, { backoff: Backoff; nextAt: number }>();
  private retryTimer?: () => void;
  private syncing?: Promise<void>;
  private again = false;
  private readonly announced = new Set<string>();
  /** Audio within the prefetch horizon not on disk yet, as of the last sync. */
  missing = 0;

  constructor(
    private readonly ctx: AgentContext,
    private readonly trust: ServerTrust,
    /** Arms the plan just applied. */
    private readonly onApplied: (manifest: Manifest) => void,
    /** The audio that plays now, kept through eviction. */
    private readonly playingSha: () => string | undefined,
  ) {}

  /** The topics this room listens on. */
  get topics(): string[] {
    return [manifestTopic(this.ctx.device)];
  }

  async onManifest(payload: Buffer): Promise<void> {
    const { ctx } = this;
    const { log } = ctx.deps;
    const opened = this.trust.open(payload, 'manifest');
    if (!opened.ok) {
      // The retained manifest comes again at every reconnect: the one applied is not an error. Its ack is
      // sent again, since the last one may have died with the process or link before its PUBACK ([P-3.7]).
      if (opened.code === 'REPLAYED' && this.trust.isApplied(payload)) {
        this.ackApplied(this.armed());
        return;
      }
      ctx.emit({ type: 'rejected', code: opened.code });
      if (opened.code === 'REPLAYED' || opened.code === 'STALE_SEQUENCE') {
        // An older manifest sent again (by an attacker or a confused relay): refused, and its version is long settled.
        log.warn('manifest replay refused', { code: opened.code });
        return;
      }
      log.warn('manifest rejected', { code: opened.code, message: opened.message });
      const version = claimed(payload).version;
      this.ack({ station: ctx.station, version, status: 'rejected', code: opened.code, message: opened.message.slice(0, 500) });
      return;
    }
    if (opened.body.station !== ctx.station) {
      ctx.emit({ type: 'rejected', code: 'STATION_MISMATCH' });
      // Authentic, only not ours: recorded like any message that verified ([P-4.4]).
      this.trust.remember(opened.envelope);
      ctx.save();
      this.ack({ station: ctx.station, version: opened.body.version, status: 'rejected', code: 'WRONG_STATION' });
      return;
    }
    this.ackApplied(this.apply(opened.envelope, opened.body));
    this.request();
    await this.syncing;
  }

  /**
   * [P-3.10] A unit's group plan, from the unit's retained `plan` topic. Its version is its replay guard (a
   * plan sealed before the manifest that names it arrives after it, so the sequence rule of [P-4.3] does
   * not apply): an older or equal version is ignored. Kept whether or not the manifest names it yet; when
   * it does, the plan is armed again and acknowledged with the group plans now held.
   */
  async onGroupPlan(payload: Buffer, unit: string): Promise<void> {
    const { ctx } = this;
    const opened = this.trust.openGroupPlan(payload, unit, ctx.state.groupPlans);
    if (!opened) return;
    if ('code' in opened) {
      ctx.emit({ type: 'rejected', code: opened.code });
      ctx.deps.log.warn('group plan rejected', { unit, code: opened.code });
      return;
    }
    const { plan } = opened;
    ctx.state.groupPlans[unit] = plan;
    ctx.save();
    ctx.deps.log.info('group plan received', { unit, version: plan.version, entries: plan.entries.length });
    ctx.emit({ type: 'group-plan', unit, version: plan.version, entries: plan.entries.length });
    if (!ctx.state.manifest?.groupPlans?.some((r) => r.unit === unit)) return;
    this.ackApplied(this.arm());
    this.request();
    await this.syncing;
  }

  /** What airs: the manifest with the group plans it names merged in ([P-3.10]). */
  plan(): Manifest | undefined {
    const { manifest, groupPlans } = this.ctx.state;
    return manifest && effectivePlan(manifest, groupPlans);
  }

  /** What airs now and the named group plans held ([P-3.10]): merged once for arming and acknowledging. */
  private armed(): Armed | undefined {
    const plan = this.plan();
    return plan && { plan, groups: groupsHeld(this.ctx.state.manifest, this.ctx.state.groupPlans) };
  }

  /** [P-3.7] The applied manifest acknowledged, with the group plans held ([P-3.10]: `groups` says this device has them). */
  private ackApplied(armed: Armed | undefined): void {
    if (!armed) return;
    const { plan, groups } = armed;
    this.ack({ station: this.ctx.station, version: plan.version, status: 'applied', entries: plan.entries.length, groups });
  }

  /** Arms what airs now, and says so: the manifest version, the airings and the group plans held. */
  private arm(armed = this.armed()): Armed | undefined {
    if (!armed) return undefined;
    const { plan, groups } = armed;
    this.onApplied(plan);
    this.ctx.emit({ type: 'plan', version: plan.version, entries: plan.entries.length, groups });
    return armed;
  }

  /** [P-3.7] Signed receipt of a manifest version. */
  private ack(body: ManifestAck): void {
    const { ctx } = this;
    const envelope = seal('manifest-ack', body, ctx.signer, { now: new Date(ctx.deps.clock.now()), ttlMs: ACK_TTL_MS });
    ctx.mqtt?.publish(ackTopic(ctx.device), JSON.stringify(envelope), { qos: 1 });
  }

  private apply(envelope: Envelope, manifest: Manifest): Armed | undefined {
    const { ctx } = this;
    // What aired and is no longer planned is forgotten; what aired without having been planned (an emergency
    // by command) is kept a while, so the manifest that lists it a moment later does not air it again.
    const before = new Set(this.plan()?.entries.map((e) => e.occurrenceId));
    this.trust.adopt(envelope, manifest.serverKeys);
    ctx.state.manifest = manifest;
    this.trust.applied(envelope);
    const armed = this.armed();
    const live = new Set(armed?.plan.entries.map((e) => e.occurrenceId));
    const unplanned = ctx.state.played.filter((id) => !live.has(id) && !before.has(id)).slice(-UNPLANNED_KEPT);
    ctx.state.played = [...ctx.state.played.filter((id) => live.has(id)), ...unplanned];
    ctx.save();
    ctx.deps.log.info('manifest applied', { version: manifest.version, entries: manifest.entries.length });
    ctx.emit({ type: 'manifest', version: manifest.version, entries: manifest.entries.length });
    return this.arm(armed);
  }

  /** Runs a sync pass now, or right after the one under way. */
  request(): void {
    if (this.ctx.stopped) return;
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = this.once()
      .catch((err: Error) => this.ctx.deps.log.warn('sync failed', { err: err.message }))
      .finally(() => {
        this.syncing = undefined;
        if (this.again) {
          this.again = false;
          this.request();
        }
      });
  }

  /** Back online: downloads waiting out their backoff are tried at the next pass. */
  retryNow(): void {
    const now = this.ctx.deps.clock.now();
    for (const r of this.retry.values()) r.nextAt = now;
  }

  stop(): void {
    this.retryTimer?.();
    this.retryTimer = undefined;
  }

  /**
   * Evicts what no entry still needs when over budget, then fetches the audio of items starting within
   * the prefetch horizon, soonest first. A failed download waits out its own backoff (1 s doubling to
   * 300 s, jittered) and resumes where it stopped.
   */
  private async once(): Promise<void> {
    const { ctx } = this;
    const { deps, options } = ctx;
    const manifest = this.plan();
    if (!manifest) return;
    const now = deps.clock.now();
    const played = new Set(ctx.state.played);
    const upcoming = manifest.entries
      .filter((e) => !played.has(e.occurrenceId) && Date.parse(e.startsAt) + e.media.durationMs > now)
      .sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt))
      .filter((e) => Date.parse(e.startsAt) <= now + options.prefetchHorizonMs)
      .map((e) => e.media);
    // [P-5.5] then the prepared emergency templates, whenever they will be needed
    const wanted = [...upcoming, ...(manifest.prefetch ?? [])];
    const needed = new Set(wanted.map((m) => m.sha256));
    const playing = this.playingSha();
    if (playing) needed.add(playing);
    const evicted = await deps.cache.evict(needed, options.cacheBudgetBytes);
    if (evicted.removed.length) deps.log.info('cache evicted', { files: evicted.removed.length });
    let { bytes } = evicted;
    let missing = 0;
    const seen = new Set<string>();
    for (const media of wanted) {
      const { sha256, sizeBytes } = media;
      if (ctx.stopped) break;
      if (seen.has(sha256)) continue;
      seen.add(sha256);
      if (await deps.cache.has(sha256)) {
        this.announce(sha256);
        continue;
      }
      const retry = this.retry.get(sha256);
      if (retry && retry.nextAt > deps.clock.now()) {
        missing++;
        continue;
      }
      if (bytes + sizeBytes > options.cacheBudgetBytes) {
        deps.log.warn('cache budget too small for the plan', { sha256, bytes, budget: options.cacheBudgetBytes });
        missing++;
        continue;
      }
      try {
        await fetchAudio(ctx, media);
        this.retry.delete(sha256);
        bytes += sizeBytes;
        this.announce(sha256);
      } catch (err) {
        const backoff = retry?.backoff ?? new Backoff({ random: options.random });
        const retryInMs = backoff.next();
        this.retry.set(sha256, { backoff, nextAt: deps.clock.now() + retryInMs });
        missing++;
        deps.log.warn('audio fetch failed', { sha256, retryInMs, err: (err as Error).message });
        ctx.emit({ type: 'fetch-failed', sha256, retryInMs, error: (err as Error).message });
      }
    }
    for (const sha of this.retry.keys()) if (!needed.has(sha)) this.retry.delete(sha);
    this.missing = missing;
    this.stop();
    const nextRetry = Math.min(...[...this.retry.values()].map((r) => r.nextAt));
    if (Number.isFinite(nextRetry) && !ctx.stopped) this.retryTimer = deps.clock.at(nextRetry, () => this.request());
  }

  private announce(sha256: string): void {
    if (this.announced.has(sha256)) return;
    this.announced.add(sha256);
    this.ctx.emit({ type: 'cached', sha256 });
  }
}

/** Fetches an item's audio into the cache (or finds it there), hash-checked; rejects when it cannot. */
export function fetchAudio(ctx: AgentContext, media: ManifestEntry['media']): Promise<string> {
  return ctx.deps.cache.ensure(media.sha256, `${ctx.deps.serverUrl}${media.path}`);
}

/** Whether an item's audio is (now) in the cache, fetched if need be. */
export function audioAvailable(ctx: AgentContext, media: ManifestEntry['media']): Promise<boolean> {
  return fetchAudio(ctx, media).then(
    () => true,
    () => false,
  );
}
