// The as-run status of one airing, derived from what was scheduled and the proofs that came back,
// with a discrepancy code in the manner of broadcast traffic systems' as-run reconciliation. Pure: the
// instant "now" is an argument, so an airing without proof turns "missed" exactly when its window closes.

/** Not yet due or under way; aired in full on time; in full but late; partly; never though it should have; deliberately not. */
export const AS_RUN_STATUSES = ['pending', 'playing', 'aired', 'late', 'partial', 'missed', 'skipped'] as const;
export type AsRunStatus = (typeof AS_RUN_STATUSES)[number];

/** Why an airing is not simply "aired" (issue #7's codes; `silent` when the measured output was silence). */
export const DISCREPANCIES = ['preempted', 'policy', 'stale', 'offline', 'device-fault', 'file-missing', 'cancelled', 'silent'] as const;
export type Discrepancy = (typeof DISCREPANCIES)[number];

/** The device's [P-3.2] reason codes, as discrepancies. Unknown codes from newer devices count as device faults. */
const DISCREPANCY: Record<string, Discrepancy> = {
  PREEMPTED: 'preempted',
  CONFLICT: 'preempted',
  QUIET_HOURS: 'policy',
  EXPIRED_ITEM: 'stale',
  MISSED_WINDOW: 'offline',
  FILE_MISSING: 'file-missing',
  PLAYER_ERROR: 'device-fault',
  UNKNOWN_ZONE: 'device-fault',
  INTERRUPTED: 'device-fault',
  CANCELLED: 'cancelled',
  STOPPED: 'cancelled',
};

/** A refusal for one of these is the rules working, not a station failing: "skipped", not "missed". */
const DELIBERATE = new Set<Discrepancy>(['preempted', 'policy', 'stale', 'cancelled']);

export const AS_RUN_RULES = {
  /** A start later than this after the scheduled instant (and outside the item's start window) is "late". */
  lateToleranceMs: 2000,
  /** A completed airing that played at least this share of the file is in full ([P-3.2]). */
  fullPlayRatio: 0.98,
  /** At or below this RMS over the whole airing the output is taken for silence. */
  silentBelowDbfs: -60,
  /** After the latest possible end, how long a proof may take to arrive before the airing counts as missed. */
  proofGraceMs: 10 * 60_000,
};

export interface AiringFacts {
  startsAt: Date;
  /** Duration of the file. */
  expectedMs: number;
  /** How long after startsAt the item may still start ([P-5.10] start window). */
  startWindowMs: number;
  startedAt?: Date | null;
  /** The end proof, when one arrived. */
  end?: { kind: 'completed' | 'failed'; playedMs: number | null; reason?: string | null; rmsDbfs?: number | null };
}

export interface AsRun {
  status: AsRunStatus;
  reason?: Discrepancy;
  /** Start after the scheduled instant, when the airing started. */
  lateMs?: number;
  /** The device's own reason code, when it gave one. */
  deviceReason?: string;
}

/** When an airing without an end proof turns missed: its latest possible end plus the proof grace. */
export function closesAt(a: Pick<AiringFacts, 'startsAt' | 'expectedMs' | 'startWindowMs'>, rules = AS_RUN_RULES): Date {
  return new Date(a.startsAt.getTime() + a.startWindowMs + a.expectedMs + rules.proofGraceMs);
}

/** Whether a playback played (nearly) all it should: below the full-play ratio it is partial. */
export function playedInFull(playedMs: number | null | undefined, expectedMs: number, rules = AS_RUN_RULES): boolean {
  return (playedMs ?? 0) >= expectedMs * rules.fullPlayRatio;
}

export function asRun(a: AiringFacts, now: Date, rules = AS_RUN_RULES): AsRun {
  const lateMs = a.startedAt ? Math.max(0, a.startedAt.getTime() - a.startsAt.getTime()) : undefined;
  const withLate = lateMs !== undefined ? { lateMs } : {};
  const end = a.end;
  if (!end) {
    if (now < closesAt(a, rules)) return { status: a.startedAt ? 'playing' : 'pending', ...withLate };
    // The window closed without an end proof: a station that never reports is never compliant.
    return { status: a.startedAt ? 'partial' : 'missed', reason: 'offline', ...withLate };
  }
  const deviceReason = end.reason ?? undefined;
  const reason = deviceReason ? (DISCREPANCY[deviceReason] ?? 'device-fault') : undefined;
  const given = deviceReason ? { deviceReason } : {};
  if (end.kind === 'failed') {
    const r = reason ?? 'device-fault';
    return { status: DELIBERATE.has(r) ? 'skipped' : 'missed', reason: r, ...withLate, ...given };
  }
  if (end.rmsDbfs !== null && end.rmsDbfs !== undefined && end.rmsDbfs <= rules.silentBelowDbfs)
    return { status: 'missed', reason: 'silent', ...withLate, ...given };
  if (!playedInFull(end.playedMs, a.expectedMs, rules))
    return { status: 'partial', reason: reason ?? 'device-fault', ...withLate, ...given };
  const late = lateMs !== undefined && lateMs > Math.max(rules.lateToleranceMs, a.startWindowMs);
  return { status: late ? 'late' : 'aired', ...withLate, ...given };
}
