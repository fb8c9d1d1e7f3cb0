// The audit log: every state-changing API request — who, what, when, from where, what was asked and what
// came of it — appended once it is answered. Append-only: the table refuses UPDATE and DELETE (triggers in
// its migration) and nothing here edits a row. Secrets never enter it: any field named like a password,
// token or secret is replaced before the row is written.
import { stringify } from 'csv-stringify/sync';
import type { Db } from '../db/client.ts';
import type { Prisma } from '../db/generated/client.ts';

/** Stored size of the request and response records; longer ones are cut (with a marker). */
const MAX_JSON = 8_000;
const SECRET = /pass(word)?|token|secret|authorization|privatekey/i;

/** A copy with every secret-looking field replaced, however deep. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET.test(k) ? '[redacted]' : redact(v)]));
  return value;
}

const record = (value: unknown): string | null => {
  if (value === undefined || value === null) return null;
  const text = JSON.stringify(redact(value));
  return text.length > MAX_JSON ? `${text.slice(0, MAX_JSON)}…[cut]` : text;
};

export interface AuditEntry {
  at: Date;
  user: { id: string; username: string; role: string } | null;
  ip: string;
  method: string;
  /** The route pattern, e.g. /api/v1/schedules/:id. */
  route: string;
  params: unknown;
  request: unknown;
  status: number;
  response: unknown;
  requestId: string;
}

export interface AuditQuery {
  from?: Date;
  to?: Date;
  user?: string;
  route?: string;
  limit: number;
  offset: number;
}

export class AuditService {
  constructor(private readonly deps: { db: Db }) {}

  async append(e: AuditEntry): Promise<void> {
    await this.deps.db.auditEvent.create({
      data: {
        at: e.at,
        userId: e.user?.id ?? null,
        username: e.user?.username ?? null,
        role: e.user?.role ?? null,
        ip: e.ip,
        action: `${e.method} ${e.route}`,
        params: record(e.params),
        request: record(e.request),
        status: e.status,
        response: record(e.response),
        requestId: e.requestId,
      },
    });
  }

  async list(q: AuditQuery) {
    const where: Prisma.AuditEventWhereInput = {
      ...(q.from || q.to ? { at: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lt: q.to } : {}) } } : {}),
      ...(q.user ? { username: q.user } : {}),
      ...(q.route ? { action: { contains: q.route } } : {}),
    };
    const [total, items] = await Promise.all([
      this.deps.db.auditEvent.count({ where }),
      this.deps.db.auditEvent.findMany({ where, orderBy: [{ at: 'asc' }, { seq: 'asc' }], take: q.limit, skip: q.offset }),
    ]);
    return { total, items };
  }

  async csv(q: AuditQuery): Promise<string> {
    const { items } = await this.list(q);
    const cols = ['at', 'username', 'role', 'ip', 'action', 'status', 'params', 'request', 'response', 'requestId'] as const;
    return `\uFEFF${stringify([cols as unknown as string[], ...items.map((i) => cols.map((c) => (c === 'at' ? i.at.toISOString() : (i[c] ?? ''))))])}`;
  }
}
