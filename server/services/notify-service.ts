// Alerts pushed out to the people on duty: per channel (an e-mail address, or a signed webhook for the SMS
// or Zalo gateway a province already runs) the new and repeated alerts of its unit's stations, gathered
// into one digest at most every `minIntervalMs`, so an outage of 100 stations is one message, not 100.
// A failed send keeps its alerts for the next try.
import { createHmac, randomBytes } from 'node:crypto';
import type { Db } from '../db/client.ts';
import { badRequest, notFound } from './errors.ts';
import { alertView, STATION_PLACE } from './health-service.ts';
import type { UnitService } from './unit-service.ts';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface NotifyDeps {
  db: Db;
  now: () => Date;
  units: UnitService;
  /** Sends one e-mail (nodemailer's SMTP transport in the server); throws when it cannot. */
  sendMail: (mail: Mail) => Promise<void>;
  fetch: typeof fetch;
  minIntervalMs: number;
  log: { warn(obj: object, msg: string): void };
}

/** Listed in one message; the count says how many there are in all. */
const MAX_LISTED = 50;
export const SIGNATURE_HEADER = 'x-loaphuong-signature';
export const TIMESTAMP_HEADER = 'x-loaphuong-timestamp';

/** The webhook signature: HMAC-SHA256 over "<timestamp>.<body>" with the channel's secret, hex. */
export const webhookSignature = (secret: string, timestamp: string, body: string) =>
  `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;

export class NotifyService {
  private running = false;
  constructor(private readonly deps: NotifyDeps) {}

  async create(input: { kind: 'email' | 'webhook'; address: string; unitCode: string | null; userId?: string }) {
    const { db, now } = this.deps;
    if (input.kind === 'webhook' && !/^https?:\/\//.test(input.address))
      throw badRequest('INVALID_WEBHOOK', 'a webhook address is an http(s) URL');
    if (input.kind === 'email' && !/^[^\s@]+@[^\s@]+$/.test(input.address)) throw badRequest('INVALID_EMAIL', 'not an e-mail address');
    const unit = input.unitCode ? (await this.deps.units.tree()).get(input.unitCode) : null;
    const secret = input.kind === 'webhook' ? randomBytes(32).toString('base64url') : null;
    const row = await db.notificationChannel.create({
      data: { kind: input.kind, address: input.address, unitId: unit?.id ?? null, secret, createdById: input.userId, cursor: now() },
      include: { unit: { select: { code: true, name: true } } },
    });
    return { ...view(row), ...(secret ? { secret } : {}) };
  }

  async list(unitIds: Set<string> | null) {
    const rows = await this.deps.db.notificationChannel.findMany({
      where: unitIds ? { unitId: { in: [...unitIds] } } : {},
      include: { unit: { select: { code: true, name: true } } },
      orderBy: { createdAt: 'asc' },
    });
    return rows.map(view);
  }

  async unitOf(id: string): Promise<string | null> {
    const row = await this.deps.db.notificationChannel.findUnique({ where: { id }, select: { unitId: true } });
    if (!row) throw notFound('UNKNOWN_CHANNEL', `unknown notification channel ${id}`);
    return row.unitId;
  }

  async remove(id: string): Promise<void> {
    await this.deps.db.notificationChannel.delete({ where: { id } });
  }

  /** One pass: every channel whose interval has passed gets one digest of what is new to it. Never overlaps itself. */
  async tick(): Promise<{ sent: number; failed: number }> {
    if (this.running) return { sent: 0, failed: 0 };
    this.running = true;
    try {
      const { db, now } = this.deps;
      const at = now();
      let sent = 0;
      let failed = 0;
      const tree = await this.deps.units.tree();
      for (const ch of await db.notificationChannel.findMany()) {
        if (ch.lastSentAt && at.getTime() - ch.lastSentAt.getTime() < this.deps.minIntervalMs) continue;
        const units = ch.unitId ? tree.subtree(ch.unitId).map((u) => u.id) : null;
        const where = { lastAt: { gt: ch.cursor, lte: at }, ...(units ? { station: { unitId: { in: units } } } : {}) };
        const [total, alerts] = await Promise.all([
          db.alert.count({ where }),
          db.alert.findMany({ where, include: { station: STATION_PLACE }, orderBy: { lastAt: 'asc' }, take: MAX_LISTED }),
        ]);
        if (!total) continue;
        const views = alerts.map((a) => alertView(a.station)(a));
        const unitName = ch.unitId ? (tree.byId.get(ch.unitId)?.name ?? '') : 'toàn tỉnh';
        try {
          if (ch.kind === 'email') await this.deps.sendMail(mail(ch.address, unitName, total, views));
          else
            await this.post(ch.address, ch.secret ?? '', {
              type: 'alerts',
              sentAt: at.toISOString(),
              unit: unitName,
              total,
              alerts: views,
            });
          await db.notificationChannel.update({
            where: { id: ch.id },
            data: { cursor: at, lastSentAt: at, lastError: null, sent: { increment: 1 } },
          });
          sent++;
        } catch (err) {
          failed++;
          this.deps.log.warn({ err, channel: ch.id }, 'sending alerts failed; kept for the next try');
          // The alerts stay new to the channel; it is tried again after the interval, not at every tick.
          await db.notificationChannel.update({
            where: { id: ch.id },
            data: { lastSentAt: at, lastError: String((err as Error).message).slice(0, 500) },
          });
        }
      }
      return { sent, failed };
    } finally {
      this.running = false;
    }
  }

  private async post(url: string, secret: string, payload: object): Promise<void> {
    const body = JSON.stringify(payload);
    const timestamp = String(Math.floor(this.deps.now().getTime() / 1000));
    const res = await this.deps.fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`the webhook answered ${res.status}`);
  }
}

function mail(to: string, unitName: string, total: number, alerts: { messageVi: string }[]): Mail {
  const more = total > alerts.length ? `\n… và ${total - alerts.length} cảnh báo khác.` : '';
  return {
    to,
    subject: `[Truyền thanh cơ sở] ${total} cảnh báo mới (${unitName})`,
    text: `${total} cảnh báo mới hoặc lặp lại tại ${unitName}:\n\n${alerts.map((a) => `- ${a.messageVi}`).join('\n')}${more}\n\nXem và xử lý trong trang Cảnh báo của bảng điều khiển.\n`,
  };
}

type Row = {
  id: string;
  kind: string;
  address: string;
  unit: { code: string; name: string } | null;
  createdAt: Date;
  lastSentAt: Date | null;
  lastError: string | null;
  sent: number;
};
const view = (r: Row) => ({
  id: r.id,
  kind: r.kind,
  address: r.address,
  unitCode: r.unit?.code ?? null,
  unitName: r.unit?.name ?? null,
  createdAt: r.createdAt,
  lastSentAt: r.lastSentAt,
  lastError: r.lastError,
  sent: r.sent,
});
