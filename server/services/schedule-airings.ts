// A schedule's airings: one per station and item, written in bulk (db/occurrence-insert.ts).
import { randomBytes } from 'node:crypto';
import { closesAt } from '../compliance/as-run.ts';
import type { Schedule } from '../db/generated/client.ts';
import type { OccurrenceRow } from '../db/occurrence-insert.ts';
import { hanoiDayNumber } from '../scheduling/recurrence.ts';
import type { GroupChange } from './group-plans.ts';
import type { PlanItem } from './schedule-check.ts';
import type { TargetStation } from './targets.ts';

/**
 * One airing per station and item. The items a unit target reaches at every one of its stations alike are
 * entries of that unit's group plan ([P-3.10]): one key per item and unit, each airing `{key}@{station}`.
 */
export function airingsOf(s: Schedule, stations: TargetStation[], plan: PlanItem[]): OccurrenceRow[] {
  const keys = new Map<string, string>();
  const keyOf = (unitId: string, i: number) => {
    const k = `${unitId} ${i}`;
    if (!keys.has(k)) keys.set(k, groupEntryKey());
    return keys.get(k) as string;
  };
  return stations.flatMap((st) =>
    plan.map((p, i) => {
      const groupKey = st.group && !st.zones.length ? keyOf(st.group, i) : undefined;
      return {
        ...(groupKey ? { id: `${groupKey}@${st.code}`, groupKey, groupUnitId: st.group } : {}),
        scheduleId: s.id,
        stationId: st.id,
        unitId: st.unitId,
        zones: JSON.stringify(st.zones),
        mediaId: p.media.id,
        startsAt: p.startsAt,
        day: hanoiDayNumber(p.startsAt),
        closesAt: closesAt({ startsAt: p.startsAt, expectedMs: p.media.durationMs, startWindowMs: s.startWindowMs }),
        position: p.position,
        priority: s.priority,
      };
    }),
  );
}

/**
 * [P-3.10] New airings as a change to group plans: the stations whose new airings are all group entries
 * (the dispatch need not compile those whose manifests it cannot change), and the entries' keys.
 */
export function groupChange(airings: OccurrenceRow[]): GroupChange {
  const keys = new Set<string>();
  const stations = new Set<string>();
  const own = new Set<string>();
  for (const a of airings) {
    stations.add(a.stationId);
    if (a.groupKey) keys.add(a.groupKey);
    else own.add(a.stationId);
  }
  return { stationIds: [...stations].filter((id) => !own.has(id)), keys };
}

/** [P-3.10] A group plan entry's id: 15 characters, so that `{id}@{station}` fits the protocol's 64. */
function groupEntryKey(): string {
  return `g${randomBytes(7).toString('hex')}`;
}
