// Broadcast policy per administrative unit, inherited down the tree field by field: a unit's own
// rules override its parent's, absent fields are inherited. Times of day are Hanoi wall-clock time
// ("HH:MM", Asia/Ho_Chi_Minh, UTC+7 all year). Emergencies are exempt from every rule.
import { z } from 'zod';
import { HANOI_OFFSET_MS, hanoiMinute } from './recurrence.ts';

const hhmm = z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'expected HH:MM (00:00–24:00)');
const range = z.object({ start: hhmm, end: hhmm });
/** A range inside one day (start before end). */
const dayRange = range.refine((r) => minutes(r.start) < minutes(r.end), 'start must be before end');

export const Policy = z
  .object({
    /** Only emergencies may air (Hanoi's four inner districts). */
    emergencyOnly: z.boolean(),
    /** ISO weekdays on which broadcasting is allowed: 1 = Monday … 7 = Sunday. */
    weekdays: z.array(z.int().min(1).max(7)).max(7),
    /** Every item must lie entirely inside one of these windows. */
    windows: z.array(dayRange).max(12),
    /** A session is a run of items with gaps under 5 minutes; its length from first start to last end. */
    maxSessionMinutes: z.int().min(1).max(1440),
    maxSessionsPerDay: z.int().min(0).max(48),
    /** Nothing but emergencies airs in these ranges; a range may cross midnight (21:30–05:30). */
    quietHours: z.array(range).max(4),
    /** Output level ceiling (0–100) by time of day, enforced by the gateway. */
    maxVolume: z.array(dayRange.and(z.object({ level: z.int().min(0).max(100) }))).max(12),
    /** The level (0–100) emergencies play at, lifted above every ceiling; the gateway's default is 100. */
    emergencyVolume: z.int().min(0).max(100),
    /** An actual alert beyond one commune waits this long for a second person's confirmation, then lapses. */
    emergencyConfirmMinutes: z.int().min(1).max(120),
    /** CAP alerts for this unit's area must carry a valid XML signature of a configured sender. */
    capSignatureRequired: z.boolean(),
  })
  .partial()
  .strict();
export type Policy = z.infer<typeof Policy>;
export type PolicyRule = keyof Policy;

/** A gap shorter than this joins two items into one session. */
export const SESSION_GAP_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

export function minutes(hm: string): number {
  const [h, m] = hm.split(':').map(Number);
  return h * 60 + m;
}

/** The effective policy of a unit from its ancestors' policies, root first; `source` names the unit that set each rule. */
export function inherit(chain: { code: string; policy: Policy | null }[]): { policy: Policy; source: Partial<Record<PolicyRule, string>> } {
  const policy: Policy = {};
  const source: Partial<Record<PolicyRule, string>> = {};
  for (const unit of chain) {
    for (const [rule, value] of Object.entries(unit.policy ?? {}) as [PolicyRule, never][]) {
      if (value === undefined) continue;
      policy[rule] = value;
      source[rule] = unit.code;
    }
  }
  return { policy, source };
}

/** Hanoi's 2021 broadcast limits (DESIGN §1) as unit policies: the city, urban and rural districts, the four inner districts. */
export const HANOI_2021 = {
  city: {
    quietHours: [{ start: '21:30', end: '05:00' }],
    maxVolume: [
      { start: '05:00', end: '06:30', level: 60 },
      { start: '11:30', end: '13:30', level: 60 },
      { start: '19:30', end: '21:30', level: 70 },
    ],
  },
  /** Quận: 2 sessions a day (morning, afternoon), Monday to Friday, at most 15 minutes a session. */
  urban: {
    weekdays: [1, 2, 3, 4, 5],
    windows: [
      { start: '06:00', end: '08:00' },
      { start: '16:30', end: '18:30' },
    ],
    maxSessionsPerDay: 2,
    maxSessionMinutes: 15,
  },
  /** Huyện and thị xã: at most 45 minutes a session, relays included. */
  rural: {
    windows: [
      { start: '05:00', end: '08:00' },
      { start: '10:30', end: '13:00' },
      { start: '16:00', end: '20:00' },
    ],
    maxSessionsPerDay: 3,
    maxSessionMinutes: 45,
  },
  innerDistricts: ['Quận Hoàn Kiếm', 'Quận Ba Đình', 'Quận Đống Đa', 'Quận Hai Bà Trưng'],
  inner: { emergencyOnly: true },
} satisfies Record<string, Policy | string[]>;

/** The seed policy of a Hanoi unit by level, type and name; null for communes (they inherit). */
export function hanoiPolicyFor(unit: { level: number; type: string; name: string }): Policy | null {
  if (unit.level === 1) return HANOI_2021.city;
  if (unit.level !== 2) return null;
  if (HANOI_2021.innerDistricts.includes(unit.name)) return { ...HANOI_2021.urban, ...HANOI_2021.inner };
  return unit.type === 'Quận' ? HANOI_2021.urban : HANOI_2021.rural;
}

export interface Airing {
  startsAt: Date;
  endsAt: Date;
  priority: string;
  /** Existing airings count towards sessions; only new ones can be refused. */
  isNew: boolean;
}

export interface Violation {
  rule: PolicyRule;
  /** The unit whose policy sets the rule. */
  unit: string;
  station: string;
  startsAt: string;
  message: string;
}

const local = (d: Date) => new Date(d.getTime() + HANOI_OFFSET_MS);
/** Start of the Hanoi day holding `d`, as a UTC instant. */
const dayStart = (d: Date) => new Date(Math.floor(local(d).getTime() / DAY_MS) * DAY_MS - HANOI_OFFSET_MS);

/** Whether [a, b) (minutes from the start of a Hanoi day, b may pass 1440) meets a time-of-day range. */
function meetsRange(a: number, b: number, r: { start: string; end: string }): boolean {
  const s = minutes(r.start);
  const e = minutes(r.end);
  const spans =
    s < e
      ? [
          [s, e],
          [s + 1440, e + 1440],
        ]
      : [
          [s - 1440, e],
          [s, e + 1440],
        ];
  return spans.some(([x, y]) => a < y && x < b);
}

/**
 * Checks one station's airings against its effective policy. New non-emergency airings are checked
 * one by one (day, window, quiet hours) and with the station's other airings of the same Hanoi day
 * (session length, sessions per day). Returns every violation, in time order.
 */
export function checkPolicy(
  station: string,
  effective: { policy: Policy; source: Partial<Record<PolicyRule, string>> },
  airings: Airing[],
): Violation[] {
  const { policy, source } = effective;
  const out: Violation[] = [];
  const add = (rule: PolicyRule, at: Date, message: string) =>
    out.push({ rule, unit: source[rule] ?? '', station, startsAt: at.toISOString(), message });
  const counted = airings.filter((a) => a.priority !== 'emergency').sort((x, y) => x.startsAt.getTime() - y.startsAt.getTime());
  for (const a of counted) {
    if (!a.isNew) continue;
    const day = dayStart(a.startsAt);
    const from = (a.startsAt.getTime() - day.getTime()) / 60_000;
    const to = (a.endsAt.getTime() - day.getTime()) / 60_000;
    const when = `${station} at ${hanoiMinute(a.startsAt)}`;
    if (policy.emergencyOnly) add('emergencyOnly', a.startsAt, `${when}: only emergencies may air here`);
    const weekday = ((local(a.startsAt).getUTCDay() + 6) % 7) + 1;
    if (policy.weekdays && !policy.weekdays.includes(weekday))
      add('weekdays', a.startsAt, `${when}: broadcasting is not allowed on this weekday`);
    if (policy.windows && !policy.windows.some((w) => from >= minutes(w.start) && to <= minutes(w.end)))
      add(
        'windows',
        a.startsAt,
        `${when}: the item does not fit inside an allowed window (${policy.windows.map((w) => `${w.start}–${w.end}`).join(', ')})`,
      );
    const quiet = policy.quietHours?.find((q) => meetsRange(from, to, q));
    if (quiet) add('quietHours', a.startsAt, `${when}: the item reaches into quiet hours ${quiet.start}–${quiet.end}`);
  }
  if (policy.maxSessionMinutes === undefined && policy.maxSessionsPerDay === undefined) return sortViolations(out);

  // Sessions per Hanoi day.
  const byDay = new Map<number, Airing[]>();
  for (const a of counted) {
    const key = dayStart(a.startsAt).getTime();
    byDay.set(key, [...(byDay.get(key) ?? []), a]);
  }
  for (const dayAirings of byDay.values()) {
    const sessions: { start: Date; end: Date; items: Airing[] }[] = [];
    for (const a of dayAirings) {
      const last = sessions.at(-1);
      if (last && a.startsAt.getTime() - last.end.getTime() < SESSION_GAP_MS) {
        last.items.push(a);
        if (a.endsAt > last.end) last.end = a.endsAt;
      } else sessions.push({ start: a.startsAt, end: a.endsAt, items: [a] });
    }
    for (const [i, s] of sessions.entries()) {
      const firstNew = s.items.find((a) => a.isNew);
      if (!firstNew) continue;
      const lengthMin = (s.end.getTime() - s.start.getTime()) / 60_000;
      if (policy.maxSessionMinutes !== undefined && lengthMin > policy.maxSessionMinutes)
        add(
          'maxSessionMinutes',
          firstNew.startsAt,
          `${station} at ${hanoiMinute(s.start)}: the session would last ${lengthMin.toFixed(1)} minutes, over the limit of ${policy.maxSessionMinutes}`,
        );
      if (policy.maxSessionsPerDay !== undefined && i >= policy.maxSessionsPerDay)
        add(
          'maxSessionsPerDay',
          firstNew.startsAt,
          `${station} on ${hanoiMinute(s.start).slice(0, 10)}: session ${i + 1} of the day, over the limit of ${policy.maxSessionsPerDay}`,
        );
    }
  }
  return sortViolations(out);
}

const sortViolations = (v: Violation[]) => v.sort((a, b) => a.startsAt.localeCompare(b.startsAt));
