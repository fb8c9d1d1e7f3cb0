// The live view: a map of the province (district outlines shipped with the server, no tile server) with
// every station with coordinates coloured by its state, the stations without coordinates beside it, and the
// list of all stations with the same states, kept current by the browser's one event stream.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, type Me } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { fitMap, loadOutlines, MAP_W, type Outlines } from '../components/map.ts';
import { fold } from '../components/target-picker.tsx';
import { hanoiTime, type MessageKey, t } from '../i18n.ts';
import { followLive, type LiveState, type LiveStation, liveConnected, liveStations, stopLive } from '../live.ts';
import { useSignal } from '../state.ts';

const STATES: LiveState[] = ['online', 'playing', 'alert', 'offline'];
const DRAW_ORDER: LiveState[] = ['offline', 'online', 'alert', 'playing'];
const stateKey = (s: LiveState) => `state.${s}` as MessageKey;
/** Most rows the list shows at once (filter to narrow). */
const LIST_MAX = 300;

export function Live({ me }: { me: Me }) {
  const stations = useSignal(liveStations);
  const connected = useSignal(liveConnected);
  const [outlines, setOutlines] = useState<Outlines | null>(null);
  const [filter, setFilter] = useState({ state: '' as LiveState | '', text: '' });
  const [error, setError] = useState('');
  const [imported, setImported] = useState('');
  useEffect(() => {
    followLive();
    loadOutlines().then(setOutlines, (err: Error) => setError(err.message));
  }, []);
  const all = useMemo(() => [...(stations?.values() ?? [])], [stations]);
  // Drawn in this order, so what needs looking at lies on top where dots overlap.
  const placed = all
    .filter((s) => s.latitude !== null && s.longitude !== null)
    .sort((a, b) => DRAW_ORDER.indexOf(a.state) - DRAW_ORDER.indexOf(b.state));
  const unplaced = all.filter((s) => s.latitude === null || s.longitude === null);
  // The fit covers the outlines and every placed station: recomputed only when a position changes.
  const positions = placed.map((s) => `${s.longitude},${s.latitude}`).join(';');
  const map = useMemo(
    () => (outlines ? fitMap(outlines, positions ? positions.split(';').map((xy) => xy.split(',').map(Number)) : []) : null),
    [outlines, positions],
  );
  const counts = Object.fromEntries(STATES.map((s) => [s, all.filter((x) => x.state === s).length])) as Record<LiveState, number>;
  const wanted = fold(filter.text);
  const listed = all.filter(
    (s) => (!filter.state || s.state === filter.state) && (!wanted || fold(`${s.code} ${s.name} ${s.unitName}`).includes(wanted)),
  );
  const importCsv = async (file: File) => {
    setError('');
    setImported('');
    const csrf = decodeURIComponent(document.cookie.match(/(?:^|; )lp_csrf=([^;]+)/)?.[1] ?? '');
    const res = await fetch('/api/v1/stations/import', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'text/csv', 'x-csrf-token': csrf },
      body: await file.text(),
    });
    const json = await res.json();
    if (!res.ok) {
      const rows = (json.error?.details?.rows ?? []) as { row: number; message: string }[];
      const e = new ApiError(res.status, json.error?.code ?? 'HTTP', json.error?.message ?? res.statusText);
      setError(rows.length ? `${e.message} (${rows.length})` : e.message);
      return;
    }
    setImported(t('importedStations', { updated: json.updated, unchanged: json.unchanged }));
    // New positions come with a new snapshot: the stream is opened again.
    stopLive();
    followLive();
  };
  const go = (code: string) => {
    location.hash = `#/station?code=${encodeURIComponent(code)}`;
  };
  return (
    <>
      <h1>{t('live')}</h1>
      <p class="quiet" aria-live="polite">
        {connected ? t('liveConnected') : t('liveConnecting')}
      </p>
      <ErrorLine message={error} />
      {imported && <p>{imported}</p>}
      <ul class="legend" aria-label={t('legend')}>
        {STATES.map((s) => (
          <li key={s}>
            <span class={`dot st-${s}`} aria-hidden="true" /> {t(stateKey(s))}: <strong data-count={s}>{counts[s]}</strong>
          </li>
        ))}
      </ul>
      <div class="live-grid">
        <figure class="map">
          {map ? (
            <svg viewBox={`0 0 ${MAP_W} ${map.height}`} role="img" aria-label={t('mapOf', { name: outlines?.name ?? '' })}>
              {map.paths.map((p) => (
                <path key={p.code} d={p.d} class="district">
                  <title>{p.name}</title>
                </path>
              ))}
              {placed.map((s) => {
                const [x, y] = map.at(s.longitude as number, s.latitude as number);
                return (
                  // biome-ignore lint/a11y/useSemanticElements: an SVG mark has no button element; it is focusable and keyed.
                  <circle
                    key={s.code}
                    cx={x.toFixed(1)}
                    cy={y.toFixed(1)}
                    r={7}
                    class={`st-${s.state}${s.alerts ? ' has-alert' : ''}`}
                    data-station={s.code}
                    data-state={s.state}
                    tabIndex={0}
                    role="button"
                    aria-label={`${s.name}: ${t(stateKey(s.state))}`}
                    onClick={() => go(s.code)}
                    onKeyDown={(e) => e.key === 'Enter' && go(s.code)}
                  >
                    <title>
                      {s.name} · {t(stateKey(s.state))}
                      {s.playing ? ` · ${s.playing.title}` : ''}
                    </title>
                  </circle>
                );
              })}
            </svg>
          ) : (
            <p class="quiet">…</p>
          )}
          <figcaption class="quiet">{t('mapCaption')}</figcaption>
        </figure>
        <aside aria-labelledby="unplaced-h">
          <h2 id="unplaced-h">
            {t('unplaced')} ({unplaced.length})
          </h2>
          <ul class="unplaced">
            {unplaced.slice(0, LIST_MAX).map((s) => (
              <li key={s.code} data-station={s.code} data-state={s.state}>
                <span class={`dot st-${s.state}`} aria-hidden="true" />{' '}
                <a href={`#/station?code=${encodeURIComponent(s.code)}`}>{s.name}</a>
              </li>
            ))}
          </ul>
          {unplaced.length > LIST_MAX && <p class="quiet">{t('moreNotShown', { n: unplaced.length - LIST_MAX })}</p>}
          {(me.role === 'province_admin' || me.role === 'district_operator') && (
            <label>
              {t('importCoordinates')}
              <input
                type="file"
                accept=".csv,text/csv"
                onChange={(e) => {
                  const f = (e.target as HTMLInputElement).files?.[0];
                  if (f) void importCsv(f);
                }}
              />
              <span class="quiet">{t('importCoordinatesHint')}</span>
            </label>
          )}
        </aside>
      </div>
      <h2>{t('stationList')}</h2>
      <div class="filters">
        <label>
          {t('status')}
          <select
            value={filter.state}
            onChange={(e) => setFilter({ ...filter, state: (e.target as HTMLSelectElement).value as LiveState | '' })}
          >
            <option value="">{t('all')}</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {t(stateKey(s))}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('search')}
          <input type="search" value={filter.text} onInput={(e) => setFilter({ ...filter, text: (e.target as HTMLInputElement).value })} />
        </label>
      </div>
      <table class="stations">
        <thead>
          <tr>
            <th>{t('station')}</th>
            <th>{t('unit')}</th>
            <th>{t('status')}</th>
            <th>{t('playingNow')}</th>
            <th>{t('lastSeen')}</th>
          </tr>
        </thead>
        <tbody>
          {listed.slice(0, LIST_MAX).map((s: LiveStation) => (
            <tr key={s.code} data-station={s.code} data-state={s.state}>
              <td>
                <a href={`#/station?code=${encodeURIComponent(s.code)}`}>{s.name}</a> <span class="quiet">{s.code}</span>
              </td>
              <td>{s.unitName}</td>
              <td>
                <span class={`dot st-${s.state}`} aria-hidden="true" /> {t(stateKey(s.state))}
                {s.alerts ? ` · ${t('openAlerts', { n: s.alerts })}` : ''}
              </td>
              <td>{s.playing?.title ?? ''}</td>
              <td>{s.lastSeenAt ? hanoiTime(s.lastSeenAt) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {listed.length > LIST_MAX && <p class="quiet">{t('moreNotShown', { n: listed.length - LIST_MAX })}</p>}
    </>
  );
}
