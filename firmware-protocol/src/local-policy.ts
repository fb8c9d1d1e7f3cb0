// [P-3.1.3] The station's local rules as a device applies them at an instant. Times of day are Hanoi
// wall-clock time (Asia/Ho_Chi_Minh has been UTC+7 all year since 1975).
import type { LocalPolicy } from './messages.ts';

const OFFSET_MS = 7 * 3600_000;

/** Minutes since Hanoi midnight at the instant. */
export const hanoiMinuteOfDay = (ms: number) => Math.floor(((ms + OFFSET_MS) % 86_400_000) / 60_000);

const toMinutes = (hm: string) => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3, 5));

/** Whether minute `m` lies in [start, end); a range whose end is not after its start crosses midnight. */
export function inTimeRange(m: number, range: { start: string; end: string }): boolean {
  const s = toMinutes(range.start);
  const e = toMinutes(range.end);
  return s < e ? m >= s && m < e : m >= s || m < e;
}

/** The quiet-hours range the instant falls in, if any. */
export const quietRangeAt = (policy: LocalPolicy | undefined, ms: number) =>
  policy?.quietHours.find((q) => inTimeRange(hanoiMinuteOfDay(ms), q));

/** The output ceiling (0–100) at the instant: the lowest of the ranges that apply, else 100. */
export function volumeCeilingAt(policy: LocalPolicy | undefined, ms: number): number {
  const m = hanoiMinuteOfDay(ms);
  return Math.min(100, ...(policy?.maxVolume ?? []).filter((r) => inTimeRange(m, r)).map((r) => r.level));
}
