// Compliance tallies: per-cell counts of airings by as-run status, grouped per unit, station or item,
// with the due, aired, in-full and on-time rates, the daily-limit overruns and the uptime share; pure
// functions over what the as-run service reads from the database.

import type { UnitTree } from '../services/unit-service.ts';
import { AS_RUN_STATUSES, type AsRunStatus } from './as-run.ts';

export type GroupBy = 'unit' | 'station' | 'media';

export type Cell = {
  /** The station's unit at airtime. */
  unitId: string | null;
  stationId: string;
  mediaId: string | null;
  status: AsRunStatus;
  /** Emergencies are exempt from the daily limit, and counted apart. */
  emergency: boolean;
  n: number;
  playedMs: number;
  onTime: number;
};

export const zeroes = () => Object.fromEntries(AS_RUN_STATUSES.map((st) => [st, 0])) as Record<AsRunStatus, number>;

/** Airings that were due: everything but those skipped by rule and those not over yet. */
export const isDue = (status: AsRunStatus) => status !== 'skipped' && status !== 'pending' && status !== 'playing';

export interface Group {
  key: string;
  name: string;
  counts: Record<AsRunStatus, number>;
  /** By class: emergencies apart from regular and priority airings. */
  byClass: Record<'emergency' | 'regular', Record<AsRunStatus, number>>;
  playedMs: number;
  /** Aired in full within ±2 s of the scheduled start. */
  onTime: number;
  stations: Set<string>;
  /** Per station: its due airings and those aired on time, for coverage per station. */
  perStation: Map<string, { due: number; onTime: number }>;
  limits: Set<number | null>;
  overLimitDays: number;
  maxDayMinutes: number;
}

export const newGroup = (key: string, name: string): Group => ({
  key,
  name,
  counts: zeroes(),
  byClass: { emergency: zeroes(), regular: zeroes() },
  playedMs: 0,
  onTime: 0,
  stations: new Set(),
  perStation: new Map(),
  limits: new Set(),
  overLimitDays: 0,
  maxDayMinutes: 0,
});

export function add(g: Group, c: Cell): void {
  const n = Number(c.n);
  g.counts[c.status] += n;
  g.byClass[c.emergency ? 'emergency' : 'regular'][c.status] += n;
  g.playedMs += Number(c.playedMs);
  g.onTime += Number(c.onTime);
  g.stations.add(c.stationId);
  const st = g.perStation.get(c.stationId) ?? { due: 0, onTime: 0 };
  if (isDue(c.status)) st.due += n;
  st.onTime += Number(c.onTime);
  g.perStation.set(c.stationId, st);
}

/** Minutes a station of `unitId` may air on an ISO weekday under its effective policy; null when unlimited. */
export function dailyLimit(tree: UnitTree, unitId: string, weekday: number): number | null {
  const { policy } = tree.effectivePolicy(unitId);
  if (policy.emergencyOnly || (policy.weekdays && !policy.weekdays.includes(weekday))) return 0;
  if (policy.maxSessionMinutes === undefined || policy.maxSessionsPerDay === undefined) return null;
  return policy.maxSessionMinutes * policy.maxSessionsPerDay;
}

/** When a station entered service: the later of its installation and its first enrollment (those known); null if neither. */
export function inServiceSince(installedAt: Date | null, enrolledAt: (Date | null)[]): Date | null {
  const enrolled = enrolledAt.filter((d): d is Date => d !== null).sort((a, b) => a.getTime() - b.getTime())[0];
  const known = [installedAt, enrolled].filter((d): d is Date => d instanceof Date);
  return known.length ? new Date(Math.max(...known.map((d) => d.getTime()))) : null;
}

/** Online share of [from, end) from a station's events in order (the first may precede `from`). */
export function onlineShare(events: { online: boolean; at: number }[], from: number, end: number): number {
  let online = false;
  let since = from;
  let up = 0;
  for (const e of events) {
    const at = Math.max(e.at, from);
    if (online) up += at - since;
    online = e.online;
    since = at;
  }
  if (online) up += end - since;
  return Math.round((up / (end - from)) * 10_000) / 10_000;
}

export interface Tally extends Record<AsRunStatus, number> {
  scheduled: number;
  stations: number;
  /** Aired in full (on time or late) over the airings that were due and not skipped by rule; null when none. */
  complianceRate: number | null;
  /** Aired in full within the 2 s tolerance over the same. */
  onTimeRate: number | null;
  /** Due airings that aired in full within ±2 s of their scheduled start, over the due airings; null when none was due. */
  coverageRate: number | null;
  /** The mean, over the group's stations with a due airing, of each station's own coverage. */
  stationCoverageRate: number | null;
  /** Stations with a due airing, and those of them whose every due airing aired in full within ±2 s. */
  stationsDue: number;
  stationsFullyCovered: number;
  /** The same counts and rates for emergencies and for the rest (regular and priority airings). */
  emergency: ClassTally;
  regular: ClassTally;
  /** Audio that went out, in minutes (aired, late and partial airings). */
  airedMinutes: number;
  /** The policy's daily limit (sessions × session minutes) when every station of the group has the same; null otherwise or unlimited. */
  limitMinutesPerDay: number | null;
  /** Station-days whose aired minutes (emergencies exempt) exceeded the station's daily limit. */
  overLimitDays: number;
  /** The most minutes one station aired in one day (emergencies exempt). */
  maxDayMinutes: number;
  /** Mean share of the range its stations were online (up to now); null when the range has not begun. */
  uptimeRate: number | null;
}

export interface ClassTally {
  scheduled: number;
  due: number;
  aired: number;
  late: number;
  partial: number;
  missed: number;
  complianceRate: number | null;
  onTimeRate: number | null;
}

/** One period of a report's range: its counts and rates, as the whole report gives them. */
export interface SeriesPoint extends ClassTally {
  /** The Hanoi day (YYYY-MM-DD) or month (YYYY-MM). */
  period: string;
  bucket: 'day' | 'month';
  skipped: number;
  coverageRate: number | null;
}

export interface ComplianceReport {
  from: Date;
  to: Date;
  unit: string | null;
  /** The unit's name and type ("Huyện Sóc Sơn", "Huyện"), for people. */
  unitName: string | null;
  unitType: string | null;
  groupBy: GroupBy;
  total: Tally;
  groups: ({ key: string; name: string } & Tally)[];
  /** The range's rates over time (by day up to 62 days, by month beyond). */
  series: SeriesPoint[];
}

export const round = (x: number, places = 4) => Math.round(x * 10 ** places) / 10 ** places;

export const dueOf = (c: Record<AsRunStatus, number>) => AS_RUN_STATUSES.filter(isDue).reduce((a, st) => a + c[st], 0);

export function classTally(c: Record<AsRunStatus, number>): ClassTally {
  const due = dueOf(c);
  const rate = (n: number) => (due > 0 ? round(n / due) : null);
  return {
    scheduled: Object.values(c).reduce((a, b) => a + b, 0),
    due,
    aired: c.aired,
    late: c.late,
    partial: c.partial,
    missed: c.missed,
    complianceRate: rate(c.aired + c.late),
    onTimeRate: rate(c.aired),
  };
}

export function tally(g: Group, uptime: Map<string, number>, byMedia: boolean): Tally {
  const c = g.counts;
  const scheduled = Object.values(c).reduce((a, b) => a + b, 0);
  const due = dueOf(c);
  const rate = (n: number) => (due > 0 ? round(n / due) : null);
  const withDue = [...g.perStation.values()].filter((st) => st.due > 0);
  const ups = [...g.stations].flatMap((id) => (uptime.has(id) ? [uptime.get(id) as number] : []));
  const limits = [...g.limits];
  return {
    scheduled,
    ...c,
    stations: g.stations.size,
    complianceRate: rate(c.aired + c.late),
    onTimeRate: rate(c.aired),
    coverageRate: rate(g.onTime),
    stationCoverageRate: withDue.length ? round(withDue.reduce((a, st) => a + st.onTime / st.due, 0) / withDue.length) : null,
    stationsDue: withDue.length,
    stationsFullyCovered: withDue.filter((st) => st.onTime >= st.due).length,
    emergency: classTally(g.byClass.emergency),
    regular: classTally(g.byClass.regular),
    airedMinutes: round(g.playedMs / 60_000, 2),
    limitMinutesPerDay: !byMedia && limits.length === 1 ? (limits[0] ?? null) : null,
    overLimitDays: g.overLimitDays,
    maxDayMinutes: round(g.maxDayMinutes, 2),
    uptimeRate: ups.length ? round(ups.reduce((a, b) => a + b, 0) / ups.length) : null,
  };
}
