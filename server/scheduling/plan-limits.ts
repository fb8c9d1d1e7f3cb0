// [P-7] A plan a gateway will accept: at most 500 entries, and a signed envelope within the MQTT payload
// limit. A station with more to air before the horizon (a busy schedule, a 15-minute jingle for a week) gets
// the plan cut at its first left-out entry: `horizonUntil` ends there, so the gateway holds a complete plan
// up to that instant, and the server sends the next one half-way through it ([P-3.1.1]). Alerts are never
// cut: a gateway takes an alert its new plan no longer lists as cancelled ([P-5.5]).
import { LIMITS, type ManifestEntry } from '#protocol';

/** Room kept for the envelope around the manifest (type, ids, instants, kid, signature: about 400 bytes). */
const ENVELOPE_BYTES = 1024;
/** The earliest a cut plan is renewed after it was compiled. */
const MIN_RENEW_MS = 60_000;

export interface CutPlan {
  entries: ManifestEntry[];
  /** Present when entries were left out: the startsAt of the first of them, the plan's new horizon. */
  cutAt?: Date;
}

const isAlert = (e: ManifestEntry) => e.repeatCount !== undefined || e.repeatUntil !== undefined;

/**
 * Cuts `entries` (ordered by startsAt) to what fits beside the rest of the manifest, `restBytes` being the
 * UTF-8 size of the manifest's JSON with no entries.
 */
export function cutToLimits(entries: ManifestEntry[], restBytes: number, limits = LIMITS): CutPlan {
  let count = 0;
  let bytes = restBytes + ENVELOPE_BYTES;
  const size = (e: ManifestEntry) => Buffer.byteLength(JSON.stringify(e)) + 1;
  const alerts = entries.filter(isAlert);
  for (const a of alerts) {
    count++;
    bytes += size(a);
  }
  const rest = entries.filter((e) => !isAlert(e));
  let kept = 0;
  for (const e of rest) {
    const b = size(e);
    if (count + 1 > limits.maxManifestEntries || bytes + b > limits.maxPayloadBytes) break;
    count++;
    bytes += b;
    kept++;
  }
  if (kept === rest.length) return { entries };
  const cutAt = rest[kept].startsAt;
  // Entries starting at the cut instant go with it, so the plan is whole up to `horizonUntil`.
  const keep = new Set(rest.slice(0, kept).filter((e) => e.startsAt < cutAt));
  return {
    entries: entries.filter((e) => isAlert(e) || keep.has(e)).slice(0, limits.maxManifestEntries),
    cutAt: new Date(cutAt),
  };
}

/** When a plan cut at `cutAt` and compiled at `at` is compiled again: half-way, and not within the minute. */
export function renewAt(at: Date, cutAt: Date): Date {
  return new Date(at.getTime() + Math.max(MIN_RENEW_MS, (cutAt.getTime() - at.getTime()) / 2));
}

/** The stations among `compiled` whose plans were cut, and when each is renewed: the earliest of its gateways'. */
export function renewals(compiled: { stationId: string; cutAt?: Date }[], at: Date): Map<string, Date> {
  const renew = new Map<string, Date>();
  for (const c of compiled) {
    if (!c.cutAt) continue;
    const r = renewAt(at, c.cutAt);
    const earlier = renew.get(c.stationId);
    if (!earlier || r < earlier) renew.set(c.stationId, r);
  }
  return renew;
}
