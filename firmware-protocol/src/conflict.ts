// [P-5.10] What happens when an item is due while another plays. One function, used by the server's
// overlap preview and by devices at airtime, so both always agree.
import type { ConflictRule, Priority } from './messages.ts';

const RANK: Record<Priority, number> = { normal: 0, priority: 1, emergency: 2 };

export type Resolution = 'preempt' | 'queue' | 'skip';

/**
 * The outcome for `due` meeting `playing`, which would end `waitMs` after `due` is due: a higher class
 * preempts, a lower class waits (or is skipped when its rule is skip), equal classes follow the due
 * item's own rule. Waiting is possible only within the due item's slack (`latestStartAt` − `startsAt`;
 * 0 for a hard start); past it the item is skipped.
 */
export function resolveConflict(
  due: { priority: Priority; conflict?: ConflictRule; slackMs?: number },
  playing: { priority: Priority },
  waitMs: number,
): Resolution {
  const rule = due.conflict ?? 'queue';
  const diff = RANK[due.priority] - RANK[playing.priority];
  if (diff > 0) return 'preempt';
  const wanted: Resolution = diff < 0 ? (rule === 'skip' ? 'skip' : 'queue') : rule;
  return wanted === 'queue' && waitMs > (due.slackMs ?? 0) ? 'skip' : wanted;
}
