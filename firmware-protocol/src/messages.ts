// [P-3] Message bodies. Bodies ignore unknown fields so that a version may add optional ones
// ([P-9.2]); the envelope around them ([P-4]) is strict.

import { code, isoInstant } from './fields.ts';
import { GroupPlan, GroupPlanHeld, GroupPlanRef, MAX_GROUP_PLANS } from './group-plans.ts';
import { LIMITS } from './limits.ts';
import { EmergencyRepeat, ManifestEntry, MediaRef, occurrenceId, Priority, sha256Hex, txn, zone } from './plan-entries.ts';
import { ReportBatch, ReportReceipt } from './proof-messages.ts';
import { RelaySegment } from './relay.ts';
import * as z from './zod.ts';

export { ConflictRule, EmergencyRepeat, groupAiringId, ManifestEntry, MediaRef, Priority } from './plan-entries.ts';

const timeOfDay = z.string().check(z.regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/), z.describe('HH:MM wall-clock time in `timeZone`'));

const count = z.int().check(z.nonnegative());
const level = z.int().check(z.minimum(0), z.maximum(100));
const dbfs = z.number().check(z.minimum(-200), z.maximum(10));
const streamId = z.string().check(z.regex(/^[0-9a-f]{32}$/));

/** [P-3.1.3] The station's local rules, enforced by the device even against its own manifest. */
export const LocalPolicy = z.object({
  timeZone: z.literal('Asia/Ho_Chi_Minh'),
  /** Nothing but emergencies starts or plays in these ranges (a range may cross midnight). */
  quietHours: z.array(z.object({ start: timeOfDay, end: timeOfDay })).check(z.maxLength(4)),
  /** Output ceiling 0–100 by time of day. */
  maxVolume: z.array(z.object({ start: timeOfDay, end: timeOfDay, level })).check(z.maxLength(12)),
  /** [P-5.5] The level emergencies play at, above any ceiling and the device's volume; absent: 100. */
  emergencyVolume: z.optional(level),
});
export type LocalPolicy = z.infer<typeof LocalPolicy>;

/** [P-3.1] The complete plan of one device for the horizon; each version replaces the previous. */
export const ServerKeyInfo = z.object({
  kid: z.string().check(z.maxLength(128)),
  publicKeyHex: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  validFrom: isoInstant,
  validUntil: z.optional(isoInstant),
});
export type ServerKeyInfo = z.infer<typeof ServerKeyInfo>;

export const Manifest = z.object({
  station: code,
  version: count,
  generatedAt: isoInstant,
  horizonUntil: isoInstant,
  entries: z.array(ManifestEntry).check(z.maxLength(LIMITS.maxManifestEntries)),
  policy: z.optional(LocalPolicy),
  /** [P-4.7] The server keys the device trusts from now on (rotation with overlap). */
  serverKeys: z.optional(z.array(ServerKeyInfo).check(z.minLength(1), z.maxLength(4))),
  /**
   * [P-2.5] The station's units now, nearest first (as enrollment's `groups`): the group topics to listen on.
   * Replaces the enrollment's list, so a merge that moves the station needs no new enrollment.
   */
  groups: z.optional(z.array(code).check(z.minLength(1), z.maxLength(8))),
  /**
   * [P-5.5] Audio to keep in the cache ahead of any plan (prepared emergency templates), so an alert that
   * uses one airs without a download; additive in v1.
   */
  prefetch: z.optional(z.array(MediaRef).check(z.maxLength(LIMITS.maxPrefetch))),
  /**
   * [P-3.10] The group plans the device must hold; their entries (but those in `except`) air beside this
   * manifest's own. Sent only to a device whose acks carry `groups`; additive in v1.
   */
  groupPlans: z.optional(z.array(GroupPlanRef).check(z.maxLength(MAX_GROUP_PLANS))),
});
export type Manifest = z.infer<typeof Manifest>;

/** [P-3.1.2] Incremental form: applies only on top of `baseVersion`; never retained. */
export const ManifestDelta = z.object({
  station: code,
  version: z.int().check(z.positive()),
  baseVersion: z.int().check(z.nonnegative()),
  generatedAt: isoInstant,
  horizonUntil: isoInstant,
  upsert: z.array(ManifestEntry).check(z.maxLength(LIMITS.maxManifestEntries)),
  remove: z.array(occurrenceId).check(z.maxLength(LIMITS.maxManifestEntries)),
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
  endedAt: z.optional(isoInstant),
  expectedMs: z.int().check(z.nonnegative()),
  playedMs: z.optional(z.int().check(z.nonnegative())),
  level: z.optional(z.object({ rmsDbfs: dbfs, peakDbfs: dbfs })),
  zones: z.optional(z.array(zone).check(z.maxLength(16))),
  /** Levels per zone, measured after the zone's own volume (`level` is the loudest of them). */
  zoneLevels: z.optional(z.array(z.object({ zone, rmsDbfs: dbfs, peakDbfs: dbfs })).check(z.maxLength(16))),
  /** One of ReportReason; receivers accept other strings from newer devices. */
  reason: z.optional(z.string().check(z.maxLength(64))),
  /**
   * [P-5.6] A live stream's frames: played as sent, concealed (missing at their turn), dropped (late past their
   * turn, duplicate, stale), skipped (silent frames left out to shorten the delay, [P-8.3]).
   */
  live: z.optional(
    z.object({
      framesPlayed: count,
      framesConcealed: count,
      framesDropped: count,
      framesSkipped: z.optional(count),
      /** The playout buffer the device settled on ([P-8.3] adaptive), ms. */
      bufferMs: count,
    }),
  ),
  /** [P-5.11] A relay's stretches per source, in order (outages are the switches between them). */
  relay: z.optional(z.array(RelaySegment).check(z.maxLength(64))),
});
export type PlaybackReport = z.infer<typeof PlaybackReport>;

/** [P-3.7] A device's signed receipt for a manifest: applied (stored and armed) or rejected with a code. */
export const ManifestAck = z.discriminatedUnion('status', [
  z.object({
    station: code,
    version: count,
    status: z.literal('applied'),
    entries: count,
    /**
     * [P-3.10] The group plans held and aired from now, of those the manifest names (empty when it names
     * none): present at all says the device implements group plans. Additive in v1.
     */
    groups: z.optional(z.array(GroupPlanHeld).check(z.maxLength(MAX_GROUP_PLANS))),
  }),
  z.object({
    station: code,
    version: count,
    status: z.literal('rejected'),
    code: z.string().check(z.maxLength(64)),
    message: z.optional(z.string().check(z.maxLength(500))),
  }),
]);
export type ManifestAck = z.infer<typeof ManifestAck>;

/** [P-3.3] Availability, retained; the offline form is the device's MQTT last-will. Not signed. */
export const StationState = z.object({
  station: code,
  online: z.boolean(),
  at: z.optional(isoInstant),
  agentVersion: z.optional(z.string().check(z.maxLength(32))),
  protocolVersions: z.optional(z.array(z.int().check(z.positive())).check(z.maxLength(8))),
  /** Faults the device found that it cannot sign about, e.g. `KEY_REFUSED` ([P-5.4.1]); unsigned, a hint. */
  faults: z.optional(z.array(z.string().check(z.maxLength(64))).check(z.maxLength(16))),
});
export type StationState = z.infer<typeof StationState>;

/** [P-3.4] Heartbeat and telemetry, every 60 s and on change. */
export const Telemetry = z.object({
  station: code,
  uptimeS: count,
  agentVersion: z.string().check(z.maxLength(32)),
  protocolVersions: z.array(z.int().check(z.positive())).check(z.maxLength(8)),
  /** Server clock minus device clock, measured per [P-5.9]. */
  clockOffsetMs: z.optional(z.number()),
  diskFreeBytes: count,
  cache: z.object({
    items: count,
    bytes: count,
    /** Audio the current manifest needs within the prefetch horizon that is not on disk yet (sync state). */
    missing: z.optional(count),
  }),
  manifestVersion: z.optional(count),
  nowPlaying: z.optional(
    z.object({ occurrenceId: z.optional(occurrenceId), streamId: z.optional(z.string().check(z.maxLength(64))), since: isoInstant }),
  ),
  volume: z.optional(z.record(z.string().check(z.maxLength(32)), level)),
  /** Faults the gateway found in itself, e.g. `CORRUPT_STATE:state.json` (a local file unreadable, kept aside). */
  faults: z.optional(z.array(z.string().check(z.maxLength(64))).check(z.maxLength(16))),
});
export type Telemetry = z.infer<typeof Telemetry>;

/** [P-3.5] Remote commands, one shape per action. */
export const Command = z.discriminatedUnion('action', [
  z.object({ action: z.literal('volume'), txn, zone: z.optional(zone), level }),
  z.object({ action: z.literal('stop'), txn, zone: z.optional(zone) }),
  z.object({ action: z.literal('play-now'), txn, occurrenceId, priority: Priority, media: MediaRef }),
  z.object({ action: z.literal('sync-now'), txn }),
  z.object({ action: z.literal('self-test'), txn }),
  z.object({ action: z.literal('reboot'), txn }),
  z.object({ action: z.literal('emergency.start'), txn, occurrenceId, media: MediaRef, ...EmergencyRepeat.shape }),
  z.object({ action: z.literal('emergency.cancel'), txn, occurrenceId }),
  z.object({
    action: z.literal('live.start'),
    txn,
    streamId,
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
    occurrenceId: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_-]+$/), z.maxLength(LIMITS.maxGroupOccurrenceIdLength))),
  }),
  z.object({ action: z.literal('live.stop'), txn, streamId }),
]);
export type Command = z.infer<typeof Command>;
export type CommandAction = Command['action'];
/** The actions [P-3.5] defines, in the order of `Command`'s shapes. */
export const COMMAND_ACTIONS: readonly CommandAction[] = Command._zod.def.options.map((o) => o.shape.action._zod.def.values[0]);

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
    txn: z.nullable(txn),
    action: z.nullable(z.string().check(z.maxLength(32))),
    ok: z.literal(true),
    result: z.optional(z.record(z.string(), z.unknown())),
  }),
  z.object({
    txn: z.nullable(txn),
    action: z.nullable(z.string().check(z.maxLength(32))),
    ok: z.literal(false),
    error: z.object({
      code: z.union([ReplyErrorCode, z.string().check(z.maxLength(64))]),
      message: z.string().check(z.maxLength(500)),
    }),
  }),
]);
export type Reply = z.infer<typeof Reply>;

/** [P-6.4] Enrollment over HTTP: a one-time token buys MQTT credentials and the server keys. */
export const EnrollRequest = z.object({
  token: z.string().check(z.minLength(16), z.maxLength(128)),
  publicKeyHex: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  agentVersion: z.string().check(z.maxLength(32)),
  protocolVersions: z.array(z.int().check(z.positive())).check(z.minLength(1), z.maxLength(8)),
});
export const EnrollResponse = z.object({
  device: code,
  station: code,
  protocolVersion: z.int().check(z.positive()),
  mqtt: z.object({
    url: z.string().check(z.maxLength(200)),
    clientId: z.string().check(z.maxLength(64)),
    username: z.string().check(z.maxLength(64)),
    password: z.string().check(z.maxLength(128)),
  }),
  serverKeys: z.array(ServerKeyInfo).check(z.minLength(1), z.maxLength(4)),
  /** Unit codes, nearest first, whose group topics the device subscribes to. */
  groups: z.array(code).check(z.maxLength(8)),
  /** [P-5.1.1] The zone codes the server addresses this device's outputs by (additive in v1; absent: `z1`). */
  zones: z.optional(z.array(z.object({ code: zone, name: z.string().check(z.maxLength(100)) })).check(z.maxLength(16))),
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
