// Compiles a station's plan for the horizon into a signed manifest and publishes it, retained,
// so a gateway that connects later still receives the latest version ([P-5.1]).
import { type Manifest, manifestTopic, seal } from '#protocol';
import type { Db } from '../db/client.ts';
import type { ServerKey } from '../keys.ts';
import type { Metrics } from '../metrics.ts';
import type { MqttLink } from '../mqtt/link.ts';

const DAY_MS = 86_400_000;

export interface DispatchDeps {
  db: Db;
  link: MqttLink;
  key: ServerKey;
  metrics: Metrics;
  now: () => Date;
  horizonDays: number;
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export class DispatchService {
  constructor(private readonly deps: DispatchDeps) {}

  async compile(stationId: string): Promise<Manifest> {
    const { db, now, horizonDays } = this.deps;
    const at = now();
    const horizonUntil = new Date(at.getTime() + horizonDays * DAY_MS);
    // An item still playing stays in the manifest so a gateway restarting mid-item knows about it.
    const lookBack = new Date(at.getTime() - DAY_MS);
    return db.$transaction(async (tx) => {
      const station = await tx.station.update({
        where: { id: stationId },
        data: { manifestVersion: { increment: 1 } },
      });
      const occurrences = await tx.occurrence.findMany({
        where: { stationId, startsAt: { gte: lookBack, lt: horizonUntil }, status: 'scheduled' },
        include: { media: true },
        orderBy: { startsAt: 'asc' },
      });
      return {
        station: station.code,
        version: station.manifestVersion,
        generatedAt: at.toISOString(),
        horizonUntil: horizonUntil.toISOString(),
        entries: occurrences
          .filter((o) => o.startsAt.getTime() + o.media.durationMs > at.getTime())
          // Withdrawn or out-of-window items never reach a gateway, whatever was scheduled.
          .filter(
            (o) =>
              o.media.status === 'approved' &&
              (!o.media.validUntil || o.startsAt.getTime() + o.media.durationMs <= o.media.validUntil.getTime()),
          )
          .map((o) => ({
            occurrenceId: o.id,
            startsAt: o.startsAt.toISOString(),
            priority: o.priority as Manifest['entries'][number]['priority'],
            media: {
              sha256: o.media.sha256,
              path: `/blobs/${o.media.sha256}`,
              durationMs: o.media.durationMs,
              sizeBytes: o.media.sizeBytes,
              codec: o.media.codec,
            },
            ...(o.media.validUntil ? { validUntil: o.media.validUntil.toISOString() } : {}),
          })),
      };
    });
  }

  async dispatch(stationIds: Iterable<string>): Promise<void> {
    for (const id of new Set(stationIds)) {
      const manifest = await this.compile(id);
      const envelope = seal('manifest', manifest, this.deps.key.signer, {
        now: this.deps.now(),
        ttlMs: (this.deps.horizonDays + 1) * DAY_MS,
      });
      await this.deps.link.publish(manifestTopic(manifest.station), JSON.stringify(envelope), { retain: true });
      this.deps.metrics.manifests.inc();
      this.deps.log.info({ station: manifest.station, version: manifest.version, entries: manifest.entries.length }, 'manifest published');
    }
  }

  /** Re-plans every station that has this item still to air (after it was withdrawn). */
  async dispatchMedia(mediaId: string): Promise<void> {
    await this.dispatchStationsWithPending(mediaId);
  }

  /** On start: the embedded broker keeps retained messages in memory only, so republish what is pending. */
  dispatchPending(): Promise<number> {
    return this.dispatchStationsWithPending();
  }

  /** Re-plans every station with an occurrence still to air (of one item, when given). */
  private async dispatchStationsWithPending(mediaId?: string): Promise<number> {
    const rows = await this.deps.db.occurrence.findMany({
      where: { ...(mediaId ? { mediaId } : {}), status: 'scheduled', startsAt: { gte: new Date(this.deps.now().getTime() - DAY_MS) } },
      select: { stationId: true },
      distinct: ['stationId'],
    });
    await this.dispatch(rows.map((r) => r.stationId));
    return rows.length;
  }
}
