// Who may do what, where: each role's capabilities, and the unit subtree a user acts within. Routes
// call these before their service; a denial is 403 with a stable code (FORBIDDEN for the role,
// OUT_OF_SCOPE for the place) and happens before anything is written.
import type { Db } from '../db/client.ts';
import type { UnitService } from '../services/unit-service.ts';
import type { AuthUser } from './auth.ts';
import { forbidden, notFound } from './errors.ts';

const OPERATORS = ['province_admin', 'district_operator', 'commune_operator'];

/** Capabilities by role. Everyone signed in may read what lies in their scope. */
export const CAPABILITIES = {
  /** Create schedules, preview them. */
  schedule: OPERATORS,
  /** Remote commands to gateways (volume, stop, play-now, emergency). */
  command: OPERATORS,
  /** Acknowledge and resolve alerts. */
  alerts: OPERATORS,
} as const;
export type Capability = keyof typeof CAPABILITIES;

export function allow(user: AuthUser | undefined, capability: Capability): AuthUser {
  if (!user || !(CAPABILITIES[capability] as readonly string[]).includes(user.role))
    throw forbidden('FORBIDDEN', `role ${user?.role ?? 'none'} may not ${capability}`);
  return user;
}

export class Scopes {
  constructor(private readonly deps: { db: Db; units: UnitService }) {}

  /** Refuses unless every unit lies in the user's subtree (a unit of null is nobody's but a whole-tree user's). */
  async units(user: AuthUser | undefined, unitIds: Iterable<string | null>, what: string): Promise<void> {
    if (!user) throw forbidden('FORBIDDEN', 'not signed in');
    if (user.unitId === null) return;
    const tree = await this.deps.units.tree();
    const mine = new Set(tree.subtree(user.unitId).map((u) => u.id));
    for (const id of unitIds) if (!id || !mine.has(id)) throw forbidden('OUT_OF_SCOPE', `${what} is outside your unit`);
  }

  /** A station the user may act on or read; unknown stations are 404 as before. */
  async station(user: AuthUser | undefined, code: string): Promise<void> {
    const st = await this.deps.db.station.findUnique({ where: { code }, select: { unitId: true } });
    if (!st) throw notFound('UNKNOWN_STATION', `unknown station ${code}`);
    await this.units(user, [st.unitId], `station ${code}`);
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
}
