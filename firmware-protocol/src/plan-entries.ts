// [P-3.1] Plan entries: what a device manifest and a group plan ([P-3.10]) list, and the fields they share.
import { z } from 'zod';
import { isoInstant } from './fields.ts';
import { RelaySpec } from './relay.ts';
export const sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('lowercase hex sha256');
export const occurrenceId = z.string().min(1).max(64);
export const txn = z.string().min(1).max(64).describe('transaction id chosen by the server, echoed in the reply');
export const zone = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,32}$/)
  .describe('an output of the device; absent means all zones');

export const Priority = z.enum(['normal', 'priority', 'emergency']);
export type Priority = z.infer<typeof Priority>;

/** [P-3.1] Audio reference: fetched over HTTP by hash ([P-6.1]). */
export const MediaRef = z.object({
  sha256: sha256Hex,
  /** Path relative to the server's base URL, e.g. /blobs/<sha256>. */
  path: z.string().startsWith('/').max(200),
  durationMs: z.int().positive(),
  sizeBytes: z.int().positive(),
  codec: z.string().max(32),
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
  repeatUntil: isoInstant.optional(),
  repeatCount: z.int().min(1).max(100).optional(),
  repeatIntervalMs: z.int().min(0).max(3_600_000).optional(),
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
  validUntil: isoInstant.optional(),
  /** [P-5.10] When this item meets another already playing: preempt it, queue after it, or skip. Default queue. */
  conflict: ConflictRule.optional(),
  /** [P-5.10] Absent: hard start at startsAt. Else the latest instant a queued item may still start. */
  latestStartAt: isoInstant.optional(),
  /** Outputs to play on; absent = all zones of the device. */
  zones: z.array(zone).max(16).optional(),
  /**
   * [P-5.5] An emergency entry airs like `emergency.start` (preempting, found late while `validUntil` allows)
   * and repeats as its command would; additive in v1.
   */
  ...EmergencyRepeat.shape,
  /** [P-5.11] A relay: `media` is then the fallback file. */
  relay: RelaySpec.optional(),
});
export type ManifestEntry = z.infer<typeof ManifestEntry>;
