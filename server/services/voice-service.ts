// Live voice ([P-5.6], [P-8]): someone speaks in the console and every loudspeaker of the area carries it.
// The browser sends 20 ms Opus packets (WebCodecs) or raw PCM (encoded here); each becomes a frame signed by
// the server key and published on the live topic of each unit that carries the area. live.start goes on the
// units' group command topics (the stations left over one by one, with their commune's live topic), and
// names the broadcast's airing, so every gateway reports it as `{airing}@{station}` like any airing. The
// server records what was said (Ogg Opus) as the evidence. A speaker's connection that goes quiet ends it.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  encodeLiveFrame,
  LIMITS,
  liveSha256,
  liveTopic,
  type OpusCodec,
  type Priority,
  pcmBytes,
  type Reply,
  type Signer,
} from '#protocol';
import { closesAt } from '../compliance/as-run.ts';
import { chunked, type Db } from '../db/client.ts';
import type { ServerKey } from '../keys.ts';
import type { BlobStore } from '../media/blob-store.ts';
import type { RecorderFactory } from '../media/recorder.ts';
import type { LivePublisher } from '../mqtt/link.ts';
import { hanoiDayNumber } from '../scheduling/recurrence.ts';
import type { CommandService } from './command-service.ts';
import { type Area, scopedArea, scopeOf } from './emergency-area.ts';
import { badRequest, conflict, notFound } from './errors.ts';
import type { UnitService } from './unit-service.ts';
import type { AuthUser } from './user-service.ts';

export const FRAME_MS = 20;
/** A broadcast whose speaker sent nothing for this long is over (the gateways' own limit is 5 s: [P-8.3]). */
export const SILENT_SPEAKER_MS = 3000;
/** The longest live broadcast; its airings' proof windows are sized by it until it ends. */
export const MAX_LIVE_MS = 4 * 3600_000;

export interface VoiceDeps {
  db: Db;
  units: UnitService;
  commands: CommandService;
  link: LivePublisher;
  key: ServerKey;
  blobs: BlobStore;
  /** Where recordings are written before they enter the blob store. */
  tmpDir: string;
  opus: () => Promise<OpusCodec>;
  recorder: RecorderFactory;
  now: () => Date;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/** What the speaker sees while on the air. */
export interface VoiceStatus {
  id: string;
  stations: number;
  /** Gateways that accepted live.start, refused it (with the codes), and that have proved they play it. */
  ready: number;
  refused: Record<string, number>;
  playing: number;
  frames: number;
  durationMs: number;
}

export interface StartInput {
  area: Pick<Area, 'units' | 'stations'>;
  priority: Priority;
  /** What the binary messages carry: Opus packets (WebCodecs) or 20 ms of 16-bit mono PCM at 48 kHz. */
  codec: 'opus' | 'pcm';
}

/** One broadcast on the air. */
export class VoiceSession {
  seq = 0;
  ready = new Set<string>();
  refused = new Map<string, string>();
  ended?: string;
  watchdog?: NodeJS.Timeout;
  constructor(
    readonly id: string,
    readonly airing: string,
    readonly streamId: string,
    readonly scheduleId: string,
    readonly mediaId: string,
    readonly startedAt: Date,
    readonly topics: string[],
    readonly stations: number,
    readonly codec: StartInput['codec'],
    readonly signer: Signer,
    readonly opus: OpusCodec,
    readonly recording: { file: string; write(pcm: Buffer): void; end(): Promise<void> },
    readonly stop: { groups: string[]; singles: string[] },
  ) {}
}

export class VoiceService {
  /** Emits ('ended', broadcastId, reason) once a broadcast's rows and recording are stored. */
  readonly events = new EventEmitter();
  private readonly sessions = new Map<string, VoiceSession>();
  /** Group live.start txns: the broadcast they belong to. */
  private readonly txns = new Map<string, VoiceSession>();

  constructor(private readonly deps: VoiceDeps) {
    deps.commands.events.on('group-reply', (txn: string, device: string, reply: Reply) => {
      const s = this.txns.get(txn);
      if (s) this.answered(s, device, reply);
    });
  }

  /** Goes on the air: rows for the broadcast and its airings, live.start to every gateway of the area. */
  async start(user: AuthUser, input: StartInput): Promise<VoiceSession> {
    const { db, commands, now, log } = this.deps;
    const tree = await this.deps.units.tree();
    const area = await scopedArea(db, tree, user, input.area);
    const opus = await this.deps.opus().catch((err: Error) => {
      throw conflict('NO_OPUS', `the server cannot encode or decode Opus: ${err.message}`);
    });
    const at = now();
    const streamId = randomBytes(16).toString('hex');
    const airing = `lv${randomBytes(6).toString('hex')}`;
    const codes = area.stations.map((s) => s.code);
    const media = await db.media.create({
      data: {
        title: `Phát trực tiếp — ${user.username}`,
        sha256: liveSha256(streamId),
        durationMs: 0,
        sizeBytes: 0,
        codec: 'opus',
        sampleRate: 48_000,
        channels: 1,
        sourceName: 'live',
        sourceFormat: 'live',
        category: 'announcement',
        // Not a library item: it cannot be scheduled, and the library does not list it.
        status: 'live',
        unitId: area.unitId || null,
        createdById: user.id,
      },
    });
    const schedule = await db.schedule.create({
      data: {
        mediaId: media.id,
        startsAt: at,
        stationCodes: JSON.stringify(codes),
        targets: JSON.stringify(input.area),
        conflict: 'preempt',
        priority: input.priority,
        createdById: user.id,
        status: 'active',
        expandedUntil: at,
      },
    });
    const broadcast = await db.broadcast.create({
      data: {
        airing,
        streamId,
        priority: input.priority,
        area: JSON.stringify(input.area),
        stationCodes: JSON.stringify(codes),
        groups: JSON.stringify(area.groups),
        unitId: area.unitId,
        createdById: user.id,
        startedAt: at,
        mediaId: media.id,
      },
    });
    await db.schedule.update({ where: { id: schedule.id }, data: { broadcastId: broadcast.id } });
    const until = closesAt({ startsAt: at, expectedMs: MAX_LIVE_MS, startWindowMs: 0 });
    await db.$transaction(
      chunked(area.stations).map((part) =>
        db.occurrence.createMany({
          data: part.map((st) => ({
            id: `${airing}@${st.code}`,
            scheduleId: schedule.id,
            stationId: st.id,
            unitId: st.unitId,
            mediaId: media.id,
            startsAt: at,
            day: hanoiDayNumber(at),
            closesAt: until,
            priority: input.priority,
            // On the air now: never in a plan ([P-3.1]), only in the as-run.
            status: 'playing',
          })),
        }),
      ),
    );
    // A station no whole unit covers hears the frames on its commune's live topic, after its own live.start.
    const communes = new Map(area.singles.map((st) => [st.code, tree.chain(st.unitId).at(-1)?.code ?? '']));
    const topics = [...new Set([...area.groups, ...communes.values()])].map(liveTopic);
    const file = join(this.deps.tmpDir, `live-${broadcast.id}.ogg`);
    const session = new VoiceSession(
      broadcast.id,
      airing,
      streamId,
      schedule.id,
      media.id,
      at,
      topics,
      area.stations.length,
      input.codec,
      this.deps.key.signer,
      opus,
      { file, ...this.deps.recorder(file) },
      { groups: area.groups, singles: [...communes.keys()] },
    );
    this.sessions.set(session.id, session);
    this.arm(session);
    const start = {
      action: 'live.start',
      streamId,
      priority: input.priority,
      codec: 'opus',
      sampleRate: 48_000,
      channels: 1,
      frameMs: FRAME_MS,
    };
    for (const unit of area.groups) {
      const sent = await commands
        .sendToGroup(unit, { ...start, unit, occurrenceId: airing }, { ttlMs: 60_000 })
        .catch((err: Error) => log.warn({ broadcast: session.id, unit, err: err.message }, 'live.start not sent'));
      if (sent) this.txns.set(sent.txn, session);
    }
    for (const [code, unit] of communes)
      void commands
        .send(code, { ...start, unit, occurrenceId: airing })
        .then((reply) => this.answered(session, code, reply))
        .catch((err: { code?: string }) =>
          this.answered(session, code, { txn: null, action: null, ok: false, error: { code: err.code ?? 'NOT_SENT', message: '' } }),
        );
    log.info(
      { broadcast: session.id, airing, stations: area.stations.length, topics: topics.length, user: user.username },
      'live broadcast on the air',
    );
    return session;
  }

  /** One binary message from the speaker: signed as the next frame, published on every live topic, recorded. */
  frame(s: VoiceSession, data: Buffer): void {
    if (s.ended) return;
    let packet: Buffer;
    let pcm: Buffer;
    if (s.codec === 'pcm') {
      if (data.length !== pcmBytes(FRAME_MS))
        throw badRequest('BAD_FRAME', `a PCM frame is ${pcmBytes(FRAME_MS)} bytes (20 ms, 16-bit mono 48 kHz)`);
      pcm = data;
      packet = s.opus.encode(data);
    } else {
      if (data.length === 0 || data.length > LIMITS.maxFramePayloadBytes)
        throw badRequest('BAD_FRAME', `an Opus packet is 1–${LIMITS.maxFramePayloadBytes} bytes`);
      packet = data;
      try {
        pcm = s.opus.decode(data);
      } catch {
        throw badRequest('BAD_FRAME', 'not an Opus packet');
      }
    }
    this.publish(s, packet, false);
    s.recording.write(pcm);
    this.arm(s);
  }

  private publish(s: VoiceSession, packet: Buffer, last: boolean): void {
    const frame = encodeLiveFrame(
      // The nominal capture instant: a steady clock the gateways measure their jitter against.
      { streamId: s.streamId, seq: s.seq, timestampMs: s.startedAt.getTime() + s.seq * FRAME_MS, last, payload: packet },
      s.signer.privateKey,
    );
    s.seq += 1;
    for (const topic of s.topics) this.deps.link.publishFrame(topic, frame);
  }

  /** A speaker who sends nothing for SILENT_SPEAKER_MS (a lost phone connection) ends the broadcast. */
  private arm(s: VoiceSession): void {
    clearTimeout(s.watchdog);
    s.watchdog = setTimeout(() => void this.stop(s, 'lost'), SILENT_SPEAKER_MS);
    s.watchdog.unref();
  }

  /**
   * Ends the broadcast: its length written first (the gateways' end proofs are judged against it), then a
   * last frame and live.stop everywhere, then the recording stored.
   */
  async stop(s: VoiceSession, reason: 'stopped' | 'lost' | 'shutdown' | 'error'): Promise<void> {
    if (s.ended) return;
    s.ended = reason;
    clearTimeout(s.watchdog);
    const { db, commands, now, log } = this.deps;
    const durationMs = s.seq * FRAME_MS;
    const endedAt = now();
    // The stop goes out even when these fail: the gateways must not play on.
    const unwritten = (err: Error) => log.warn({ broadcast: s.id, err: err.message }, 'live broadcast length not written');
    await db.media.update({ where: { id: s.mediaId }, data: { durationMs } }).catch(unwritten);
    await db.occurrence
      .updateMany({
        where: { scheduleId: s.scheduleId },
        data: { closesAt: closesAt({ startsAt: s.startedAt, expectedMs: durationMs + FRAME_MS, startWindowMs: 0 }) },
      })
      .catch(unwritten);
    this.publish(s, s.opus.encode(Buffer.alloc(pcmBytes(FRAME_MS))), true);
    const stop = { action: 'live.stop', streamId: s.streamId };
    for (const unit of s.stop.groups) await commands.sendToGroup(unit, stop).catch(() => undefined);
    for (const code of s.stop.singles) void commands.send(code, stop).catch(() => undefined);
    for (const [txn, owner] of this.txns) if (owner === s) this.txns.delete(txn);
    this.sessions.delete(s.id);
    let recording: { sha256: string; sizeBytes: number } | undefined;
    try {
      await s.recording.end();
      recording = s.seq > 0 ? await this.deps.blobs.adopt(s.recording.file) : undefined;
    } catch (err) {
      log.warn({ broadcast: s.id, err: (err as Error).message }, 'live recording failed');
    }
    if (!recording) await rm(s.recording.file, { force: true });
    await db.broadcast.update({
      where: { id: s.id },
      data: {
        endedAt,
        endReason: reason,
        frames: s.seq - 1,
        durationMs,
        ...(recording ? { recordingSha256: recording.sha256, recordingBytes: recording.sizeBytes } : {}),
      },
    });
    log.info({ broadcast: s.id, reason, durationMs, frames: s.seq - 1 }, 'live broadcast ended');
    this.events.emit('ended', s.id, reason);
  }

  /** Every broadcast still on the air ends (the server is stopping). */
  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => this.stop(s, 'shutdown')));
  }

  private answered(s: VoiceSession, device: string, reply: Reply): void {
    if (reply.ok) s.ready.add(device);
    else s.refused.set(device, reply.error.code);
  }

  /** What the speaker sees: answers so far and the gateways whose start proofs came. */
  async status(s: VoiceSession): Promise<VoiceStatus> {
    const playing = await this.deps.db.occurrence.count({ where: { scheduleId: s.scheduleId, startedAt: { not: null } } });
    const refused: Record<string, number> = {};
    for (const code of s.refused.values()) refused[code] = (refused[code] ?? 0) + 1;
    return { id: s.id, stations: s.stations, ready: s.ready.size, refused, playing, frames: s.seq, durationMs: s.seq * FRAME_MS };
  }

  /** Broadcasts the user may see (their units' and below), newest first, with the airings' outcome. */
  async list(user: AuthUser, limit = 50) {
    const { db } = this.deps;
    const scope = scopeOf(await this.deps.units.tree(), user);
    const rows = await db.broadcast.findMany({
      where: scope ? { unitId: { in: [...scope] } } : {},
      orderBy: { startedAt: 'desc' },
      take: limit,
    });
    const users = await db.user.findMany({ where: { id: { in: rows.map((r) => r.createdById) } }, select: { id: true, username: true } });
    const who = new Map(users.map((u) => [u.id, u]));
    const outcomes = await db.occurrence.groupBy({
      by: ['mediaId', 'asRun'],
      where: { mediaId: { in: rows.map((r) => r.mediaId) } },
      _count: true,
    });
    return rows.map((r) => ({
      id: r.id,
      airing: r.airing,
      kind: r.kind,
      priority: r.priority,
      speaker: who.get(r.createdById)?.username ?? null,
      area: JSON.parse(r.area) as StartInput['area'],
      stations: (JSON.parse(r.stationCodes) as string[]).length,
      startedAt: r.startedAt,
      endedAt: r.endedAt,
      endReason: r.endReason,
      durationMs: r.durationMs,
      recording: r.recordingSha256 ? { sha256: r.recordingSha256, sizeBytes: r.recordingBytes } : null,
      asRun: Object.fromEntries(outcomes.filter((o) => o.mediaId === r.mediaId).map((o) => [o.asRun ?? 'pending', o._count])),
    }));
  }

  /** The recording's file in the blob store, for a broadcast the user may see. */
  async recording(user: AuthUser, id: string): Promise<string> {
    const row = await this.deps.db.broadcast.findUnique({ where: { id } });
    const scope = scopeOf(await this.deps.units.tree(), user);
    if (!row || (scope && !scope.has(row.unitId))) throw notFound('UNKNOWN_BROADCAST', `unknown broadcast ${id}`);
    if (!row.recordingSha256) throw notFound('NO_RECORDING', `broadcast ${id} has no recording (yet)`);
    return join(this.deps.blobs.dir, this.deps.blobs.fileName(row.recordingSha256));
  }
}
