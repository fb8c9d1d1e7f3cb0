// Every station's state as it changes, for the console's live map and list: the ingest, the sweep and the
// alert workflow say which stations changed; their states are read once and pushed to every stream whose
// user may see them. A stream is one browser's (one per session): a new one from the same session ends the old.
import type { Db } from '../db/client.ts';

/** What the map colours a station by: offline wins, then playing now, then an open alert, else online. */
export type LiveState = 'offline' | 'playing' | 'alert' | 'online';

export interface LiveStation {
  code: string;
  name: string;
  unitCode: string;
  unitName: string;
  latitude: number | null;
  longitude: number | null;
  online: boolean;
  lastSeenAt: Date | null;
  state: LiveState;
  /** The airing playing now: its start proof came and no verdict yet, window still open. */
  playing: { occurrenceId: string; title: string; priority: string; startedAt: Date | null } | null;
  /** Alerts not resolved (new or acknowledged). */
  alerts: number;
}

export interface LiveStream {
  /** The units the stream's user may see (ids), or null for a whole-tree user. */
  scope: Set<string> | null;
  send(event: 'station', stations: LiveStation[]): void;
  close(): void;
}

export interface LiveDeps {
  db: Db;
  now: () => Date;
  /** Changes gathered this long are read and pushed together (default 50 ms). */
  coalesceMs?: number;
  log: { error(obj: object, msg: string): void };
}

export function liveState(s: { online: boolean; playing: unknown; alerts: number }): LiveState {
  if (!s.online) return 'offline';
  if (s.playing) return 'playing';
  return s.alerts > 0 ? 'alert' : 'online';
}

export class LiveService {
  private readonly streams = new Map<string, LiveStream>();
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** Resolves when what is pending now has been pushed (tests and the benchmark wait on it). */
  private flushed: Promise<void> = Promise.resolve();

  constructor(private readonly deps: LiveDeps) {}

  /** The states of the stations in the scope (all for null), by code. */
  async stations(scope: Set<string> | null, ids?: string[]): Promise<LiveStation[]> {
    const { db } = this.deps;
    const now = this.deps.now();
    const rows = await db.station.findMany({
      where: { ...(scope ? { unitId: { in: [...scope] } } : {}), ...(ids ? { id: { in: ids } } : {}) },
      select: {
        code: true,
        name: true,
        latitude: true,
        longitude: true,
        online: true,
        lastSeenAt: true,
        unit: { select: { code: true, name: true } },
        _count: { select: { alerts: { where: { status: { not: 'resolved' } } } } },
        occurrences: {
          where: { status: 'playing', OR: [{ asRun: null }, { asRun: 'playing' }], closesAt: { gt: now } },
          orderBy: { startedAt: 'desc' },
          take: 1,
          select: { id: true, priority: true, startedAt: true, media: { select: { title: true } } },
        },
      },
      orderBy: { code: 'asc' },
    });
    return rows.map((r) => {
      const o = r.occurrences[0];
      const playing = o ? { occurrenceId: o.id, title: o.media.title, priority: o.priority, startedAt: o.startedAt } : null;
      const alerts = r._count.alerts;
      return {
        code: r.code,
        name: r.name,
        unitCode: r.unit.code,
        unitName: r.unit.name,
        latitude: r.latitude,
        longitude: r.longitude,
        online: r.online,
        lastSeenAt: r.lastSeenAt,
        state: liveState({ online: r.online, playing, alerts }),
        playing,
        alerts,
      };
    });
  }

  /**
   * Registers a browser's stream under its session key; a stream already open for that key is closed (one
   * per browser). Returns the function that removes it.
   */
  open(key: string, stream: LiveStream): () => void {
    const old = this.streams.get(key);
    if (old) old.close();
    this.streams.set(key, stream);
    return () => {
      if (this.streams.get(key) === stream) this.streams.delete(key);
    };
  }

  /** Streams open now. */
  size(): number {
    return this.streams.size;
  }

  /** Stations whose state may have changed (ids): read and pushed within `coalesceMs`. */
  changed(stationIds: Iterable<string>): void {
    for (const id of stationIds) this.pending.add(id);
    if (this.timer || this.pending.size === 0) return;
    let done!: () => void;
    this.flushed = new Promise((r) => {
      done = r;
    });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.push().then(done, (err: Error) => {
        this.deps.log.error({ err: err.message }, 'live station states not pushed');
        done();
      });
    }, this.deps.coalesceMs ?? 50);
  }

  /** Waits until what is pending has gone out. */
  idle(): Promise<void> {
    return this.flushed;
  }

  private async push(): Promise<void> {
    const ids = [...this.pending];
    this.pending = new Set();
    if (this.streams.size === 0 || ids.length === 0) return;
    const states = await this.stations(null, ids);
    const units = await this.deps.db.station.findMany({ where: { id: { in: ids } }, select: { code: true, unitId: true } });
    const unitOf = new Map(units.map((u) => [u.code, u.unitId]));
    for (const stream of this.streams.values()) {
      const scope = stream.scope;
      const mine = scope ? states.filter((s) => scope.has(unitOf.get(s.code) ?? '')) : states;
      if (mine.length) stream.send('station', mine);
    }
  }

  /** Ends every stream (the server is stopping). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
  }
}
