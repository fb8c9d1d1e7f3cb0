// [P-3] Message bodies. Bodies ignore unknown fields so that a version may add optional ones
// ([P-9.2]); the envelope around them ([P-4]) is strict.
import { z } from 'zod';
import { code, isoInstant } from './fields.ts';
import { GroupPlan, GroupPlanHeld, GroupPlanRef, MAX_GROUP_PLANS } from './group-plans.ts';
import { LIMITS } from './limits.ts';
import { EmergencyRepeat, ManifestEntry, MediaRef, occurrenceId, Priority, sha256Hex, txn, zone } from './plan-entries.ts';
import { ReportBatch, ReportReceipt } from './proof-messages.ts';
import { RelaySegment } from './relay.ts';

export { ConflictRule, EmergencyRepeat, groupAiringId, ManifestEntry, MediaRef, Priority } from './plan-entries.ts';

const timeOfDay = z
  .string()
  .regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/)
  .describe('HH:MM wall-clock time in `timeZone`');

/** [P-3.1.3] The station's local rules, enforced by the device even against its own manifest. */
export const LocalPolicy = z.object({
  timeZone: z.literal('Asia/Ho_Chi_Minh'),
  /** Nothing but emergencies starts or plays in these ranges (a range may cross midnight). */
  quietHours: z.array(z.object({ start: timeOfDay, end: timeOfDay })).max(4),
  /** Output ceiling 0–100 by time of day. */
  maxVolume: z.array(z.object({ start: timeOfDay, end: timeOfDay, level: z.int().min(0).max(100) })).max(12),
  /** [P-5.5] The level emergencies play at, above any ceiling and the device's volume; absent: 100. */
  emergencyVolume: z.int().min(0).max(100).optional(),
});
export type LocalPolicy = z.infer<typeof LocalPolicy>;

/** [P-3.1] The complete plan of one device for the horizon; each version replaces the previous. */
export const ServerKeyInfo = z.object({
  kid: z.string().max(128),
  publicKeyHex: z.string().regex(/^[0-9a-f]{64}$/),
  validFrom: isoInstant,
  validUntil: isoInstant.optional(),
});
export type ServerKeyInfo = z.infer<typeof ServerKeyInfo>;

export const Manifest = z.object({
  station: code,
  version: z.int().nonnegative(),
  generatedAt: isoInstant,
  horizonUntil: isoInstant,
  entries: z.array(ManifestEntry).max(LIMITS.maxManifestEntries),
  policy: LocalPolicy.optional(),
  /** [P-4.7] The server keys the device trusts from now on (rotation with overlap). */
  serverKeys: z.array(ServerKeyInfo).min(1).max(4).optional(),
  /**
   * [P-2.5] The station's units now, nearest first (as enrollment's `groups`): the group topics to listen on.
   * Replaces the enrollment's list, so a merge that moves the station needs no new enrollment.
   */
  groups: z.array(code).min(1).max(8).optional(),
  /**
   * [P-5.5] Audio to keep in the cache ahead of any plan (prepared emergency templates), so an alert that
   * uses one airs without a download; additive in v1.
   */
  prefetch: z.array(MediaRef).max(LIMITS.maxPrefetch).optional(),
  /**
   * [P-3.10] The group plans the device must hold; their entries (but those in `except`) air beside this
   * manifest's own. Sent only to a device whose acks carry `groups`; additive in v1.
   */
  groupPlans: z.array(GroupPlanRef).max(MAX_GROUP_PLANS).optional(),
});
export type Manifest = z.infer<typeof Manifest>;

/** [P-3.1.2] Incremental form: applies only on top of `baseVersion`; never retained. */
export const ManifestDelta = z.object({
  station: code,
  version: z.int().positive(),
  baseVersion: z.int().nonnegative(),
  generatedAt: isoInstant,
  horizonUntil: isoInstant,
  upsert: z.array(ManifestEntry).max(LIMITS.maxManifestEntries),
  remove: z.array(occurrenceId).max(LIMITS.maxManifestEntries),
});
export type ManifestDelta = z.infer<typeof ManifestDelta>;

export const ReportKind = z.enum(['playback.started', 'playback.completed', 'playback.failed']);
export const ReportReason = z.enum([
  'FILE_MISSING',
  'MISSED_WINDOW',
  'PLAYER_ERROR',
  'STOPPED',
  'PREEMPTED',
  'QUIET_HOURS',
  'EXPIRED_ITEM',
  'CANCELLED',
  'CONFLICT',
  'INTERRUPTED',
  'UNKNOWN_ZONE',
  /** [P-8.3] a live stream ended by a gap of more than 5 s without frames. */
  'LIVE_GAP',
  /** [P-5.11] every URL of a relay failed: its fallback file aired (for part of the slot or all of it). */
  'RELAY_FALLBACK',
]);

/** [P-3.2] Proof of playback, sent when playback starts and when it ends. */
export const PlaybackReport = z.object({
  kind: ReportKind,
  station: code,
  occurrenceId,
  sha256: sha256Hex,
  scheduledAt: isoInstant,
  startedAt: isoInstant,
  endedAt: isoInstant.optional(),
  expectedMs: z.int().nonnegative(),
  playedMs: z.int().nonnegative().optional(),
  level: z
    .object({
      rmsDbfs: z.number().min(-200).max(10),
      peakDbfs: z.number().min(-200).max(10),
    })
    .optional(),
  zones: z.array(zone).max(16).optional(),
  /** Levels per zone, measured after the zone's own volume (`level` is the loudest of them). */
  zoneLevels: z
    .array(z.object({ zone, rmsDbfs: z.number().min(-200).max(10), peakDbfs: z.number().min(-200).max(10) }))
    .max(16)
    .optional(),
  /** One of ReportReason; receivers accept other strings from newer devices. */
  reason: z.string().max(64).optional(),
  /**
   * [P-5.6] A live stream's frames: played as sent, concealed (missing at their turn), dropped (late past their
   * turn, duplicate, stale), skipped (silent frames left out to shorten the delay, [P-8.3]).
   */
  live: z
    .object({
      framesPlayed: z.int().nonnegative(),
      framesConcealed: z.int().nonnegative(),
      framesDropped: z.int().nonnegative(),
      framesSkipped: z.int().nonnegative().optional(),
      /** The playout buffer the device settled on ([P-8.3] adaptive), ms. */
      bufferMs: z.int().nonnegative(),
    })
    .optional(),
  /** [P-5.11] A relay's stretches per source, in order (outages are the switches between them). */
  relay: z.array(RelaySegment).max(64).optional(),
});
export type PlaybackReport = z.infer<typeof PlaybackReport>;

/** [P-3.7] A device's signed receipt for a manifest: applied (stored and armed) or rejected with a code. */
export const ManifestAck = z.discriminatedUnion('status', [
  z.object({
    station: code,
    version: z.int().nonnegative(),
    status: z.literal('applied'),
    entries: z.int().nonnegative(),
    /**
     * [P-3.10] The group plans held and aired from now, of those the manifest names (empty when it names
     * none): present at all says the device implements group plans. Additive in v1.
     */
    groups: z.array(GroupPlanHeld).max(MAX_GROUP_PLANS).optional(),
  }),
  z.object({
    station: code,
    version: z.int().nonnegative(),
    status: z.literal('rejected'),
    code: z.string().max(64),
    message: z.string().max(500).optional(),
  }),
]);
export type ManifestAck = z.infer<typeof ManifestAck>;

/** [P-3.3] Availability, retained; the offline form is the device's MQTT last-will. Not signed. */
export const StationState = z.object({
  station: code,
  online: z.boolean(),
  at: isoInstant.optional(),
  agentVersion: z.string().max(32).optional(),
  protocolVersions: z.array(z.int().positive()).max(8).optional(),
  /** Faults the device found that it cannot sign about, e.g. `KEY_REFUSED` ([P-5.4.1]); unsigned, a hint. */
  faults: z.array(z.string().max(64)).max(16).optional(),
});
export type StationState = z.infer<typeof StationState>;

/** [P-3.4] Heartbeat and telemetry, every 60 s and on change. */
export const Telemetry = z.object({
  station: code,
  uptimeS: z.int().nonnegative(),
  agentVersion: z.string().max(32),
  protocolVersions: z.array(z.int().positive()).max(8),
  /** Server clock minus device clock, measured per [P-5.9]. */
  clockOffsetMs: z.number().optional(),
  diskFreeBytes: z.int().nonnegative(),
  cache: z.object({
    items: z.int().nonnegative(),
    bytes: z.int().nonnegative(),
    /** Audio the current manifest needs within the prefetch horizon that is not on disk yet (sync state). */
    missing: z.int().nonnegative().optional(),
  }),
  manifestVersion: z.int().nonnegative().optional(),
  nowPlaying: z.object({ occurrenceId: occurrenceId.optional(), streamId: z.string().max(64).optional(), since: isoInstant }).optional(),
  volume: z.record(z.string().max(32), z.int().min(0).max(100)).optional(),
  /** Faults the gateway found in itself, e.g. `CORRUPT_STATE:state.json` (a local file unreadable, kept aside). */
  faults: z.array(z.string().max(64)).max(16).optional(),
});
export type Telemetry = z.infer<typeof Telemetry>;

/** [P-3.5] Remote commands, one shape per action. */
export const Command = z.discriminatedUnion('action', [
  z.object({ action: z.literal('volume'), txn, zone: zone.optional(), level: z.int().min(0).max(100) }),
  z.object({ action: z.literal('stop'), txn, zone: zone.optional() }),
  z.object({ action: z.literal('play-now'), txn, occurrenceId, priority: Priority, media: MediaRef }),
  z.object({ action: z.literal('sync-now'), txn }),
  z.object({ action: z.literal('self-test'), txn }),
  z.object({ action: z.literal('reboot'), txn }),
  z.object({ action: z.literal('emergency.start'), txn, occurrenceId, media: MediaRef, ...EmergencyRepeat.shape }),
  z.object({ action: z.literal('emergency.cancel'), txn, occurrenceId }),
  z.object({
    action: z.literal('live.start'),
    txn,
    streamId: z.string().regex(/^[0-9a-f]{32}$/),
    priority: Priority,
    codec: z.literal('opus'),
    sampleRate: z.literal(48000),
    channels: z.literal(1),
    frameMs: z.union([z.literal(20), z.literal(40), z.literal(60)]),
    /** Unit whose live topic carries the frames ([P-2.3]). */
    unit: code,
    /**
     * [P-5.6] The airing's id (at most 15 characters): the device reports the stream as `{occurrenceId}@{station}`
     * with `sha256` = liveSha256(streamId). Absent: the device plays it and reports nothing (v1.0 servers).
     */
    occurrenceId: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .max(LIMITS.maxGroupOccurrenceIdLength)
      .optional(),
  }),
  z.object({ action: z.literal('live.stop'), txn, streamId: z.string().regex(/^[0-9a-f]{32}$/) }),
]);
export type Command = z.infer<typeof Command>;
export type CommandAction = Command['action'];

/** [P-3.6] Stable error codes of a reply. */
export const ReplyErrorCode = z.enum([
  'TOO_LARGE',
  'MALFORMED',
  'UNSUPPORTED_VERSION',
  'UNKNOWN_KEY',
  'BAD_SIGNATURE',
  'EXPIRED',
  'REPLAYED',
  'STALE_SEQUENCE',
  'INVALID_BODY',
  'UNKNOWN_ACTION',
  'NOT_SUPPORTED',
  'FILE_MISSING',
  'BUSY',
  'POLICY',
  'DEVICE_FAULT',
  'UNKNOWN_ZONE',
]);

/** [P-3.6] The one reply envelope body: ok, or an error with a stable code. `txn` is null only when
 * the command could not be read far enough to find it. */
export const Reply = z.discriminatedUnion('ok', [
  z.object({
    txn: txn.nullable(),
    action: z.string().max(32).nullable(),
    ok: z.literal(true),
    result: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({
    txn: txn.nullable(),
    action: z.string().max(32).nullable(),
    ok: z.literal(false),
    error: z.object({ code: z.union([ReplyErrorCode, z.string().max(64)]), message: z.string().max(500) }),
  }),
]);
export type Reply = z.infer<typeof Reply>;

/** [P-6.4] Enrollment over HTTP: a one-time token buys MQTT credentials and the server keys. */
export const EnrollRequest = z.object({
  token: z.string().min(16).max(128),
  publicKeyHex: z.string().regex(/^[0-9a-f]{64}$/),
  agentVersion: z.string().max(32),
  protocolVersions: z.array(z.int().positive()).min(1).max(8),
});
export const EnrollResponse = z.object({
  device: code,
  station: code,
  protocolVersion: z.int().positive(),
  mqtt: z.object({ url: z.string().max(200), clientId: z.string().max(64), username: z.string().max(64), password: z.string().max(128) }),
  serverKeys: z.array(ServerKeyInfo).min(1).max(4),
  /** Unit codes, nearest first, whose group topics the device subscribes to. */
  groups: z.array(code).max(8),
  /** [P-5.1.1] The zone codes the server addresses this device's outputs by (additive in v1; absent: `z1`). */
  zones: z
    .array(z.object({ code: zone, name: z.string().max(100) }))
    .max(16)
    .optional(),
});
/** [P-6.5] Server time for clock-offset measurement. */
export const TimeResponse = z.object({ receivedAt: isoInstant, sentAt: isoInstant });

/** Signed message types and their bodies ([P-4.1]). */
export const bodySchemas = {
  manifest: Manifest,
  'manifest-delta': ManifestDelta,
  'manifest-ack': ManifestAck,
  'group-plan': GroupPlan,
  report: PlaybackReport,
  'report-batch': ReportBatch,
  receipt: ReportReceipt,
  command: Command,
  reply: Reply,
  telemetry: Telemetry,
} as const;
export type BodyType = keyof typeof bodySchemas;
export type BodyOf<T extends BodyType> = z.infer<(typeof bodySchemas)[T]>;

/** Every schema published as JSON Schema in firmware-protocol/schemas/ ([P-3]). */
export const publishedSchemas = {
  ...bodySchemas,
  state: StationState,
  'enroll-request': EnrollRequest,
  'enroll-response': EnrollResponse,
  'time-response': TimeResponse,
} as const;
