// [P-3.1] Plan entries: what a device manifest and a group plan ([P-3.10]) list, and the fields they share.

import { isoInstant } from './fields.ts';
import { RelaySpec } from './relay.ts';
import * as z from './zod.ts';
export const sha256Hex = z.string().check(z.regex(/^[0-9a-f]{64}$/), z.describe('lowercase hex sha256'));
export const occurrenceId = z.string().check(z.minLength(1), z.maxLength(64));
export const txn = z
  .string()
  .check(z.minLength(1), z.maxLength(64), z.describe('transaction id chosen by the server, echoed in the reply'));
export const zone = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,32}$/), z.describe('an output of the device; absent means all zones'));

export const Priority = z.enum(['normal', 'priority', 'emergency']);
export type Priority = z.infer<typeof Priority>;

/** [P-3.1] Audio reference: fetched over HTTP by hash ([P-6.1]). */
export const MediaRef = z.object({
  sha256: sha256Hex,
  /** Path relative to the server's base URL, e.g. /blobs/<sha256>. */
  path: z.string().check(z.startsWith('/'), z.maxLength(200)),
  durationMs: z.int().check(z.positive()),
  sizeBytes: z.int().check(z.positive()),
  codec: z.string().check(z.maxLength(32)),
});
export type MediaRef = z.infer<typeof MediaRef>;

/** [P-5.10] Rule applied by the item that starts while another is playing. */
export const ConflictRule = z.enum(['preempt', 'queue', 'skip']);
export type ConflictRule = z.infer<typeof ConflictRule>;

/**
 * [P-5.5] How an emergency repeats: it airs again right after it ends (or `repeatIntervalMs` later) until
 * `repeatCount` plays in all, or while another play can end by `repeatUntil`; with neither, it airs once.
 */
export const EmergencyRepeat = z.object({
  repeatUntil: z.optional(isoInstant),
  repeatCount: z.optional(z.int().check(z.minimum(1), z.maximum(100))),
  repeatIntervalMs: z.optional(z.int().check(z.minimum(0), z.maximum(3_600_000))),
});
export type EmergencyRepeat = z.infer<typeof EmergencyRepeat>;

/**
 * [P-5.5] An emergency received on a group topic airs at each station under its own id,
 * `{occurrenceId}@{station}`: the id its reports carry and its manifest entries use.
 */
export const groupAiringId = (occurrenceId: string, station: string): string => `${occurrenceId}@${station}`;

/** [P-3.1] One item in a device manifest. */
export const ManifestEntry = z.object({
  occurrenceId,
  startsAt: isoInstant,
  priority: Priority,
  media: MediaRef,
  /** The item must not play past this instant: a device refuses to start it if it cannot end by then. */
  validUntil: z.optional(isoInstant),
  /** [P-5.10] When this item meets another already playing: preempt it, queue after it, or skip. Default queue. */
  conflict: z.optional(ConflictRule),
  /** [P-5.10] Absent: hard start at startsAt. Else the latest instant a queued item may still start. */
  latestStartAt: z.optional(isoInstant),
  /** Outputs to play on; absent = all zones of the device. */
  zones: z.optional(z.array(zone).check(z.maxLength(16))),
  /**
   * [P-5.5] An emergency entry airs like `emergency.start` (preempting, found late while `validUntil` allows)
   * and repeats as its command would; additive in v1.
   */
  ...EmergencyRepeat.shape,
  /** [P-5.11] A relay: `media` is then the fallback file. */
  relay: z.optional(RelaySpec),
});
export type ManifestEntry = z.infer<typeof ManifestEntry>;
