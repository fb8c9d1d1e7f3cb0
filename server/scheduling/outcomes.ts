// What each new airing of a previewed schedule will do at its station: air as planned, be refused by
// policy, or meet another airing and preempt it, wait for it, be skipped, be cut, delay it or displace it
// ([P-5.10]). Pure: the preview's policy check and overlaps in, one row per station and airing out.
import type { Resolution } from '#protocol';
import type { Violation } from './policy.ts';

export type Outcome = 'airs' | 'refused' | 'skipped' | 'cut' | 'waits' | 'preempts' | 'displaces' | 'delays';

/** Most severe first: a row shows the worst thing that happens to its airing. */
const SEVERITY: Outcome[] = ['refused', 'skipped', 'cut', 'waits', 'preempts', 'displaces', 'delays', 'airs'];

/** From the new airing's side: which of the two is due while the other plays, and what the due one does. */
export function outcomeOf(due: 'new' | 'existing', resolution: Resolution): Outcome {
  if (due === 'new') return resolution === 'preempt' ? 'preempts' : resolution === 'queue' ? 'waits' : 'skipped';
  return resolution === 'preempt' ? 'cut' : resolution === 'queue' ? 'delays' : 'displaces';
}

export interface Meeting {
  station: string;
  startsAt: Date;
  due: 'new' | 'existing';
  resolution: Resolution;
  existing: { startsAt: Date; title: string; priority: string };
}

export interface AiringRow {
  station: string;
  startsAt: Date;
  endsAt: Date;
  title: string;
  outcome: Outcome;
  /** The policy rule and the unit that sets it, for a refusal. */
  rule?: string;
  ruleUnit?: string;
  message?: string;
  /** The airing it meets, for an overlap. */
  other?: { startsAt: Date; title: string; priority: string };
}

export function airingRows(
  stations: string[],
  plan: { startsAt: Date; endsAt: Date; title: string }[],
  violations: Violation[],
  meetings: Meeting[],
): AiringRow[] {
  const key = (station: string, at: Date | string) => `${station} ${typeof at === 'string' ? at : at.toISOString()}`;
  const refusals = new Map<string, Violation>();
  for (const v of violations) if (!refusals.has(key(v.station, v.startsAt))) refusals.set(key(v.station, v.startsAt), v);
  const met = new Map<string, { outcome: Outcome; meeting: Meeting }>();
  for (const m of meetings) {
    const k = key(m.station, m.startsAt);
    const outcome = outcomeOf(m.due, m.resolution);
    const seen = met.get(k);
    if (!seen || SEVERITY.indexOf(outcome) < SEVERITY.indexOf(seen.outcome)) met.set(k, { outcome, meeting: m });
  }
  const rows: AiringRow[] = [];
  for (const station of stations)
    for (const p of plan) {
      const base = { station, startsAt: p.startsAt, endsAt: p.endsAt, title: p.title };
      const refusal = refusals.get(key(station, p.startsAt));
      const meeting = met.get(key(station, p.startsAt));
      if (refusal) rows.push({ ...base, outcome: 'refused', rule: refusal.rule, ruleUnit: refusal.unit, message: refusal.message });
      else if (meeting) rows.push({ ...base, outcome: meeting.outcome, other: meeting.meeting.existing });
      else rows.push({ ...base, outcome: 'airs' });
    }
  return rows;
}
