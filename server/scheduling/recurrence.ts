// Recurring schedules (RFC 5545 RRULE) in Asia/Ho_Chi_Minh. Vietnam has kept UTC+7 all year since
// 1975, so the rule is evaluated in "floating" local time (UTC fields holding wall-clock time) and each
// instance shifted by exactly seven hours to its UTC instant. Month ends and 29 February follow RFC 5545:
// a rule naming a day a month lacks skips that month.
import rrulePkg from 'rrule';

// The package is CommonJS; its ES named exports are not visible to Node's ESM loader.
const { RRule } = rrulePkg as unknown as typeof import('rrule');

export const HANOI_OFFSET_MS = 7 * 3600_000;
export const DAY_MS = 86_400_000;

/** The Hanoi calendar day of an instant as a day number (days since 1970-01-01): reports group and range by it. */
export const hanoiDayNumber = (at: Date): number => Math.floor((at.getTime() + HANOI_OFFSET_MS) / DAY_MS);

/** YYYY-MM-DD of a Hanoi day number. */
export const dayOfNumber = (n: number): string => new Date(n * DAY_MS).toISOString().slice(0, 10);

/** The calendar day in Asia/Ho_Chi_Minh (UTC+7, no DST since 1975) of an instant, as YYYY-MM-DD. */
export const hanoiDay = (at: Date): string => dayOfNumber(hanoiDayNumber(at));

/** An instant as Hanoi wall-clock time to the minute, for people: "2026-12-02 06:00". */
export const hanoiMinute = (at: Date): string => new Date(at.getTime() + HANOI_OFFSET_MS).toISOString().slice(0, 16).replace('T', ' ');

/** Whether an instant is a Hanoi midnight (a day boundary). */
export const isHanoiMidnight = (at: Date): boolean => (at.getTime() + HANOI_OFFSET_MS) % DAY_MS === 0;
const ALLOWED_FREQ = new Set([RRule.DAILY, RRule.WEEKLY, RRule.MONTHLY, RRule.YEARLY]);

export class RecurrenceError extends Error {
  constructor(
    readonly code: 'INVALID_RRULE' | 'UNSUPPORTED_FREQUENCY',
    message: string,
  ) {
    super(message);
  }
}

const toFloating = (d: Date) => new Date(d.getTime() + HANOI_OFFSET_MS);
const fromFloating = (d: Date) => new Date(d.getTime() - HANOI_OFFSET_MS);

/** Parses an RRULE (without DTSTART) anchored at `dtstart`; refuses sub-daily rules, which would flood stations. */
export function parseRule(rrule: string, dtstart: Date) {
  const text = rrule.replace(/^RRULE:/i, '').trim();
  if (/DTSTART|\n/i.test(text))
    throw new RecurrenceError('INVALID_RRULE', 'give the rule without DTSTART; the schedule start is the first instance');
  let options: ReturnType<typeof RRule.parseString>;
  try {
    options = RRule.parseString(text);
  } catch (err) {
    throw new RecurrenceError('INVALID_RRULE', `cannot parse the rule: ${(err as Error).message}`);
  }
  if (options.freq === undefined) throw new RecurrenceError('INVALID_RRULE', 'FREQ is required');
  if (!ALLOWED_FREQ.has(options.freq))
    throw new RecurrenceError('UNSUPPORTED_FREQUENCY', 'only DAILY, WEEKLY, MONTHLY and YEARLY rules are allowed');
  // UNTIL with Z is a UTC instant; in floating time it moves by the offset too.
  if (options.until && /UNTIL=\d{8}T\d{6}Z/i.test(text)) options.until = toFloating(options.until);
  try {
    return new RRule({ ...options, dtstart: toFloating(dtstart) });
  } catch (err) {
    throw new RecurrenceError('INVALID_RRULE', (err as Error).message);
  }
}

/** Instances (UTC instants) in [from, to), exception dates removed. */
export function instances(rule: ReturnType<typeof parseRule>, from: Date, to: Date, exdates: Date[] = []): Date[] {
  const excluded = new Set(exdates.map((d) => d.getTime()));
  return rule
    .between(toFloating(from), toFloating(to), true)
    .map(fromFloating)
    .filter((d) => d.getTime() < to.getTime() && !excluded.has(d.getTime()));
}

/** The first instance at or after `from`, or null when the rule has ended (e.g. UNTIL in the past). */
export function nextInstance(rule: ReturnType<typeof parseRule>, from: Date, exdates: Date[] = []): Date | null {
  const excluded = new Set(exdates.map((d) => d.getTime()));
  let cursor = toFloating(from);
  for (let i = 0; i < 1000; i++) {
    const next = rule.after(cursor, i === 0);
    if (!next) return null;
    const instant = fromFloating(next);
    if (!excluded.has(instant.getTime())) return instant;
    cursor = next;
  }
  return null;
}
