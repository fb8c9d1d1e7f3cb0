// [P-5.8] Remote commands: sign and publish a command to one device, then wait for its reply,
// correlated by transaction id and verified with the device's key. Group commands [P-2.3]: one signed
// message on a unit's group topic for every gateway below it (emergencies, [P-5.5]); each gateway answers
// on its own reply topic, and the replies are collected per transaction.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { Command, commandTopic, groupCommandTopic, LIMITS, type Reply, seal } from '#protocol';
import type { Db } from '../db/client.ts';
import type { ServerKey } from '../keys.ts';
import type { Publisher } from '../mqtt/link.ts';
import type { DeviceService } from './device-service.ts';
import { badRequest, conflict, DomainError, notFound } from './errors.ts';
import { LibraryService } from './library-service.ts';
import type { UnitService } from './unit-service.ts';

/**
 * What a caller may send: exactly a command's fields, nothing else, at every level (an unknown field is
 * refused, never carried along or ignored).
 */
const StrictCommand = z.discriminatedUnion(
  'action',
  Command._zod.def.options.map((shape) =>
    z.strictObject(
      Object.fromEntries(
        Object.entries(shape.shape).map(([k, v]) => [k, v instanceof z.core.$ZodObject ? z.strictObject(v._zod.def.shape) : v]),
      ) as typeof shape.shape,
    ),
  ) as unknown as typeof Command._zod.def.options,
);

/** A caller's command with its txn, exactly as the protocol shapes it; INVALID_COMMAND otherwise. */
function command(input: Record<string, unknown>): Command {
  const parsed = StrictCommand.safeParse(input);
  if (!parsed.success) throw badRequest('INVALID_COMMAND', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}

/** [P-4.6] a command lives 60 s. */
const COMMAND_TTL_MS = 60_000;

export interface CommandDeps {
  db: Db;
  devices: DeviceService;
  units: UnitService;
  link: Publisher;
  key: ServerKey;
  now: () => Date;
  timeoutMs: number;
  log: { warn(obj: object, msg: string): void };
}

/** Actions a unit's group topic carries ([P-2.3]); the others go to one device at a time. */
const GROUP_ACTIONS = new Set(['emergency.start', 'emergency.cancel', 'live.start', 'live.stop']);

export class CommandService {
  /** Emits ('group-reply', txn, device, reply) for each reply to a group command. */
  readonly events = new EventEmitter();
  /** Group commands still collecting replies, by txn: each answering gateway's reply. */
  private readonly groups = new Map<string, Map<string, Reply>>();
  private readonly pending = new Map<string, { resolve: (reply: Reply) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();

  constructor(private readonly deps: CommandDeps) {}

  /** Sends `input` (a command without txn) to the station's gateway (its first enrolled one unless named) and resolves with the reply. */
  async send(stationCode: string, input: Record<string, unknown>, deviceCode?: string, opts: { ttlMs?: number } = {}): Promise<Reply> {
    const { db, link, key, now } = this.deps;
    const station = await db.station.findUnique({
      where: { code: stationCode },
      include: {
        devices: {
          where: { enrolledAt: { not: null }, revokedAt: null, ...(deviceCode ? { code: deviceCode } : {}) },
          orderBy: { createdAt: 'asc' },
        },
      },
    });
    if (!station) throw notFound('UNKNOWN_STATION', `unknown station ${stationCode}`);
    const device = station.devices[0]?.code;
    if (!device)
      throw conflict(
        'DEVICE_NOT_ENROLLED',
        `station ${stationCode} has no enrolled gateway${deviceCode ? ` ${deviceCode}` : ''} to answer`,
      );
    const txn = randomUUID();
    const cmd = command({ ...input, txn });
    if (cmd.action === 'play-now') await this.assertAirable(cmd.media.sha256);
    const envelope = seal('command', cmd, key.signer, { now: now(), ttlMs: opts.ttlMs ?? COMMAND_TTL_MS });
    const id = `${device}:${txn}`;
    const reply = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DomainError('upstream-timeout', 'COMMAND_TIMEOUT', `no reply from ${device} within ${this.deps.timeoutMs} ms`));
      }, this.deps.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
    try {
      await link.publish(commandTopic(device), JSON.stringify(envelope), { retain: false });
    } catch (err) {
      this.settle(id, { txn, action: cmd.action, ok: false, error: { code: 'NOT_SENT', message: (err as Error).message } });
    }
    return reply;
  }

  /**
   * Signs `input` once and publishes it on the unit's group topic: every enrolled gateway at or below the
   * unit receives it. Returns the txn and the gateways expected to answer; replies() collects them.
   */
  async sendToGroup(
    unitCode: string,
    input: Record<string, unknown>,
    opts: { ttlMs?: number } = {},
  ): Promise<{ txn: string; unit: string; devices: string[] }> {
    const { link, key, now } = this.deps;
    const unit = (await this.deps.units.tree()).get(unitCode);
    const txn = randomUUID();
    const cmd = command({ ...input, txn });
    if (!GROUP_ACTIONS.has(cmd.action))
      throw badRequest('NOT_A_GROUP_ACTION', `${cmd.action} goes to one station; a group carries ${[...GROUP_ACTIONS].join(', ')}`);
    if ('occurrenceId' in cmd && cmd.occurrenceId && cmd.occurrenceId.length > LIMITS.maxGroupOccurrenceIdLength)
      throw badRequest('INVALID_COMMAND', `a group emergency's occurrenceId has at most ${LIMITS.maxGroupOccurrenceIdLength} characters`);
    if (cmd.action === 'emergency.start') await this.assertAirable(cmd.media.sha256);
    const stationIds = (await this.deps.units.stationsBelow([unit.id])).map((st) => st.id);
    const devices = await this.deps.devices.enrolledAt(stationIds);
    const replies = new Map<string, Reply>();
    this.groups.set(txn, replies);
    // Late replies are still worth a log line, not memory forever.
    setTimeout(() => this.groups.delete(txn), this.deps.timeoutMs * 10).unref();
    const envelope = seal('command', cmd, key.signer, { now: now(), ttlMs: opts.ttlMs ?? COMMAND_TTL_MS });
    await link.publish(groupCommandTopic(unit.code), JSON.stringify(envelope), { retain: false });
    return { txn, unit: unit.code, devices };
  }

  /** The replies to a group command so far, by device. */
  replies(txn: string): Map<string, Reply> {
    return new Map(this.groups.get(txn) ?? []);
  }

  /** Airing at once is scheduling too: only an approved item of the library, valid now. */
  private async assertAirable(sha256: string): Promise<void> {
    const media = await this.deps.db.media.findUnique({ where: { sha256 } });
    if (!media) throw notFound('UNKNOWN_MEDIA', `no media item with sha256 ${sha256}`);
    LibraryService.assertSchedulable(media, this.deps.now());
  }

  /**
   * A reply published by a device; resolves the matching pending command. Replies are opened in batches
   * (the devices looked up with one query): a group command brings thousands within a second.
   */
  handleReply(device: string, payload: Buffer): Promise<void> {
    this.inbox.push({ device, payload });
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.openReplies());
    return this.flushing;
  }

  private inbox: { device: string; payload: Buffer }[] = [];
  private flushing?: Promise<void>;

  private async openReplies(): Promise<void> {
    const batch = this.inbox.splice(0);
    this.flushing = undefined;
    const identities = await this.deps.devices.identifyMany([...new Set(batch.map((r) => r.device))]);
    for (const { device, payload } of batch) {
      const opened = this.deps.devices.openAs(identities.get(device), device, payload, 'reply');
      if (!opened.ok) {
        this.deps.log.warn({ device, code: opened.code }, 'reply rejected');
        continue;
      }
      const { txn } = opened.body;
      const group = txn ? this.groups.get(txn) : undefined;
      if (txn && group) {
        group.set(device, opened.body);
        this.events.emit('group-reply', txn, device, opened.body);
        continue;
      }
      if (!txn || !this.settle(`${device}:${txn}`, opened.body)) this.deps.log.warn({ device, txn }, 'reply matches no pending command');
    }
  }

  private settle(id: string, reply: Reply): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    clearTimeout(p.timer);
    this.pending.delete(id);
    p.resolve(reply);
    return true;
  }

  /** Fails every command still waiting, so shutdown does not wait for their timeouts. */
  close(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new DomainError('unavailable', 'SHUTTING_DOWN', 'the server is stopping'));
      this.pending.delete(id);
    }
  }
}
