// [P-3.10] The hash a manifest names a group plan version by: sha256 of its body's RFC 8785 form, in hex.
import { createHash } from 'node:crypto';
import { canonicalJson } from './envelope.ts';
import type { GroupPlan } from './group-plans.ts';

export const groupPlanHash = (plan: GroupPlan): string => createHash('sha256').update(canonicalJson(plan), 'utf8').digest('hex');
