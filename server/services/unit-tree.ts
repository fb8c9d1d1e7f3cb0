// The administrative tree in memory (~11,000 units for the whole country): lookups by id and code,
// subtrees, the chain to the root, inherited policy.
import type { Unit } from '../db/generated/client.ts';
import { inherit, type Policy, type PolicyRule } from '../scheduling/policy.ts';
import { conflict, notFound } from './errors.ts';

export type UnitRow = Pick<
  Unit,
  'id' | 'code' | 'name' | 'type' | 'level' | 'parentId' | 'policy' | 'endedAt' | 'mergedIntoId' | 'validFrom'
>;

/** An in-memory snapshot of the tree (~11,000 units for the whole country). */
export class UnitTree {
  readonly byId = new Map<string, UnitRow>();
  readonly byCode = new Map<string, UnitRow>();
  private readonly children = new Map<string, UnitRow[]>();

  constructor(rows: UnitRow[]) {
    for (const u of rows) {
      this.byId.set(u.id, u);
      this.byCode.set(u.code, u);
      if (u.parentId) this.children.set(u.parentId, [...(this.children.get(u.parentId) ?? []), u]);
    }
  }

  get(code: string): UnitRow {
    const u = this.byCode.get(code);
    if (!u) throw notFound('UNKNOWN_UNIT', `unknown unit ${code}`);
    return u;
  }

  /** The unit and every unit below it. */
  subtree(id: string): UnitRow[] {
    const out: UnitRow[] = [];
    const stack = [this.byId.get(id)].filter((u): u is UnitRow => Boolean(u));
    while (stack.length) {
      const u = stack.pop() as UnitRow;
      out.push(u);
      stack.push(...(this.children.get(u.id) ?? []));
    }
    return out;
  }

  /** Root first, ending with the unit itself. */
  chain(id: string): UnitRow[] {
    const out: UnitRow[] = [];
    for (let u = this.byId.get(id); u; u = u.parentId ? this.byId.get(u.parentId) : undefined) out.unshift(u);
    return out;
  }

  /** [P-2.5] A unit's code and its ancestors', nearest first (at most 8): a gateway's groups. */
  groups(id: string): string[] {
    return this.chain(id)
      .map((u) => u.code)
      .reverse()
      .slice(0, 8);
  }

  /** Refuses a unit that no longer exists as a target of new work, naming its successor. */
  assertCurrent(u: UnitRow): void {
    if (!u.endedAt) return;
    const successor = u.mergedIntoId ? this.byId.get(u.mergedIntoId)?.code : undefined;
    throw conflict('UNIT_ENDED', `unit ${u.code} ${successor ? `was merged into ${successor}` : 'no longer exists'}`);
  }

  effectivePolicy(id: string): { policy: Policy; source: Partial<Record<PolicyRule, string>> } {
    return inherit(this.chain(id).map((u) => ({ code: u.code, policy: u.policy ? (JSON.parse(u.policy) as Policy) : null })));
  }
}
