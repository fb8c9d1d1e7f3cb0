// Checking a plan before it is written: each station's inherited policy (emergencies are exempt) and the
// overlaps with what is already scheduled there, with the [P-5.10] outcome of each.
import { type ConflictRule, type Priority, resolveConflict } from '#protocol';
import { chunked, type Db } from '../db/client.ts';
import type { Media } from '../db/generated/client.ts';
import { type Airing, checkPolicy, type Violation } from '../scheduling/policy.ts';
import type { Overlap } from './schedule-service.ts';
import type { TargetStation } from './targets.ts';
import type { UnitService, UnitTree } from './unit-service.ts';

export type PlanItem = { media: Media; startsAt: Date; position: number | null };
export type PlanRule = { priority: Priority; conflict?: ConflictRule; startWindowMs?: number };

const DAY_MS = 86_400_000;

/**
 * Checks the new airings against each station's inherited policy (emergencies are exempt) and finds
 * where they meet what is already scheduled there, with the [P-5.10] outcome.
 */
export async function evaluatePlan(
  deps: { db: Db; units: UnitService; now: () => Date },
  stations: TargetStation[],
  plan: PlanItem[],
  input: PlanRule,
  /** A schedule being changed: its own airings to come are what the plan replaces, not what it meets. */
  replacing?: string,
): Promise<{ violations: Violation[]; overlaps: Overlap[] }> {
  if (!plan.length || !stations.length) return { violations: [], overlaps: [] };
  const ends = plan.map((p) => p.startsAt.getTime() + p.media.durationMs);
  const from = new Date(Math.min(...plan.map((p) => p.startsAt.getTime())) - DAY_MS);
  const to = new Date(Math.max(...ends) + DAY_MS);
  const existing = new Map<string, Awaited<ReturnType<typeof existingAirings>>>();
  for (const part of chunked(stations.map((s) => s.id)))
    for (const o of await existingAirings(deps.db, part, from, to))
      if (!(replacing && o.scheduleId === replacing && o.startsAt >= deps.now()))
        existing.set(o.stationId, [...(existing.get(o.stationId) ?? []), o]);
  const tree = input.priority === 'emergency' ? undefined : await deps.units.tree();
  const policies = new Map<string, ReturnType<UnitTree['effectivePolicy']>>();
  const violations: Violation[] = [];
  const overlaps: Overlap[] = [];
  for (const st of stations) {
    const theirs = existing.get(st.id) ?? [];
    if (tree) {
      if (!policies.has(st.unitId)) policies.set(st.unitId, tree.effectivePolicy(st.unitId));
      const airings: Airing[] = [
        ...plan.map((p, i) => ({ startsAt: p.startsAt, endsAt: new Date(ends[i]), priority: input.priority, isNew: true })),
        ...theirs.map((o) => ({
          startsAt: o.startsAt,
          endsAt: new Date(o.startsAt.getTime() + o.media.durationMs),
          priority: o.priority,
          isNew: false,
        })),
      ];
      violations.push(...checkPolicy(st.code, policies.get(st.unitId) as ReturnType<UnitTree['effectivePolicy']>, airings));
    }
    for (const [i, p] of plan.entries()) {
      for (const o of theirs) {
        const oEnd = o.startsAt.getTime() + o.media.durationMs;
        if (!(o.startsAt.getTime() < ends[i] && p.startsAt.getTime() < oEnd)) continue;
        const newDue = p.startsAt >= o.startsAt;
        const resolution = newDue
          ? resolveConflict(
              { priority: input.priority, conflict: input.conflict, slackMs: input.startWindowMs },
              { priority: o.priority as Priority },
              oEnd - p.startsAt.getTime(),
            )
          : resolveConflict(
              { priority: o.priority as Priority, conflict: o.schedule.conflict as ConflictRule, slackMs: o.schedule.startWindowMs },
              { priority: input.priority },
              ends[i] - o.startsAt.getTime(),
            );
        overlaps.push({
          station: st.code,
          startsAt: p.startsAt,
          endsAt: new Date(ends[i]),
          mediaId: p.media.id,
          existing: {
            occurrenceId: o.id,
            scheduleId: o.scheduleId,
            startsAt: o.startsAt,
            endsAt: new Date(oEnd),
            priority: o.priority,
            title: o.media.title,
          },
          due: newDue ? 'new' : 'existing',
          resolution,
        });
      }
    }
  }
  return { violations, overlaps };
}

function existingAirings(db: Db, stationIds: string[], from: Date, to: Date) {
  return db.occurrence.findMany({
    where: {
      stationId: { in: stationIds },
      startsAt: { gte: from, lt: to },
      status: { in: ['scheduled', 'playing', 'aired', 'partial'] },
    },
    select: {
      id: true,
      stationId: true,
      scheduleId: true,
      startsAt: true,
      priority: true,
      media: { select: { durationMs: true, title: true } },
      schedule: { select: { conflict: true, startWindowMs: true } },
    },
    orderBy: { startsAt: 'asc' },
  });
}
