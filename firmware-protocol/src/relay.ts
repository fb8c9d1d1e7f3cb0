// [P-5.11] Relays (tiếp sóng): what a manifest entry says of an upstream stream, and what the end report says of
// each stretch on one of its sources.

import { isoInstant } from './fields.ts';
import * as z from './zod.ts';

/**
 * [P-5.11] A relay of an upstream stream (tiếp sóng): the device pulls the URLs in order and plays until the slot
 * ends; dead air switches to the next, the entry's `media` (a file) is the fallback when every URL fails. Additive in v1.
 */
export const RelaySpec = z.object({
  urls: z.array(z.string().check(z.maxLength(512), z.regex(/^https?:\/\/[^\s]+$/))).check(z.minLength(1), z.maxLength(3)),
  /** The relay ends at startsAt + slotMs exactly, whatever the stream does. */
  slotMs: z.int().check(z.positive(), z.maximum(86_400_000)),
  /** Silence (below −50 dBFS) or no audio for this long switches to the next source. */
  deadAirMs: z.int().check(z.minimum(2000), z.maximum(120_000)),
  /** While not on the first URL, the first is tried again this often. */
  recheckMs: z.optional(z.int().check(z.minimum(5000), z.maximum(3_600_000))),
});
export type RelaySpec = z.infer<typeof RelaySpec>;

/** [P-5.11] What a relay's end report says about its sources: each stretch on one, and why it ended. */
export const RelaySegment = z.object({
  /** Index into `urls`, or -1 for the fallback file. */
  source: z.int().check(z.minimum(-1), z.maximum(2)),
  startedAt: isoInstant,
  endedAt: isoInstant,
  playedMs: z.int().check(z.nonnegative()),
  /** Why the device left it: DEAD_AIR, NO_DATA, STREAM_ERROR, STREAM_ENDED, RECHECK (back to the first URL), SLOT_END, STOPPED. */
  reason: z.string().check(z.maxLength(32)),
  rmsDbfs: z.optional(z.number().check(z.minimum(-200), z.maximum(10))),
});
export type RelaySegment = z.infer<typeof RelaySegment>;
