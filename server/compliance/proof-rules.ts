// [P-3.2] What makes a proof acceptable: the clock tolerance, what counts as untrue evidence, and which
// refusals are final (receipted, so the gateway lets the proof go).
import type { PlaybackReport } from '#protocol';

/** [P-3.2] How far a proof's instants may lie ahead of the server's clock before it is refused as untrue. */
export const CLOCK_TOLERANCE_MS = 120_000;
/** How much more audio than elapsed wall time a proof may claim (samples counted against a device clock). */
export const PLAYED_TOLERANCE_MS = 2_000;
/**
 * Refusals decided after the device's signature verified: the proof is authentic and would be refused
 * again, so the receipt names it and the device lets it go. A refusal before that (unknown key, bad
 * signature) is not receipted: anyone could have sent it under that id.
 */
export const FINAL_REFUSALS = new Set([
  'EXPIRED',
  'INVALID_BODY',
  'STATION_MISMATCH',
  'UNKNOWN_OCCURRENCE',
  'FUTURE_AIRING',
  'FUTURE_PROOF',
  'ENDED_BEFORE_STARTED',
  'PLAYED_EXCEEDS_ELAPSED',
]);
/**
 * [P-5.4.1] Refusals of a message on a known device's own topic whose signature fails with the key the server
 * holds for it: named in the receipt's `unverified` (the device keeps it); repeated, they raise an alert.
 */
export const UNVERIFIED = new Set(['BAD_SIGNATURE', 'UNKNOWN_KEY']);
/** Refusals that say the gateway's evidence cannot be true; repeated, they raise an alert. */
export const UNTRUE = new Set(['FUTURE_AIRING', 'FUTURE_PROOF', 'ENDED_BEFORE_STARTED', 'PLAYED_EXCEEDS_ELAPSED']);

/**
 * [P-3.2] A proof that cannot be true at `now`: an airing that begins later than now (beyond the clock
 * tolerance), instants in the future, an end before the start, more audio played than time elapsed.
 */
export function untrueProof(r: PlaybackReport, airingStartsAt: Date, now: number): { code: string; detail: string } | undefined {
  const limit = now + CLOCK_TOLERANCE_MS;
  if (airingStartsAt.getTime() > limit)
    return { code: 'FUTURE_AIRING', detail: `the airing begins at ${airingStartsAt.toISOString()}, after now + ${CLOCK_TOLERANCE_MS} ms` };
  const started = Date.parse(r.startedAt);
  const ended = r.endedAt === undefined ? undefined : Date.parse(r.endedAt);
  if (started > limit || (ended !== undefined && ended > limit))
    return { code: 'FUTURE_PROOF', detail: `startedAt ${r.startedAt} / endedAt ${r.endedAt} lie after now + ${CLOCK_TOLERANCE_MS} ms` };
  if (ended !== undefined && ended < started)
    return { code: 'ENDED_BEFORE_STARTED', detail: `endedAt ${r.endedAt} < startedAt ${r.startedAt}` };
  if (ended !== undefined && (r.playedMs ?? 0) > ended - started + PLAYED_TOLERANCE_MS)
    return { code: 'PLAYED_EXCEEDS_ELAPSED', detail: `playedMs ${r.playedMs} > ${ended - started} ms elapsed` };
  return undefined;
}
