// The library workflow: draft → submitted → approved | rejected → archived. Only approved items that
// are valid at their airtime can be scheduled; the approver is never the author; every step is recorded.
import type { Db } from '../db/client.ts';
import type { Prisma } from '../db/generated/client.ts';
import { fold, searchTextOf } from '../library/fold.ts';
import { badRequest, DomainError, forbidden, notFound } from './errors.ts';
import type { AuthUser } from './user-service.ts';

export const CATEGORIES = ['news', 'policy', 'emergency', 'announcement', 'music'] as const;
export const STATUSES = ['draft', 'submitted', 'approved', 'rejected', 'archived'] as const;
export type Status = (typeof STATUSES)[number];
export type Action = 'submit' | 'approve' | 'reject' | 'archive';

/** Which action moves an item from which states, and to what. */
const TRANSITIONS: Record<Action, { from: Status[]; to: Status }> = {
  submit: { from: ['draft', 'rejected'], to: 'submitted' },
  approve: { from: ['submitted'], to: 'approved' },
  reject: { from: ['submitted'], to: 'rejected' },
  archive: { from: ['draft', 'submitted', 'approved', 'rejected'], to: 'archived' },
};
const APPROVER_ROLES = new Set(['approver', 'province_admin']);
const EDITABLE: Status[] = ['draft', 'rejected'];
const WITH_UNIT = { unit: { select: { code: true } } } as const;

export interface MetadataInput {
  title?: string;
  description?: string;
  category?: (typeof CATEGORIES)[number];
  tags?: string[];
  unitCode?: string | null;
  validFrom?: Date | null;
  validUntil?: Date | null;
}

export interface SearchInput {
  q?: string;
  status?: Status;
  category?: string;
  unitCode?: string;
  from?: Date;
  to?: Date;
  limit: number;
  offset: number;
}

type SchedulableItem = { id: string; status: string; validFrom: Date | null; validUntil: Date | null; durationMs: number };

export class LibraryService {
  constructor(
    private readonly deps: {
      db: Db;
      now: () => Date;
      /** Called when an approved item is withdrawn, so stations that would air it get new plans. */
      /** An approved item left the library (archived, or rejected after approval): cancels its airings to come, says how many. */
      onWithdrawn?: (mediaId: string) => Promise<number>;
    },
  ) {}

  async update(id: string, input: MetadataInput) {
    const { db } = this.deps;
    const item = await db.media.findUnique({ where: { id } });
    if (!item) throw notFound('UNKNOWN_MEDIA', `unknown media ${id}`);
    if (!EDITABLE.includes(item.status as Status)) {
      throw new DomainError('conflict', 'NOT_EDITABLE', `a ${item.status} item cannot be edited; only draft or rejected items can`);
    }
    const validFrom = input.validFrom === undefined ? item.validFrom : input.validFrom;
    const validUntil = input.validUntil === undefined ? item.validUntil : input.validUntil;
    if (validFrom && validUntil && validUntil <= validFrom) throw badRequest('INVALID_VALIDITY', 'validUntil must be after validFrom');
    let unitId: string | null | undefined;
    if (input.unitCode !== undefined) {
      unitId = input.unitCode === null ? null : (await db.unit.findUnique({ where: { code: input.unitCode } }))?.id;
      if (unitId === undefined) throw notFound('UNKNOWN_UNIT', `unknown unit ${input.unitCode}`);
    }
    const title = input.title ?? item.title;
    const description = input.description ?? item.description;
    const tags = input.tags ?? (JSON.parse(item.tags) as string[]);
    return db.media.update({
      where: { id },
      include: WITH_UNIT,
      data: {
        title,
        description,
        tags: JSON.stringify(tags),
        category: input.category,
        unitId,
        validFrom,
        validUntil,
        searchText: searchTextOf({ title, description, tags }),
      },
    });
  }

  async transition(id: string, action: Action, user: AuthUser, reason?: string) {
    const { db, now } = this.deps;
    const item = await db.media.findUnique({ where: { id } });
    if (!item) throw notFound('UNKNOWN_MEDIA', `unknown media ${id}`);
    const rule = TRANSITIONS[action];
    if (!rule.from.includes(item.status as Status)) {
      throw new DomainError('conflict', 'INVALID_TRANSITION', `cannot ${action} a ${item.status} item`);
    }
    if (action === 'approve' || action === 'reject') {
      if (!APPROVER_ROLES.has(user.role)) throw forbidden('NOT_APPROVER', `role ${user.role} cannot ${action}`);
      if (item.createdById === user.id) throw forbidden('SELF_APPROVAL', 'the author of an item cannot approve or reject it');
    }
    if (action === 'reject' && !reason?.trim()) throw badRequest('REASON_REQUIRED', 'a rejection needs a reason');
    const at = now();
    // The status check is repeated in the update itself, so two concurrent approvals cannot both pass.
    const [updated] = await db.$transaction([
      db.media.update({ where: { id, status: item.status }, include: WITH_UNIT, data: { status: rule.to, statusReason: reason ?? null } }),
      db.mediaTransition.create({ data: { mediaId: id, from: item.status, to: rule.to, byId: user.id, reason, at } }),
    ]);
    const cancelledAirings = item.status === 'approved' && rule.to !== 'approved' ? ((await this.deps.onWithdrawn?.(id)) ?? 0) : 0;
    return { ...updated, cancelledAirings };
  }

  history(id: string) {
    return this.deps.db.mediaTransition.findMany({
      where: { mediaId: id },
      orderBy: { at: 'asc' },
      include: { by: { select: { username: true } } },
    });
  }

  /** The unit that owns an item (null: the province), or null when there is no such item. */
  owner(id: string) {
    return this.deps.db.media.findUnique({ where: { id }, select: { unitId: true } });
  }

  /** One item with its unit's code; UNKNOWN_MEDIA when there is none. */
  async get(id: string) {
    const item = await this.deps.db.media.findUnique({ where: { id }, include: WITH_UNIT });
    if (!item) throw notFound('UNKNOWN_MEDIA', `unknown media ${id}`);
    return item;
  }

  /** A page of the items matching `where` (see where()), newest first. */
  async search(where: Prisma.MediaWhereInput, page: { limit: number; offset: number }) {
    const { db } = this.deps;
    const [total, rows] = await Promise.all([
      db.media.count({ where }),
      db.media.findMany({ where, include: WITH_UNIT, orderBy: { createdAt: 'desc' }, take: page.limit, skip: page.offset }),
    ]);
    return { total, rows };
  }

  where(input: SearchInput): Prisma.MediaWhereInput {
    const words = input.q ? fold(input.q).split(' ').filter(Boolean).slice(0, 10) : [];
    return {
      // A live broadcast's airings have a media row of status "live": not a library item ([P-5.6]).
      status: input.status ?? { not: 'live' },
      ...(input.category ? { category: input.category } : {}),
      ...(input.unitCode ? { unit: { code: input.unitCode } } : {}),
      ...(input.from || input.to
        ? { createdAt: { ...(input.from ? { gte: input.from } : {}), ...(input.to ? { lt: input.to } : {}) } }
        : {}),
      ...(words.length ? { AND: words.map((w) => ({ searchText: { contains: w } })) } : {}),
    };
  }

  /** Throws unless the item may air from `startsAt` for its whole duration ([DESIGN §1]: never stale). */
  static assertSchedulable(item: SchedulableItem, startsAt: Date) {
    const refusal = LibraryService.whyNotSchedulable(item, startsAt);
    if (refusal) throw refusal;
  }

  /** Why an item may not air at `startsAt` (not approved, outside its validity window), or undefined when it may. */
  static whyNotSchedulable(item: SchedulableItem, startsAt: Date): DomainError | undefined {
    if (item.status !== 'approved')
      return new DomainError('conflict', 'MEDIA_NOT_APPROVED', `media ${item.id} is ${item.status}; only approved items can be scheduled`);
    if (item.validFrom && startsAt < item.validFrom)
      return new DomainError('conflict', 'MEDIA_NOT_VALID', `media ${item.id} is valid from ${item.validFrom.toISOString()}`);
    if (item.validUntil && startsAt.getTime() + item.durationMs > item.validUntil.getTime())
      return new DomainError('conflict', 'MEDIA_NOT_VALID', `media ${item.id} is valid until ${item.validUntil.toISOString()}`);
    return undefined;
  }
}
