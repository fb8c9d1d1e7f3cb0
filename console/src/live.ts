// One event stream per browser (GET /api/v1/live): every station of the user's units with its live state,
// kept current as the server pushes changes; the map, the station list and the station page all read it.
// EventSource reconnects by itself and each reconnection starts with a fresh snapshot.
import { signal } from './state.ts';

export type LiveState = 'offline' | 'playing' | 'alert' | 'online';
export interface LiveStation {
  code: string;
  name: string;
  unitCode: string;
  unitName: string;
  latitude: number | null;
  longitude: number | null;
  online: boolean;
  lastSeenAt: string | null;
  state: LiveState;
  playing: { occurrenceId: string; title: string; priority: string; startedAt: string | null } | null;
  alerts: number;
}

/** Stations by code; null until the first snapshot. */
export const liveStations = signal<Map<string, LiveStation> | null>(null);
/** Whether the stream is connected now. */
export const liveConnected = signal(false);

let source: EventSource | undefined;

/** Opens the browser's stream once (later calls reuse it). */
export function followLive(): void {
  if (source) return;
  source = new EventSource('/api/v1/live');
  source.addEventListener('open', () => liveConnected.set(true));
  source.addEventListener('error', () => liveConnected.set(false));
  source.addEventListener('snapshot', (e) => {
    const { items } = JSON.parse((e as MessageEvent<string>).data) as { items: LiveStation[] };
    liveStations.set(new Map(items.map((s) => [s.code, s])));
  });
  source.addEventListener('station', (e) => {
    const { items } = JSON.parse((e as MessageEvent<string>).data) as { items: LiveStation[] };
    const next = new Map(liveStations.get() ?? []);
    for (const s of items) next.set(s.code, s);
    liveStations.set(next);
  });
}

/** Ends the stream (signing out). */
export function stopLive(): void {
  source?.close();
  source = undefined;
  liveStations.set(null);
  liveConnected.set(false);
}
