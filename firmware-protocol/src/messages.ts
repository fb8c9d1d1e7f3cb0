// [P-3] Message bodies. Each is carried inside a signed envelope ([P-4]) except `state`.
import { z } from 'zod';
import { LIMITS } from './limits.ts';

const isoInstant = z.iso.datetime({ offset: false }).describe('UTC instant, RFC 3339 with Z');
const sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('lowercase hex sha256');
const stationCode = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

export const Priority = z.enum(['normal', 'priority', 'emergency']);
export type Priority = z.infer<typeof Priority>;

/** [P-3.1] One item in a station manifest. */
export const ManifestEntry = z.strictObject({
  occurrenceId: z.string().min(1).max(64),
  startsAt: isoInstant,
  priority: Priority,
  media: z.strictObject({
    sha256: sha256Hex,
    /** Path relative to the server's base URL, e.g. /blobs/<sha256>. */
    path: z.string().startsWith('/').max(200),
    durationMs: z.int().positive(),
    sizeBytes: z.int().positive(),
    codec: z.string().max(32),
  }),
});
export type ManifestEntry = z.infer<typeof ManifestEntry>;

/** [P-3.1] The complete plan of one station for the horizon; each version replaces the previous. */
export const Manifest = z.strictObject({
  station: stationCode,
  version: z.int().nonnegative(),
  generatedAt: isoInstant,
  horizonUntil: isoInstant,
  entries: z.array(ManifestEntry).max(LIMITS.maxManifestEntries),
});
export type Manifest = z.infer<typeof Manifest>;

export const ReportKind = z.enum(['playback.started', 'playback.completed', 'playback.failed']);

/** [P-3.2] Proof of playback, sent when playback starts and when it ends. */
export const PlaybackReport = z.strictObject({
  kind: ReportKind,
  station: stationCode,
  occurrenceId: z.string().min(1).max(64),
  sha256: sha256Hex,
  scheduledAt: isoInstant,
  startedAt: isoInstant,
  endedAt: isoInstant.optional(),
  expectedMs: z.int().nonnegative(),
  playedMs: z.int().nonnegative().optional(),
  level: z
    .strictObject({
      rmsDbfs: z.number().min(-200).max(10),
      peakDbfs: z.number().min(-200).max(10),
    })
    .optional(),
  reason: z.string().max(64).optional(),
});
export type PlaybackReport = z.infer<typeof PlaybackReport>;

/** [P-3.3] Availability, retained; the offline form is the station's MQTT last-will. Not signed. */
export const StationState = z.strictObject({
  station: stationCode,
  online: z.boolean(),
  at: isoInstant.optional(),
  agentVersion: z.string().max(32).optional(),
});
export type StationState = z.infer<typeof StationState>;

export const bodySchemas = {
  manifest: Manifest,
  report: PlaybackReport,
} as const;
export type BodyType = keyof typeof bodySchemas;
export type BodyOf<T extends BodyType> = z.infer<(typeof bodySchemas)[T]>;
