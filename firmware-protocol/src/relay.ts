// [P-5.11] Relays (tiếp sóng): what a manifest entry says of an upstream stream, and what the end report says of
// each stretch on one of its sources.
import { z } from 'zod';
import { isoInstant } from './fields.ts';

/**
 * [P-5.11] A relay of an upstream stream (tiếp sóng): the device pulls the URLs in order and plays until the slot
 * ends; dead air switches to the next, the entry's `media` (a file) is the fallback when every URL fails. Additive in v1.
 */
export const RelaySpec = z.object({
  urls: z
    .array(
      z
        .string()
        .max(512)
        .regex(/^https?:\/\/[^\s]+$/),
    )
    .min(1)
    .max(3),
  /** The relay ends at startsAt + slotMs exactly, whatever the stream does. */
  slotMs: z.int().positive().max(86_400_000),
  /** Silence (below −50 dBFS) or no audio for this long switches to the next source. */
  deadAirMs: z.int().min(2000).max(120_000),
  /** While not on the first URL, the first is tried again this often. */
  recheckMs: z.int().min(5000).max(3_600_000).optional(),
});
export type RelaySpec = z.infer<typeof RelaySpec>;

/** [P-5.11] What a relay's end report says about its sources: each stretch on one, and why it ended. */
export const RelaySegment = z.object({
  /** Index into `urls`, or -1 for the fallback file. */
  source: z.int().min(-1).max(2),
  startedAt: isoInstant,
  endedAt: isoInstant,
  playedMs: z.int().nonnegative(),
  /** Why the device left it: DEAD_AIR, NO_DATA, STREAM_ERROR, STREAM_ENDED, RECHECK (back to the first URL), SLOT_END, STOPPED. */
  reason: z.string().max(32),
  rmsDbfs: z.number().min(-200).max(10).optional(),
});
export type RelaySegment = z.infer<typeof RelaySegment>;
