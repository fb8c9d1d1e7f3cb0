// [P-3.1] Plan entries as a device manifest and a group plan ([P-3.10]) list them, from stored airings:
// one function, so that a station's own entry and its group plan's entry are the same JSON.
import { LIMITS, type ManifestEntry, type MediaRef } from '#protocol';

type MediaFields = { sha256: string; durationMs: number; sizeBytes: number; codec: string };

/** An airing as the plan queries read it (with its item, the item's fallback, and its schedule's rules). */
export interface PlanRow {
  id: string;
  zones: string;
  startsAt: Date;
  priority: string;
  media: MediaFields & {
    status: string;
    validUntil: Date | null;
    relay: string | null;
    fallbackMedia: (MediaFields & { status: string }) | null;
  };
  schedule: { conflict: string; startWindowMs: number; emergencyId: string | null };
}

export type Alert = { validUntil: Date; repeatCount: number | null; repeatIntervalS: number | null; repeatUntil: Date | null };

/**
 * The entries of these airings that may still reach a gateway at `at`, each with its zones ("<device>:<zone>";
 * none = every output). An alert's airing is dropped unless its alert is in `alerts` (active).
 */
export function planEntries(rows: PlanRow[], alerts: Map<string, Alert>, at: Date): { zones: string[]; entry: ManifestEntry }[] {
  return (
    rows
      .filter((o) => (o.schedule.emergencyId ? alerts.has(o.schedule.emergencyId) : true))
      .filter((o) => {
        const alert = o.schedule.emergencyId ? alerts.get(o.schedule.emergencyId) : undefined;
        return (alert ? alert.validUntil.getTime() : o.startsAt.getTime() + o.media.durationMs) > at.getTime();
      })
      // Withdrawn or out-of-window items never reach a gateway, whatever was scheduled; nor a relay whose
      // fallback file may not air.
      .filter(
        (o) =>
          o.media.status === 'approved' &&
          (!o.media.validUntil || o.startsAt.getTime() + o.media.durationMs <= o.media.validUntil.getTime()) &&
          (!o.media.relay || o.media.fallbackMedia?.status === 'approved'),
      )
      .map((o) => ({
        zones: JSON.parse(o.zones) as string[],
        entry: {
          occurrenceId: o.id,
          startsAt: o.startsAt.toISOString(),
          priority: o.priority as ManifestEntry['priority'],
          // [P-5.11] a relay's `media` is its fallback file; the stream is in `relay`.
          media: mediaRef(o.media.relay && o.media.fallbackMedia ? o.media.fallbackMedia : o.media),
          ...relayOf(o.media),
          ...(o.media.validUntil ? { validUntil: o.media.validUntil.toISOString() } : {}),
          conflict: o.schedule.conflict as ManifestEntry['conflict'],
          ...(o.schedule.startWindowMs ? { latestStartAt: new Date(o.startsAt.getTime() + o.schedule.startWindowMs).toISOString() } : {}),
          ...alertFields(o.schedule.emergencyId ? alerts.get(o.schedule.emergencyId) : undefined, o.media.validUntil),
        } satisfies ManifestEntry,
      }))
  );
}

/** [P-5.5] An alert's entry airs as its command would: valid until the alert ends, repeating as it says. */
function alertFields(alert: Alert | undefined, mediaValidUntil: Date | null): Partial<ManifestEntry> {
  if (!alert) return {};
  const until = mediaValidUntil && mediaValidUntil < alert.validUntil ? mediaValidUntil : alert.validUntil;
  return {
    validUntil: until.toISOString(),
    ...(alert.repeatUntil ? { repeatUntil: alert.repeatUntil.toISOString() } : {}),
    ...(alert.repeatCount || !alert.repeatUntil ? { repeatCount: alert.repeatCount ?? 1 } : {}),
    ...(alert.repeatIntervalS ? { repeatIntervalMs: alert.repeatIntervalS * 1000 } : {}),
  };
}

/** [P-3.1] A stored file as an entry names it. */
export function mediaRef(m: { sha256: string; durationMs: number; sizeBytes: number; codec: string }): ManifestEntry['media'] {
  return { sha256: m.sha256, path: `/blobs/${m.sha256}`, durationMs: m.durationMs, sizeBytes: m.sizeBytes, codec: m.codec };
}

/** [P-5.11] A relay item's stream, as the entry carries it: URLs in order, the slot, dead air, re-check. */
function relayOf(m: { relay: string | null; durationMs: number }): Pick<ManifestEntry, 'relay'> {
  if (!m.relay) return {};
  const r = JSON.parse(m.relay) as { urls: string[]; deadAirMs: number; recheckMs: number };
  return { relay: { urls: r.urls, slotMs: m.durationMs, deadAirMs: r.deadAirMs, recheckMs: r.recheckMs } };
}

type MediaRow = { sha256: string; durationMs: number; sizeBytes: number; codec: string; status: string };

/** [P-5.5] The alert templates of the station's units (and the province-wide ones), approved, kept on its gateway ahead of need. */
export function prefetchOf(
  templates: { unitId: string | null; media: MediaRow; endMedia: MediaRow | null }[],
  units: Set<string>,
): { prefetch?: MediaRef[] } {
  const refs = new Map<string, MediaRef>();
  for (const t of templates) {
    if (t.unitId && !units.has(t.unitId)) continue;
    for (const m of [t.media, t.endMedia]) if (m && m.status === 'approved') refs.set(m.sha256, mediaRef(m));
  }
  const prefetch = [...refs.values()].slice(0, LIMITS.maxPrefetch);
  return prefetch.length ? { prefetch } : {};
}
