// The audit log: every state-changing API request and every read of compliance evidence — who, what,
// when, from where, what was asked and what came of it — appended once it is answered. On request the
// gateways' side joins the same timeline: each proof of play, read from the hash-chained proof table
// (not copied, so there is one record of what aired and the chain stays its guarantee). Append-only: the
// table refuses UPDATE and DELETE (triggers in its migration) and nothing here edits a row. Secrets never
// enter it: fields named like a password, token or secret, and values shaped like one, are replaced before
// the row is written. Each row names the units it is about, and a scoped reader sees only those rows.
// Refused requests by nobody signed in are not rows here: they are counted (refused-requests.ts).
import { stringify } from 'csv-stringify/sync';
import type { Db } from '../db/client.ts';
import type { Prisma } from '../db/generated/client.ts';

/** Stored size of the request and response records; longer ones are cut (with a marker). */
const MAX_JSON = 8_000;
/** Fields whose name says they hold a secret. */
const SECRET = /pass(word)?|token|secret|authorization|privatekey/i;
/**
 * Values whose shape says they are a secret, whatever the field is called: otpauth:// URIs (a TOTP seed),
 * API tokens, session and enrollment tokens (32 random bytes, base64url), TOTP seeds (base32), password
 * hashes, PEM keys, bearer headers.
 */
const SECRET_VALUES = [
  /otpauth:\/\//i,
  /^lpt_/,
  /^[A-Za-z0-9_-]{43}$/,
  /^[A-Z2-7]{32}$/,
  /^(scrypt\$|\$7\$|aes256gcm:)/,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /^Bearer\s/i,
];
/** Deeper than this, a recorded value is replaced by a marker (bodies are refused deeper than the parser's limit anyway). */
const MAX_RECORD_DEPTH = 32;
const REDACTED = '[redacted]';

const secretValue = (v: unknown) => typeof v === 'string' && SECRET_VALUES.some((re) => re.test(v));

/**
 * A copy with every secret replaced: by field name, and by value shape at any depth. Iterative, so no
 * input can overflow the stack (a record that cannot be written would leave a change without its row).
 */
export function redact(value: unknown): unknown {
  const scalar = (v: unknown) => (secretValue(v) ? REDACTED : v);
  if (!value || typeof value !== 'object') return scalar(value);
  const root: unknown = Array.isArray(value) ? [] : {};
  const stack: { from: object; to: Record<string, unknown> | unknown[]; depth: number }[] = [
    { from: value, to: root as Record<string, unknown>, depth: 1 },
  ];
  while (stack.length) {
    const { from, to, depth } = stack.pop() as (typeof stack)[number];
    for (const [k, v] of Object.entries(from)) {
      let out: unknown;
      if (!Array.isArray(from) && SECRET.test(k)) out = REDACTED;
      else if (v && typeof v === 'object') {
        if (depth >= MAX_RECORD_DEPTH) out = '[too deep]';
        else {
          out = Array.isArray(v) ? [] : {};
          stack.push({ from: v, to: out as Record<string, unknown>, depth: depth + 1 });
        }
      } else out = scalar(v);
      if (Array.isArray(to)) to[Number(k)] = out;
      else to[k] = out;
    }
  }
  return root;
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
  /** What the request changed, before and after (routes that record it). */
  before?: unknown;
  after?: unknown;
  requestId: string;
  /** The units the request acted on or read (scoped audit reads show a row to readers of these units). */
  units: string[];
}

export interface AuditQuery {
  from?: Date;
  to?: Date;
  user?: string;
  route?: string;
  /** Also the gateways' side: each proof of play, in the same timeline (read from the proof chain). */
  gateways?: boolean;
  limit: number;
  offset: number;
  /** A scoped reader's units: only rows about them, and proofs of their stations (absent = everything). */
  scope?: Set<string> | null;
}

/** One row of the timeline: an API request, or a gateway's proof of play. */
export interface AuditRow {
  source: 'api' | 'gateway';
  seq: number | null;
  at: Date;
  username: string | null;
  role: string | null;
  ip: string;
  action: string;
  params: string | null;
  request: string | null;
  status: number;
  response: string | null;
  before: string | null;
  after: string | null;
  requestId: string;
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
        before: record(e.before),
        after: record(e.after),
        requestId: e.requestId,
        units: { create: [...new Set(e.units)].map((unitId) => ({ unitId })) },
      },
    });
  }

  async list(q: AuditQuery): Promise<{ total: number; items: AuditRow[] }> {
    const { db } = this.deps;
    const at = q.from || q.to ? { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lt: q.to } : {}) } : undefined;
    const where: Prisma.AuditEventWhereInput = {
      ...(at ? { at } : {}),
      ...(q.user ? { username: q.user } : {}),
      ...(q.route ? { action: { contains: q.route } } : {}),
      ...(q.scope ? { units: { some: { unitId: { in: [...q.scope] } } } } : {}),
    };
    // Both sides are read up to the end of the page and merged by time (pages stay cheap near the start
    // of a range, which is how the log is read: narrow the range, then page).
    const take = q.offset + q.limit;
    const [total, rows] = await Promise.all([
      db.auditEvent.count({ where }),
      db.auditEvent.findMany({
        where,
        orderBy: [{ at: 'asc' }, { seq: 'asc' }],
        take: q.gateways ? take : q.limit,
        skip: q.gateways ? 0 : q.offset,
      }),
    ]);
    const api: AuditRow[] = rows.map((r) => ({ source: 'api', ...r }));
    if (!q.gateways) return { total, items: api };
    // A proof's action reads "MQTT report <kind>", so the route filter matches it as it matches requests.
    const kind = q.route?.match(/^(?:MQTT(?: report)?)?\s*(\S*)$/i);
    if (q.route && !kind) return { total, items: api.slice(q.offset, take) };
    const proofsWhere: Prisma.PlaybackReportWhereInput = {
      ...(at ? { receivedAt: at } : {}),
      ...(q.user || q.scope
        ? { station: { ...(q.user ? { code: q.user } : {}), ...(q.scope ? { unitId: { in: [...q.scope] } } : {}) } }
        : {}),
      ...(kind?.[1] ? { kind: { contains: kind[1].replace(/^playback\./, '') } } : {}),
    };
    const [proofTotal, proofs] = await Promise.all([
      db.playbackReport.count({ where: proofsWhere }),
      db.playbackReport.findMany({
        where: proofsWhere,
        include: { station: { select: { code: true } } },
        orderBy: [{ receivedAt: 'asc' }, { chainSeq: 'asc' }, { id: 'asc' }],
        take,
      }),
    ]);
    const gateway: AuditRow[] = proofs.map((p) => ({
      source: 'gateway',
      seq: null,
      at: p.receivedAt,
      username: p.station.code,
      role: 'gateway',
      ip: '',
      action: `MQTT report playback.${p.kind}`,
      params: JSON.stringify({ station: p.station.code, occurrenceId: p.occurrenceId, sha256: p.sha256 }),
      request: record(JSON.parse(p.raw)),
      status: 200,
      response: JSON.stringify({ playedMs: p.playedMs, chainDay: p.chainDay, chainSeq: p.chainSeq, chainHash: p.chainHash }),
      before: null,
      after: null,
      requestId: p.id,
    }));
    const items = [...api, ...gateway].sort(
      (a, b) => a.at.getTime() - b.at.getTime() || (a.source === b.source ? 0 : a.source === 'api' ? -1 : 1),
    );
    return { total: total + proofTotal, items: items.slice(q.offset, take) };
  }

  async csv(q: AuditQuery): Promise<string> {
    const { items } = await this.list(q);
    const cols = [
      'at',
      'source',
      'username',
      'role',
      'ip',
      'action',
      'status',
      'params',
      'request',
      'response',
      'before',
      'after',
      'requestId',
    ] as const;
    return `\uFEFF${stringify([cols as unknown as string[], ...items.map((i) => cols.map((c) => (c === 'at' ? i.at.toISOString() : (i[c] ?? ''))))])}`;
  }
}
