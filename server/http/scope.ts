// Who may do what, where: each role's capabilities, and the unit subtree a user acts within. Routes
// call these before their service; a denial is 403 with a stable code (FORBIDDEN for the role,
// OUT_OF_SCOPE for the place) and happens before anything is written.
//
// Places: a station, device, alert or report belongs to a unit, and a scoped user reaches the units of
// their subtree. Content (library items, playlists) is owned by a unit: a user edits what their subtree
// owns and sees that plus what the units above them own and what nobody owns (province-wide content is
// meant for every station below it). Lists are filtered to the scope; a single thing outside it is refused.
import type { FastifyRequest } from 'fastify';
import type { Db } from '../db/client.ts';
import { forbidden, notFound } from '../services/errors.ts';
import type { UnitService } from '../services/unit-service.ts';
import type { AuthUser } from './auth.ts';

const OPERATORS = ['province_admin', 'district_operator', 'commune_operator'];

/** Capabilities by role. Everyone signed in may read what lies in their scope. */
export const CAPABILITIES = {
  /** Create schedules, preview them. */
  schedule: OPERATORS,
  /** Remote commands to gateways (volume, stop, play-now, emergency). */
  command: OPERATORS,
  /** Acknowledge and resolve alerts. */
  alerts: OPERATORS,
  /** Upload, speak (TTS), edit, submit and archive library items; build playlists. */
  content: [...OPERATORS, 'editor', 'integration'],
  /** Station metadata, gateways: provisioning, enrollment tokens, revocation. */
  stations: ['province_admin', 'district_operator'],
  /** The administrative tree and its broadcast policies; user accounts. */
  administer: ['province_admin'],
  /** Read the audit log. */
  audit: ['province_admin', 'auditor'],
} as const;
export type Capability = keyof typeof CAPABILITIES;

export function allow(user: AuthUser | undefined, capability: Capability): AuthUser {
  if (!user || !(CAPABILITIES[capability] as readonly string[]).includes(user.role))
    throw forbidden('FORBIDDEN', `role ${user?.role ?? 'none'} may not ${capability}`);
  return user;
}

/** A pre-handler (after the auth one) refusing users whose role lacks the capability. */
export function requireCapability(capability: Capability) {
  return async (request: FastifyRequest) => {
    allow(request.user, capability);
  };
}

/** The units each request's scope checks named (by its user object, one per request): what its audit row is about. */
const touched = new WeakMap<AuthUser, Set<string>>();

/** The units a request acted on or read: those its scope checks named, else the user's own unit. */
export function auditUnits(user: AuthUser | undefined): string[] {
  if (!user) return [];
  const units = touched.get(user);
  if (units?.size) return [...units];
  return user.unitId ? [user.unitId] : [];
}

/** Something owned by a unit (null = nobody's, i.e. the province's). */
interface Owned {
  unitId: string | null;
}

export class Scopes {
  constructor(private readonly deps: { db: Db; units: UnitService }) {}

  /** The ids of the units a user acts within, or null for a whole-tree user. */
  async subtree(user: AuthUser | undefined): Promise<Set<string> | null> {
    if (!user) throw forbidden('FORBIDDEN', 'not signed in');
    if (user.unitId === null) return null;
    const tree = await this.deps.units.tree();
    return new Set(tree.subtree(user.unitId).map((u) => u.id));
  }

  /** The ids of a unit's subtree, by code. */
  async subtreeOf(code: string): Promise<string[]> {
    const tree = await this.deps.units.tree();
    return tree.subtree(tree.get(code).id).map((u) => u.id);
  }

  /** Refuses unless every unit lies in the user's subtree (a unit of null is nobody's but a whole-tree user's). */
  async units(user: AuthUser | undefined, unitIds: Iterable<string | null>, what: string): Promise<void> {
    const ids = [...unitIds];
    if (user) {
      const seen = touched.get(user) ?? new Set<string>();
      for (const id of ids) if (id) seen.add(id);
      touched.set(user, seen);
    }
    const mine = await this.subtree(user);
    if (!mine) return;
    for (const id of ids) if (!id || !mine.has(id)) throw forbidden('OUT_OF_SCOPE', `${what} is outside your unit`);
  }

  /** A Prisma filter keeping rows whose `unitId` lies in the user's subtree ({} for a whole-tree user). */
  async unitFilter(user: AuthUser | undefined): Promise<{ unitId?: { in: string[] } }> {
    const mine = await this.subtree(user);
    return mine ? { unitId: { in: [...mine] } } : {};
  }

  /** A station the user may act on or read; unknown stations are 404 as before. */
  async station(user: AuthUser | undefined, code: string): Promise<void> {
    const st = await this.deps.db.station.findUnique({ where: { code }, select: { unitId: true } });
    if (!st) throw notFound('UNKNOWN_STATION', `unknown station ${code}`);
    await this.units(user, [st.unitId], `station ${code}`);
  }

  /** A gateway, through its station. */
  async device(user: AuthUser | undefined, code: string): Promise<void> {
    const d = await this.deps.db.device.findUnique({ where: { code }, select: { station: { select: { unitId: true } } } });
    if (!d) throw notFound('UNKNOWN_DEVICE', `unknown device ${code}`);
    await this.units(user, [d.station.unitId], `device ${code}`);
  }

  /** The unit a report or list covers: the one asked for, which must lie in scope, else the user's own. */
  async unit(user: AuthUser | undefined, code: string | undefined): Promise<string | undefined> {
    if (!user) throw forbidden('FORBIDDEN', 'not signed in');
    const tree = await this.deps.units.tree();
    if (code !== undefined) {
      await this.units(user, [tree.get(code).id], `unit ${code}`);
      return code;
    }
    return user.unitId === null ? undefined : tree.byId.get(user.unitId)?.code;
  }

  /** The owning units whose content the user sees (null = all): their subtree and the units above it. */
  async contentUnits(user: AuthUser | undefined): Promise<string[] | null> {
    const mine = await this.subtree(user);
    if (!mine || !user?.unitId) return null;
    const tree = await this.deps.units.tree();
    return [...new Set([...mine, ...tree.chain(user.unitId).map((u) => u.id)])];
  }

  /** A Prisma filter for content the user sees: owned by a visible unit, or by nobody. */
  async contentFilter(user: AuthUser | undefined): Promise<{ OR?: ({ unitId: null } | { unitId: { in: string[] } })[] }> {
    const units = await this.contentUnits(user);
    return units ? { OR: [{ unitId: null }, { unitId: { in: units } }] } : {};
  }

  /** A Prisma filter for content the user may change (and approve): owned by their own subtree. */
  async editFilter(user: AuthUser | undefined): Promise<{ unitId?: { in: string[] } }> {
    const mine = await this.subtree(user);
    return mine ? { unitId: { in: [...mine] } } : {};
  }

  /**
   * Content the user may use: read it, schedule it, put it in a playlist ('use'), or change it
   * ('edit': only what their own subtree owns). Content out of sight answers 404 like unknown content,
   * so ids of other communes' drafts are not confirmed.
   */
  async content(user: AuthUser | undefined, item: Owned, mode: 'use' | 'edit', what: string, unknown: () => Error): Promise<void> {
    const visible = await this.contentUnits(user);
    if (visible && item.unitId !== null && !visible.includes(item.unitId)) throw unknown();
    if (mode === 'edit') await this.units(user, [item.unitId], what);
  }
}
