// [P-3.10] What a device that holds group plans airs: its manifest's own entries, and the entries of the
// group plans the manifest names (but its `except`), each under `{occurrenceId}@{station}`.
import type { GroupPlan, GroupPlanHeld, GroupPlanRef } from './group-plans.ts';
import type { Manifest, ManifestEntry } from './messages.ts';
import { groupAiringId } from './plan-entries.ts';
import { groupPlanHash } from './plan-hash.ts';

/** The plans held, by unit code. */
export type HeldPlans = Record<string, GroupPlan>;

/** The held plan of a unit a manifest names, unless it is the named version and its hash differs. */
function usable(ref: GroupPlanRef, held: HeldPlans): GroupPlan | undefined {
  const plan = held[ref.unit];
  if (!plan || (plan.version === ref.version && groupPlanHash(plan) !== ref.sha256)) return undefined;
  return plan;
}

/**
 * The manifest with the entries of its named group plans merged in. A named plan not held yet adds nothing
 * until it comes; an older one than named is used meanwhile (it is the best the device knows).
 */
export function effectivePlan(manifest: Manifest, held: HeldPlans): Manifest {
  if (!manifest.groupPlans?.length) return manifest;
  const entries: ManifestEntry[] = [...manifest.entries];
  const seen = new Set(entries.map((e) => e.occurrenceId));
  for (const ref of manifest.groupPlans) {
    const plan = usable(ref, held);
    if (!plan) continue;
    const except = new Set(ref.except);
    for (const e of plan.entries) {
      const id = groupAiringId(e.occurrenceId, manifest.station);
      if (except.has(e.occurrenceId) || seen.has(id)) continue;
      seen.add(id);
      entries.push({ ...e, occurrenceId: id });
    }
  }
  return { ...manifest, entries };
}

/** The named group plans held at or above the version the manifest names: an ack's `groups`. */
export function groupsHeld(manifest: Manifest | undefined, held: HeldPlans): GroupPlanHeld[] {
  return (manifest?.groupPlans ?? []).flatMap((ref) => {
    const plan = usable(ref, held);
    return plan && plan.version >= ref.version ? [{ unit: ref.unit, version: plan.version }] : [];
  });
}
