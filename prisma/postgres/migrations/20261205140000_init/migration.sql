-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "Unit" (
    "id" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "level" INTEGER NOT NULL,
    "parentId" TEXT,
    "policy" TEXT,
    "mergedIntoId" TEXT,
    "endedAt" TIMESTAMP(3),
    "validFrom" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Unit_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UnitEvent" (
    "id" TEXT NOT NULL,
    "unitId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "before" TEXT NOT NULL DEFAULT '{}',
    "after" TEXT NOT NULL DEFAULT '{}',
    "byId" TEXT,
    "at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "UnitEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Station" (
    "id" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "unitId" TEXT NOT NULL,
    "manifestVersion" INTEGER NOT NULL DEFAULT 0,
    "lastSeenAt" TIMESTAMP(3),
    "online" BOOLEAN NOT NULL DEFAULT false,
    "address" TEXT,
    "latitude" DOUBLE PRECISION,
    "longitude" DOUBLE PRECISION,
    "speakerPoints" INTEGER,
    "powerW" INTEGER,
    "connectivity" TEXT,
    "installedAt" TIMESTAMP(3),
    "unitCandidates" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "telemetryAt" TIMESTAMP(3),
    "clockOffsetMs" DOUBLE PRECISION,
    "diskFreeBytes" DOUBLE PRECISION,
    "agentVersion" TEXT,
    "uptimeS" INTEGER,
    "cacheItems" INTEGER,
    "cacheMissing" INTEGER,
    "appliedManifest" INTEGER,

    CONSTRAINT "Station_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "StationEvent" (
    "id" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "online" BOOLEAN NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "source" TEXT NOT NULL,

    CONSTRAINT "StationEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Alert" (
    "id" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'new',
    "occurrenceId" TEXT,
    "message" TEXT NOT NULL,
    "count" INTEGER NOT NULL DEFAULT 1,
    "raisedAt" TIMESTAMP(3) NOT NULL,
    "lastAt" TIMESTAMP(3) NOT NULL,
    "acknowledgedAt" TIMESTAMP(3),
    "acknowledgedBy" TEXT,
    "resolvedAt" TIMESTAMP(3),
    "resolvedBy" TEXT,
    "note" TEXT,

    CONSTRAINT "Alert_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "User" (
    "id" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "passwordHash" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "unitId" TEXT,
    "totpSecret" TEXT,
    "totpEnabledAt" TIMESTAMP(3),
    "totpLastStep" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "createdById" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),
    "lastUsedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ApiToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Session" (
    "id" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "revokedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Session_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Media" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "durationMs" INTEGER NOT NULL,
    "sizeBytes" INTEGER NOT NULL,
    "codec" TEXT NOT NULL,
    "sampleRate" INTEGER NOT NULL,
    "channels" INTEGER NOT NULL,
    "sourceName" TEXT NOT NULL,
    "sourceFormat" TEXT NOT NULL,
    "sourceSizeBytes" INTEGER NOT NULL DEFAULT 0,
    "sourceDurationMs" INTEGER NOT NULL DEFAULT 0,
    "trimStartMs" INTEGER NOT NULL DEFAULT 0,
    "trimEndMs" INTEGER NOT NULL DEFAULT 0,
    "loudnessBeforeLufs" DOUBLE PRECISION,
    "truePeakBeforeDbtp" DOUBLE PRECISION,
    "loudnessRangeLu" DOUBLE PRECISION,
    "loudnessAfterLufs" DOUBLE PRECISION,
    "truePeakAfterDbtp" DOUBLE PRECISION,
    "gainDb" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "limited" BOOLEAN NOT NULL DEFAULT false,
    "levels" TEXT,
    "mp3Sha256" TEXT,
    "mp3SizeBytes" INTEGER,
    "relay" TEXT,
    "fallbackMediaId" TEXT,
    "description" TEXT NOT NULL DEFAULT '',
    "category" TEXT NOT NULL DEFAULT 'news',
    "tags" TEXT NOT NULL DEFAULT '[]',
    "unitId" TEXT,
    "validFrom" TIMESTAMP(3),
    "validUntil" TIMESTAMP(3),
    "status" TEXT NOT NULL DEFAULT 'draft',
    "statusReason" TEXT,
    "searchText" TEXT NOT NULL DEFAULT '',
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Media_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "MediaTransition" (
    "id" TEXT NOT NULL,
    "mediaId" TEXT NOT NULL,
    "from" TEXT NOT NULL,
    "to" TEXT NOT NULL,
    "byId" TEXT NOT NULL,
    "reason" TEXT,
    "at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "MediaTransition_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Playlist" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "createdById" TEXT,
    "unitId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Playlist_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PlaylistItem" (
    "id" TEXT NOT NULL,
    "playlistId" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "mediaId" TEXT NOT NULL,
    "gapAfterMs" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "PlaylistItem_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Device" (
    "id" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "name" TEXT NOT NULL DEFAULT '',
    "model" TEXT,
    "enrollTokenHash" TEXT,
    "enrollTokenExpiresAt" TIMESTAMP(3),
    "publicKeyHex" TEXT,
    "mqttSecretHash" TEXT,
    "mqttSecretPbkdf2" TEXT,
    "agentVersion" TEXT,
    "enrolledAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Device_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Zone" (
    "id" TEXT NOT NULL,
    "deviceId" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "name" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "Zone_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ManifestDelivery" (
    "id" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "device" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "entries" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "publishedAt" TIMESTAMP(3) NOT NULL,
    "ackedAt" TIMESTAMP(3),
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "errorCode" TEXT,

    CONSTRAINT "ManifestDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Schedule" (
    "id" TEXT NOT NULL,
    "mediaId" TEXT,
    "playlistId" TEXT,
    "startsAt" TIMESTAMP(3) NOT NULL,
    "rrule" TEXT,
    "exdates" TEXT NOT NULL DEFAULT '[]',
    "stationCodes" TEXT NOT NULL DEFAULT '[]',
    "targets" TEXT NOT NULL DEFAULT '{}',
    "conflict" TEXT NOT NULL DEFAULT 'queue',
    "startWindowMs" INTEGER NOT NULL DEFAULT 0,
    "expandedUntil" TIMESTAMP(3),
    "priority" TEXT NOT NULL DEFAULT 'normal',
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "status" TEXT NOT NULL DEFAULT 'active',
    "emergencyId" TEXT,
    "broadcastId" TEXT,

    CONSTRAINT "Schedule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Occurrence" (
    "id" TEXT NOT NULL,
    "scheduleId" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "unitId" TEXT,
    "zones" TEXT NOT NULL DEFAULT '[]',
    "mediaId" TEXT NOT NULL,
    "startsAt" TIMESTAMP(3) NOT NULL,
    "day" INTEGER,
    "position" INTEGER,
    "priority" TEXT NOT NULL DEFAULT 'normal',
    "status" TEXT NOT NULL DEFAULT 'scheduled',
    "startedAt" TIMESTAMP(3),
    "endedAt" TIMESTAMP(3),
    "playedMs" INTEGER,
    "closesAt" TIMESTAMP(3),
    "asRun" TEXT,
    "discrepancy" TEXT,
    "deviceReason" TEXT,
    "lateMs" INTEGER,
    "rmsDbfs" DOUBLE PRECISION,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Occurrence_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ReportDay" (
    "day" INTEGER NOT NULL,
    "unitId" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "asRun" TEXT NOT NULL,
    "emergency" BOOLEAN NOT NULL,
    "n" INTEGER NOT NULL,
    "playedMs" INTEGER NOT NULL,
    "onTime" INTEGER NOT NULL,

    CONSTRAINT "ReportDay_pkey" PRIMARY KEY ("day","unitId","stationId","asRun","emergency")
);

-- CreateTable
CREATE TABLE "PlaybackReport" (
    "id" TEXT NOT NULL,
    "occurrenceId" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "reportedAt" TIMESTAMP(3) NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL,
    "playedMs" INTEGER,
    "rmsDbfs" DOUBLE PRECISION,
    "peakDbfs" DOUBLE PRECISION,
    "sha256" TEXT NOT NULL,
    "raw" TEXT NOT NULL,
    "chainDay" TEXT,
    "chainSeq" INTEGER,
    "chainPrev" TEXT,
    "chainHash" TEXT,

    CONSTRAINT "PlaybackReport_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Job" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "progress" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "input" TEXT NOT NULL,
    "errorCode" TEXT,
    "errorMessage" TEXT,
    "errorKind" TEXT,
    "mediaId" TEXT,
    "created" BOOLEAN,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AuditEvent" (
    "seq" SERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "userId" TEXT,
    "username" TEXT,
    "role" TEXT,
    "ip" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "params" TEXT,
    "request" TEXT,
    "status" INTEGER NOT NULL,
    "response" TEXT,
    "before" TEXT,
    "after" TEXT,
    "requestId" TEXT NOT NULL,

    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "AuditEventUnit" (
    "seq" INTEGER NOT NULL,
    "unitId" TEXT NOT NULL,

    CONSTRAINT "AuditEventUnit_pkey" PRIMARY KEY ("seq","unitId")
);

-- CreateTable
CREATE TABLE "RefusedRequest" (
    "hour" TIMESTAMP(3) NOT NULL,
    "ip" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "status" INTEGER NOT NULL,
    "count" INTEGER NOT NULL,
    "lastAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "RefusedRequest_pkey" PRIMARY KEY ("hour","ip","action","status")
);

-- CreateTable
CREATE TABLE "LoginThrottle" (
    "key" TEXT NOT NULL,
    "failures" INTEGER NOT NULL,
    "lastFailureAt" TIMESTAMP(3) NOT NULL,
    "blockedUntil" TIMESTAMP(3),

    CONSTRAINT "LoginThrottle_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "NotificationChannel" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "unitId" TEXT,
    "secret" TEXT,
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "cursor" TIMESTAMP(3) NOT NULL,
    "lastSentAt" TIMESTAMP(3),
    "lastError" TEXT,
    "sent" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "NotificationChannel_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Emergency" (
    "id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "headline" TEXT NOT NULL,
    "text" TEXT NOT NULL DEFAULT '',
    "area" TEXT NOT NULL,
    "stationCodes" TEXT NOT NULL,
    "groups" TEXT NOT NULL DEFAULT '[]',
    "mediaId" TEXT NOT NULL,
    "templateId" TEXT,
    "repeatCount" INTEGER,
    "repeatIntervalS" INTEGER,
    "repeatUntil" TIMESTAMP(3),
    "validUntil" TIMESTAMP(3) NOT NULL,
    "airing" TEXT NOT NULL,
    "unitId" TEXT NOT NULL,
    "createdById" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "confirmBy" TIMESTAMP(3),
    "confirmedById" TEXT,
    "confirmedAt" TIMESTAMP(3),
    "updatedById" TEXT,
    "updatedAt" TIMESTAMP(3),
    "cancelledById" TEXT,
    "cancelledAt" TIMESTAMP(3),
    "version" INTEGER NOT NULL DEFAULT 1,
    "source" TEXT NOT NULL DEFAULT 'api',
    "capSender" TEXT,
    "capIdentifier" TEXT,

    CONSTRAINT "Emergency_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "EmergencyStation" (
    "emergencyId" TEXT NOT NULL,
    "stationId" TEXT NOT NULL,
    "occurrenceId" TEXT NOT NULL,
    "receivedAt" TIMESTAMP(3),
    "errorCode" TEXT,
    "errorMessage" TEXT,

    CONSTRAINT "EmergencyStation_pkey" PRIMARY KEY ("emergencyId","stationId")
);

-- CreateTable
CREATE TABLE "EmergencyTemplate" (
    "id" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "text" TEXT NOT NULL DEFAULT '',
    "unitId" TEXT,
    "mediaId" TEXT NOT NULL,
    "endMediaId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "EmergencyTemplate_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Broadcast" (
    "id" TEXT NOT NULL,
    "airing" TEXT NOT NULL,
    "streamId" TEXT NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'voice',
    "priority" TEXT NOT NULL,
    "area" TEXT NOT NULL,
    "stationCodes" TEXT NOT NULL,
    "groups" TEXT NOT NULL DEFAULT '[]',
    "unitId" TEXT NOT NULL,
    "createdById" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL,
    "endedAt" TIMESTAMP(3),
    "endReason" TEXT,
    "frames" INTEGER NOT NULL DEFAULT 0,
    "durationMs" INTEGER NOT NULL DEFAULT 0,
    "recordingSha256" TEXT,
    "recordingBytes" INTEGER,
    "mediaId" TEXT NOT NULL,

    CONSTRAINT "Broadcast_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Unit_code_key" ON "Unit"("code");

-- CreateIndex
CREATE INDEX "Unit_parentId_idx" ON "Unit"("parentId");

-- CreateIndex
CREATE INDEX "UnitEvent_unitId_at_idx" ON "UnitEvent"("unitId", "at");

-- CreateIndex
CREATE UNIQUE INDEX "Station_code_key" ON "Station"("code");

-- CreateIndex
CREATE INDEX "Station_unitId_idx" ON "Station"("unitId");

-- CreateIndex
CREATE INDEX "StationEvent_stationId_at_idx" ON "StationEvent"("stationId", "at");

-- CreateIndex
CREATE INDEX "Alert_status_raisedAt_idx" ON "Alert"("status", "raisedAt");

-- CreateIndex
CREATE INDEX "Alert_stationId_kind_status_idx" ON "Alert"("stationId", "kind", "status");

-- CreateIndex
CREATE UNIQUE INDEX "User_username_key" ON "User"("username");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_tokenHash_key" ON "ApiToken"("tokenHash");

-- CreateIndex
CREATE INDEX "ApiToken_userId_idx" ON "ApiToken"("userId");

-- CreateIndex
CREATE UNIQUE INDEX "Session_tokenHash_key" ON "Session"("tokenHash");

-- CreateIndex
CREATE INDEX "Session_userId_idx" ON "Session"("userId");

-- CreateIndex
CREATE UNIQUE INDEX "Media_sha256_key" ON "Media"("sha256");

-- CreateIndex
CREATE INDEX "Media_status_category_idx" ON "Media"("status", "category");

-- CreateIndex
CREATE INDEX "Media_unitId_idx" ON "Media"("unitId");

-- CreateIndex
CREATE INDEX "MediaTransition_mediaId_at_idx" ON "MediaTransition"("mediaId", "at");

-- CreateIndex
CREATE INDEX "Playlist_unitId_idx" ON "Playlist"("unitId");

-- CreateIndex
CREATE UNIQUE INDEX "PlaylistItem_playlistId_position_key" ON "PlaylistItem"("playlistId", "position");

-- CreateIndex
CREATE UNIQUE INDEX "Device_code_key" ON "Device"("code");

-- CreateIndex
CREATE UNIQUE INDEX "Device_enrollTokenHash_key" ON "Device"("enrollTokenHash");

-- CreateIndex
CREATE INDEX "Device_stationId_idx" ON "Device"("stationId");

-- CreateIndex
CREATE UNIQUE INDEX "Zone_deviceId_code_key" ON "Zone"("deviceId", "code");

-- CreateIndex
CREATE INDEX "ManifestDelivery_stationId_version_idx" ON "ManifestDelivery"("stationId", "version");

-- CreateIndex
CREATE INDEX "ManifestDelivery_status_expiresAt_idx" ON "ManifestDelivery"("status", "expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "ManifestDelivery_device_version_key" ON "ManifestDelivery"("device", "version");

-- CreateIndex
CREATE INDEX "Schedule_rrule_expandedUntil_idx" ON "Schedule"("rrule", "expandedUntil");

-- CreateIndex
CREATE INDEX "Schedule_emergencyId_idx" ON "Schedule"("emergencyId");

-- CreateIndex
CREATE INDEX "Occurrence_stationId_startsAt_idx" ON "Occurrence"("stationId", "startsAt");

-- CreateIndex
CREATE INDEX "Occurrence_scheduleId_idx" ON "Occurrence"("scheduleId");

-- CreateIndex
CREATE INDEX "Occurrence_startsAt_idx" ON "Occurrence"("startsAt");

-- CreateIndex
CREATE INDEX "Occurrence_day_unitId_stationId_asRun_priority_playedMs_lat_idx" ON "Occurrence"("day", "unitId", "stationId", "asRun", "priority", "playedMs", "lateMs");

-- CreateIndex
CREATE INDEX "Occurrence_asRun_closesAt_idx" ON "Occurrence"("asRun", "closesAt");

-- CreateIndex
CREATE INDEX "PlaybackReport_occurrenceId_idx" ON "PlaybackReport"("occurrenceId");

-- CreateIndex
CREATE INDEX "PlaybackReport_stationId_reportedAt_idx" ON "PlaybackReport"("stationId", "reportedAt");

-- CreateIndex
CREATE UNIQUE INDEX "PlaybackReport_stationId_chainDay_chainSeq_key" ON "PlaybackReport"("stationId", "chainDay", "chainSeq");

-- CreateIndex
CREATE INDEX "Job_status_idx" ON "Job"("status");

-- CreateIndex
CREATE INDEX "AuditEvent_at_idx" ON "AuditEvent"("at");

-- CreateIndex
CREATE INDEX "AuditEvent_username_at_idx" ON "AuditEvent"("username", "at");

-- CreateIndex
CREATE INDEX "AuditEventUnit_unitId_seq_idx" ON "AuditEventUnit"("unitId", "seq");

-- CreateIndex
CREATE INDEX "LoginThrottle_lastFailureAt_idx" ON "LoginThrottle"("lastFailureAt");

-- CreateIndex
CREATE INDEX "NotificationChannel_unitId_idx" ON "NotificationChannel"("unitId");

-- CreateIndex
CREATE UNIQUE INDEX "Emergency_airing_key" ON "Emergency"("airing");

-- CreateIndex
CREATE INDEX "Emergency_state_createdAt_idx" ON "Emergency"("state", "createdAt");

-- CreateIndex
CREATE INDEX "Emergency_capSender_capIdentifier_idx" ON "Emergency"("capSender", "capIdentifier");

-- CreateIndex
CREATE UNIQUE INDEX "EmergencyTemplate_code_key" ON "EmergencyTemplate"("code");

-- CreateIndex
CREATE UNIQUE INDEX "Broadcast_airing_key" ON "Broadcast"("airing");

-- CreateIndex
CREATE UNIQUE INDEX "Broadcast_streamId_key" ON "Broadcast"("streamId");

-- CreateIndex
CREATE UNIQUE INDEX "Broadcast_mediaId_key" ON "Broadcast"("mediaId");

-- CreateIndex
CREATE INDEX "Broadcast_startedAt_idx" ON "Broadcast"("startedAt");

-- AddForeignKey
ALTER TABLE "Unit" ADD CONSTRAINT "Unit_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "Unit"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Unit" ADD CONSTRAINT "Unit_mergedIntoId_fkey" FOREIGN KEY ("mergedIntoId") REFERENCES "Unit"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UnitEvent" ADD CONSTRAINT "UnitEvent_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Station" ADD CONSTRAINT "Station_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StationEvent" ADD CONSTRAINT "StationEvent_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Alert" ADD CONSTRAINT "Alert_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Alert" ADD CONSTRAINT "Alert_occurrenceId_fkey" FOREIGN KEY ("occurrenceId") REFERENCES "Occurrence"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "User" ADD CONSTRAINT "User_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ApiToken" ADD CONSTRAINT "ApiToken_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ApiToken" ADD CONSTRAINT "ApiToken_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Session" ADD CONSTRAINT "Session_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Media" ADD CONSTRAINT "Media_fallbackMediaId_fkey" FOREIGN KEY ("fallbackMediaId") REFERENCES "Media"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Media" ADD CONSTRAINT "Media_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Media" ADD CONSTRAINT "Media_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "MediaTransition" ADD CONSTRAINT "MediaTransition_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "MediaTransition" ADD CONSTRAINT "MediaTransition_byId_fkey" FOREIGN KEY ("byId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Playlist" ADD CONSTRAINT "Playlist_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Playlist" ADD CONSTRAINT "Playlist_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PlaylistItem" ADD CONSTRAINT "PlaylistItem_playlistId_fkey" FOREIGN KEY ("playlistId") REFERENCES "Playlist"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PlaylistItem" ADD CONSTRAINT "PlaylistItem_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Device" ADD CONSTRAINT "Device_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Zone" ADD CONSTRAINT "Zone_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ManifestDelivery" ADD CONSTRAINT "ManifestDelivery_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Schedule" ADD CONSTRAINT "Schedule_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Schedule" ADD CONSTRAINT "Schedule_playlistId_fkey" FOREIGN KEY ("playlistId") REFERENCES "Playlist"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Schedule" ADD CONSTRAINT "Schedule_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Occurrence" ADD CONSTRAINT "Occurrence_scheduleId_fkey" FOREIGN KEY ("scheduleId") REFERENCES "Schedule"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Occurrence" ADD CONSTRAINT "Occurrence_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Occurrence" ADD CONSTRAINT "Occurrence_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Occurrence" ADD CONSTRAINT "Occurrence_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PlaybackReport" ADD CONSTRAINT "PlaybackReport_occurrenceId_fkey" FOREIGN KEY ("occurrenceId") REFERENCES "Occurrence"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PlaybackReport" ADD CONSTRAINT "PlaybackReport_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AuditEventUnit" ADD CONSTRAINT "AuditEventUnit_seq_fkey" FOREIGN KEY ("seq") REFERENCES "AuditEvent"("seq") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "NotificationChannel" ADD CONSTRAINT "NotificationChannel_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "NotificationChannel" ADD CONSTRAINT "NotificationChannel_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Emergency" ADD CONSTRAINT "Emergency_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Emergency" ADD CONSTRAINT "Emergency_templateId_fkey" FOREIGN KEY ("templateId") REFERENCES "EmergencyTemplate"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "EmergencyStation" ADD CONSTRAINT "EmergencyStation_emergencyId_fkey" FOREIGN KEY ("emergencyId") REFERENCES "Emergency"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "EmergencyTemplate" ADD CONSTRAINT "EmergencyTemplate_mediaId_fkey" FOREIGN KEY ("mediaId") REFERENCES "Media"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "EmergencyTemplate" ADD CONSTRAINT "EmergencyTemplate_endMediaId_fkey" FOREIGN KEY ("endMediaId") REFERENCES "Media"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- Hand-written, the PostgreSQL form of what the SQLite history adds by hand (its audit_log,
-- login_throttle_audit_scope and report_day migrations).

-- The audit log is append-only: it cannot be edited or pruned through SQL either.
CREATE FUNCTION "audit_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER "AuditEvent_no_update" BEFORE UPDATE ON "AuditEvent" FOR EACH ROW EXECUTE FUNCTION "audit_append_only"();
CREATE TRIGGER "AuditEvent_no_delete" BEFORE DELETE ON "AuditEvent" FOR EACH ROW EXECUTE FUNCTION "audit_append_only"();
CREATE TRIGGER "AuditEventUnit_no_update" BEFORE UPDATE ON "AuditEventUnit" FOR EACH ROW EXECUTE FUNCTION "audit_append_only"();
CREATE TRIGGER "AuditEventUnit_no_delete" BEFORE DELETE ON "AuditEventUnit" FOR EACH ROW EXECUTE FUNCTION "audit_append_only"();

-- ReportDay is kept by the database itself, whoever writes an occurrence: each change takes the old row's
-- counts out and puts the new row's in. Audio out = playedMs of aired, late and partial airings; on time =
-- aired with lateMs at most 2000 (AS_RUN_RULES.lateToleranceMs).
CREATE FUNCTION "reportday_out"(o "Occurrence") RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF o."day" IS NULL THEN RETURN; END IF;
  UPDATE "ReportDay" SET "n" = "n" - 1,
    "playedMs" = "playedMs" - CASE WHEN o."asRun" IN ('aired', 'late', 'partial') THEN coalesce(o."playedMs", 0) ELSE 0 END,
    "onTime" = "onTime" - CASE WHEN o."asRun" = 'aired' AND coalesce(o."lateMs", 0) <= 2000 THEN 1 ELSE 0 END
  WHERE "day" = o."day" AND "unitId" = coalesce(o."unitId", '') AND "stationId" = o."stationId"
    AND "asRun" = coalesce(o."asRun", 'pending') AND "emergency" = (o."priority" = 'emergency');
  DELETE FROM "ReportDay" WHERE "n" <= 0 AND "day" = o."day" AND "unitId" = coalesce(o."unitId", '') AND "stationId" = o."stationId";
END $$;

CREATE FUNCTION "reportday_in"(o "Occurrence") RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF o."day" IS NULL THEN RETURN; END IF;
  INSERT INTO "ReportDay" ("day", "unitId", "stationId", "asRun", "emergency", "n", "playedMs", "onTime")
  VALUES (o."day", coalesce(o."unitId", ''), o."stationId", coalesce(o."asRun", 'pending'), o."priority" = 'emergency', 1,
    CASE WHEN o."asRun" IN ('aired', 'late', 'partial') THEN coalesce(o."playedMs", 0) ELSE 0 END,
    CASE WHEN o."asRun" = 'aired' AND coalesce(o."lateMs", 0) <= 2000 THEN 1 ELSE 0 END)
  ON CONFLICT ("day", "unitId", "stationId", "asRun", "emergency") DO UPDATE SET
    "n" = "ReportDay"."n" + 1, "playedMs" = "ReportDay"."playedMs" + excluded."playedMs", "onTime" = "ReportDay"."onTime" + excluded."onTime";
END $$;

CREATE FUNCTION "occurrence_reportday"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM "reportday_out"(OLD); END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM "reportday_in"(NEW); END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "Occurrence_reportday_insert" AFTER INSERT OR DELETE ON "Occurrence"
  FOR EACH ROW EXECUTE FUNCTION "occurrence_reportday"();
CREATE TRIGGER "Occurrence_reportday_update" AFTER UPDATE OF "day", "unitId", "stationId", "asRun", "priority", "playedMs", "lateMs" ON "Occurrence"
  FOR EACH ROW EXECUTE FUNCTION "occurrence_reportday"();
