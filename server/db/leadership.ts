// Which server process does the work that must be done once: the recurring work (proof windows closed,
// recurring schedules extended, alerts pushed out, plans republished) and the ingest of what gateways send
// (proofs, heartbeats, availability, acknowledgements). A SQLite database has one server process: always
// the leader. On PostgreSQL the leader is the process that holds a session-level advisory lock on a
// connection of its own. When that process dies, PostgreSQL ends the session and frees the lock, and another
// process takes it at its next try (every `retryMs`); a leader whose connection fails stops leading at once.
import pg from 'pg';
import type { DbTarget } from './client.ts';

export interface Leadership {
  /** Whether this process leads now. */
  readonly leader: boolean;
  /** Called with each change (and not at registration). */
  onChange(fn: (leader: boolean) => void): void;
  stop(): Promise<void>;
}

/** Any fixed number, the same in every loaphuong process (the migration lock uses another). */
const LEADER_LOCK = 7_207_116_002;

type Log = { info(o: object, msg: string): void; warn(o: object, msg: string): void };

export async function openLeadership(target: DbTarget, log: Log, retryMs = 2000): Promise<Leadership> {
  if (target.dialect === 'sqlite') return { leader: true, onChange() {}, stop: async () => {} };
  const listeners: ((leader: boolean) => void)[] = [];
  let leader = false;
  let client: pg.Client | undefined;
  let stopped = false;
  const set = (now: boolean) => {
    if (now === leader) return;
    leader = now;
    log.info({ leader }, now ? 'this process leads: recurring work and ingest' : 'this process no longer leads');
    for (const fn of listeners) fn(now);
  };
  const attempt = async () => {
    if (stopped || leader) return;
    try {
      if (!client) {
        const c = new pg.Client({ connectionString: target.url });
        c.on('error', (err) => {
          log.warn({ err: err.message }, 'leadership connection lost');
          if (client === c) client = undefined;
          set(false);
        });
        await c.connect();
        client = c;
      }
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LEADER_LOCK]);
      if (r.rows[0]?.ok) set(true);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'leadership: no answer from the database');
      await client?.end().catch(() => {});
      client = undefined;
      set(false);
    }
  };
  await attempt();
  const timer = setInterval(() => void attempt(), retryMs);
  timer.unref();
  return {
    get leader() {
      return leader;
    },
    onChange: (fn) => listeners.push(fn),
    stop: async () => {
      // No change announced: a stopping leader keeps its ingest subscriptions, so its persistent session
      // still queues for it until another process takes over.
      stopped = true;
      clearInterval(timer);
      await client?.end().catch(() => {});
    },
  };
}
