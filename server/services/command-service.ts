// [P-5.8] Remote commands: sign and publish a command to one device, then wait for its reply,
// correlated by transaction id and verified with the device's key.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { Command, commandTopic, type Reply, seal } from '#protocol';
import type { Db } from '../db/client.ts';
import type { ServerKey } from '../keys.ts';
import type { Publisher } from '../mqtt/link.ts';
import type { DeviceService } from './device-service.ts';
import { badRequest, conflict, DomainError, notFound } from './errors.ts';
import { LibraryService } from './library-service.ts';

/**
 * What a caller may send: exactly a command's fields, nothing else, at every level (an unknown field is
 * refused, never carried along or ignored).
 */
const StrictCommand = z.discriminatedUnion(
  'action',
  Command.options.map((shape) =>
    z.strictObject(
      Object.fromEntries(
        Object.entries(shape.shape).map(([k, v]) => [k, v instanceof z.ZodObject ? z.strictObject(v.shape) : v]),
      ) as typeof shape.shape,
    ),
  ) as unknown as typeof Command.options,
);

/** [P-4.6] a command lives 60 s. */
const COMMAND_TTL_MS = 60_000;

export interface CommandDeps {
  db: Db;
  devices: DeviceService;
  link: Publisher;
  key: ServerKey;
  now: () => Date;
  timeoutMs: number;
  log: { warn(obj: object, msg: string): void };
}

export class CommandService {
  private readonly pending = new Map<string, { resolve: (reply: Reply) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();

  constructor(private readonly deps: CommandDeps) {}

  /** Sends `input` (a command without txn) to the station's gateway (its first enrolled one unless named) and resolves with the reply. */
  async send(stationCode: string, input: Record<string, unknown>, deviceCode?: string): Promise<Reply> {
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
    const parsed = StrictCommand.safeParse({ ...input, txn });
    if (!parsed.success)
      throw badRequest('INVALID_COMMAND', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    if (parsed.data.action === 'play-now') {
      // Airing at once is scheduling too: only an approved, valid item of the library.
      const media = await db.media.findUnique({ where: { sha256: parsed.data.media.sha256 } });
      if (!media) throw notFound('UNKNOWN_MEDIA', `no media item with sha256 ${parsed.data.media.sha256}`);
      LibraryService.assertSchedulable(media, now());
    }
    const envelope = seal('command', parsed.data, key.signer, { now: now(), ttlMs: COMMAND_TTL_MS });
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
      this.settle(id, { txn, action: parsed.data.action, ok: false, error: { code: 'NOT_SENT', message: (err as Error).message } });
    }
    return reply;
  }

  /** A reply published by a device; resolves the matching pending command. */
  async handleReply(device: string, payload: Buffer): Promise<void> {
    const opened = await this.deps.devices.open(device, payload, 'reply');
    if (!opened.ok) return this.deps.log.warn({ device, code: opened.code }, 'reply rejected');
    const { txn } = opened.body;
    if (!txn || !this.settle(`${device}:${txn}`, opened.body)) {
      this.deps.log.warn({ device, txn }, 'reply matches no pending command');
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
