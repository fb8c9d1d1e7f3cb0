// [P-3.10] Group plans: what every station below a unit airs alike (a district programme) travels once,
// signed once, on the unit's retained `plan` topic; a device manifest names the group plans its device
// must hold and the entries of them it must not air. Additive in v1: a device that never says it holds
// group plans keeps getting complete manifests.

import { code, isoInstant } from './fields.ts';
import { LIMITS } from './limits.ts';
import { ManifestEntry, sha256Hex } from './plan-entries.ts';
import * as z from './zod.ts';

/** The id an entry of a group plan carries: short, so that `{occurrenceId}@{station}` fits in 64. */
const groupEntryId = z.string().check(z.regex(/^[A-Za-z0-9_-]+$/), z.maxLength(LIMITS.maxGroupOccurrenceIdLength));

/**
 * [P-3.10] The plan of one unit: versions rise by one per change and each replaces the previous. Each
 * entry airs at each station as `{occurrenceId}@{station}`, the id its reports carry.
 */
export const GroupPlan = z.object({
  unit: code,
  version: z.int().check(z.positive()),
  generatedAt: isoInstant,
  horizonUntil: isoInstant,
  entries: z.array(z.extend(ManifestEntry, { occurrenceId: groupEntryId })).check(z.maxLength(LIMITS.maxManifestEntries)),
});
export type GroupPlan = z.infer<typeof GroupPlan>;

/**
 * [P-3.10] A group plan a device must hold, as its manifest names it: this version or a later one (the
 * group's own topic brings later ones without a new manifest), `sha256` being the RFC 8785 form of this
 * version's body; `except` lists the entries (by their group id) this station must not air.
 */
export const GroupPlanRef = z.object({
  unit: code,
  version: z.int().check(z.positive()),
  sha256: sha256Hex,
  except: z.optional(z.array(groupEntryId).check(z.maxLength(LIMITS.maxManifestEntries))),
});
export type GroupPlanRef = z.infer<typeof GroupPlanRef>;

/** [P-3.10] In an ack: a group plan the device holds and airs from now. */
export const GroupPlanHeld = z.object({ unit: code, version: z.int().check(z.positive()) });
export type GroupPlanHeld = z.infer<typeof GroupPlanHeld>;

/** [P-3.10] How many group plans one manifest may name: one per unit a station lies below. */
export const MAX_GROUP_PLANS = 8;
