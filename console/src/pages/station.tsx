// One station: its live state, online/offline timeline of the last 7 days, what it played today (with the
// level it measured and the item's level strip), its plan for the next days, the delivery of its plan, its
// gateways (clock offset, disk, versions, zones), and remote commands with the gateway's own answer.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api, type Me } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { LevelStrip } from '../components/level-strip.tsx';
import { duration, hanoiDate, hanoiTime, type MessageKey, span as spanOf, t } from '../i18n.ts';
import { followLive, liveStations } from '../live.ts';
import { useSignal } from '../state.ts';

interface Health {
  station: string;
  name: string;
  unitName: string;
  online: boolean;
  lastSeenAt: string | null;
  manifestVersion: number;
  inServiceSince: string | null;
  from: string;
  to: string;
  uptimeRate: number | null;
  offlineMs: number;
  history: { online: boolean; from: string; to: string; durationMs: number; ongoing: boolean }[];
  telemetry: {
    at: string;
    clockOffsetMs: number | null;
    diskFreeBytes: number | null;
    agentVersion: string | null;
    uptimeS: number | null;
    cacheItems: number | null;
    cacheMissing: number | null;
    manifestVersion: number | null;
  } | null;
  openAlerts: { id: string; kind: string; messageVi: string; raisedAtLocal: string; status: string }[];
}
interface Airing {
  occurrenceId: string;
  mediaId: string;
  title: string;
  priority: string;
  startsAt: string;
  playedMs: number | null;
  expectedMs: number;
  rmsDbfs: number | null;
  status: string;
  reason?: string;
}
interface Delivery {
  device: string;
  version: number;
  entries: number;
  status: string;
  publishedAt: string;
  ackedAt: string | null;
  errorCode: string | null;
}
interface Device {
  code: string;
  name: string;
  model: string | null;
  zones: { code: string; name: string }[];
  enrolled: boolean;
  agentVersion: string | null;
}
type Answer = { ok: boolean; text: string; result?: Record<string, unknown> };

const DAY_MS = 86_400_000;
const codeOf = () => new URLSearchParams(location.hash.split('?')[1] ?? '').get('code') ?? '';
const midnight = (day: string) => `${day}T00:00:00+07:00`;
const dayAfter = (day: string, n = 1) => new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;

export function Station(_: { me: Me }) {
  const [code, setCode] = useState(codeOf());
  const live = useSignal(liveStations)?.get(code);
  const [health, setHealth] = useState<Health | null>(null);
  const [today, setToday] = useState<Airing[]>([]);
  const [plan, setPlan] = useState<Airing[]>([]);
  const [deliveries, setDeliveries] = useState<Delivery[]>([]);
  const [devices, setDevices] = useState<Device[]>([]);
  const [error, setError] = useState('');
  const [volume, setVolume] = useState({ zone: '', level: 70 });
  const [answers, setAnswers] = useState<Record<string, Answer>>({});
  const [busy, setBusy] = useState('');
  const load = useCallback(async () => {
    if (!code) return;
    setError('');
    const day = hanoiDate(Date.now());
    const q = `station=${encodeURIComponent(code)}`;
    try {
      const [h, a, p, d, g] = await Promise.all([
        api<Health>('GET', `/stations/${encodeURIComponent(code)}/health`),
        api<{ items: Airing[] }>(
          'GET',
          `/as-run?${q}&from=${encodeURIComponent(midnight(day))}&to=${encodeURIComponent(midnight(dayAfter(day)))}`,
        ),
        api<{ items: Airing[] }>(
          'GET',
          `/as-run?${q}&from=${encodeURIComponent(midnight(dayAfter(day)))}&to=${encodeURIComponent(midnight(dayAfter(day, 8)))}`,
        ),
        api<{ items: Delivery[] }>('GET', `/deliveries?${q}&limit=5`),
        api<{ items: Device[] }>('GET', `/stations/${encodeURIComponent(code)}/devices`),
      ]);
      setHealth(h);
      setToday(a.items);
      setPlan(p.items);
      setDeliveries(d.items);
      setDevices(g.items);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [code]);
  useEffect(() => {
    followLive();
    const onHash = () => setCode(codeOf());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    void load();
  }, [load]);
  // The live state changed (online, playing, alert): what the page shows of it is read again.
  const liveKey = live ? `${live.state}|${live.alerts}|${live.playing?.occurrenceId ?? ''}` : '';
  useEffect(() => {
    if (liveKey) void load();
  }, [liveKey, load]);

  const send = async (name: string, body: object) => {
    setBusy(name);
    try {
      const reply = await api<{ ok: true; result?: Record<string, unknown> }>(
        'POST',
        `/stations/${encodeURIComponent(code)}/commands`,
        body,
      );
      setAnswers((a) => ({ ...a, [name]: { ok: true, text: t('deviceDone'), ...(reply.result ? { result: reply.result } : {}) } }));
    } catch (err) {
      const e = err as ApiError;
      setAnswers((a) => ({ ...a, [name]: { ok: false, text: e instanceof ApiError ? `${e.code}: ${e.message}` : String(err) } }));
    } finally {
      setBusy('');
    }
  };
  if (!code) return <p>{t('noStation')}</p>;
  const zones = devices.flatMap((d) => d.zones);
  const span = health ? Date.parse(health.to) - Date.parse(health.from) : 1;
  const answer = (name: string) => {
    const a = answers[name];
    if (!a) return null;
    return (
      <output class={a.ok ? 'ok' : 'refused'} data-command={name}>
        {a.ok ? '✓ ' : '✗ '}
        {a.text}
        {a.result && (
          <dl class="result">
            {Object.entries(a.result).map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>
              </div>
            ))}
          </dl>
        )}
      </output>
    );
  };
  const airingRows = (rows: Airing[], withLevels: boolean) => (
    <table class="airings">
      <thead>
        <tr>
          <th>{t('time')}</th>
          <th>{t('title')}</th>
          <th>{t('status')}</th>
          {withLevels && <th>{t('played')}</th>}
          {withLevels && <th>{t('measuredLevel')}</th>}
          {withLevels && <th>{t('levels')}</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.occurrenceId} data-status={r.status}>
            <td>{hanoiTime(r.startsAt)}</td>
            <td>{r.title}</td>
            <td>
              {t(`airing.${r.status}` as MessageKey)}
              {r.reason ? ` · ${t(`reason.${r.reason}` as MessageKey)}` : ''}
            </td>
            {withLevels && <td>{r.playedMs === null ? '—' : `${duration(r.playedMs)} / ${duration(r.expectedMs)}`}</td>}
            {withLevels && <td>{r.rmsDbfs === null ? '—' : `${r.rmsDbfs.toFixed(1)} dBFS`}</td>}
            {withLevels && (
              <td class="strip">
                <LevelStrip mediaId={r.mediaId} />
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
  return (
    <>
      <p>
        <a href="#/live">← {t('live')}</a>
      </p>
      <h1>
        {health?.name ?? live?.name ?? code} <span class="quiet">{code}</span>
      </h1>
      <ErrorLine message={error} />
      {live && (
        <p class="state-line" data-state={live.state}>
          <span class={`dot st-${live.state}`} aria-hidden="true" /> {t(`state.${live.state}` as MessageKey)}
          {live.playing ? ` · ${t('playingNow')}: ${live.playing.title}` : ''} · {live.unitName}
        </p>
      )}
      {health && (
        <section aria-labelledby="health-h">
          <h2 id="health-h">{t('healthTimeline')}</h2>
          <p>
            {t('uptime')}: <strong>{health.uptimeRate === null ? '—' : `${(health.uptimeRate * 100).toFixed(1)} %`}</strong> ·{' '}
            {t('offlineFor')} {spanOf(health.offlineMs)} · {hanoiTime(health.from)} → {hanoiTime(health.to)}
            {health.inServiceSince ? ` · ${t('inServiceSince')} ${hanoiTime(health.inServiceSince)}` : ` · ${t('notInService')}`}
          </p>
          <svg class="timeline" viewBox="0 0 1000 24" preserveAspectRatio="none" role="img" aria-label={t('healthTimeline')}>
            {health.history.map((h) => (
              <rect
                key={h.from}
                x={((Date.parse(h.from) - Date.parse(health.from)) / span) * 1000}
                width={Math.max(1, (h.durationMs / span) * 1000)}
                y={0}
                height={24}
                class={h.online ? 'up' : 'down'}
              >
                <title>
                  {h.online ? t('state.online') : t('state.offline')}: {hanoiTime(h.from)} → {h.ongoing ? t('now') : hanoiTime(h.to)} (
                  {spanOf(h.durationMs)})
                </title>
              </rect>
            ))}
          </svg>
          <ul class="periods">
            {health.history
              .slice(-6)
              .reverse()
              .map((h) => (
                <li key={h.from}>
                  {h.online ? t('state.online') : t('state.offline')}: {hanoiTime(h.from)} → {h.ongoing ? t('now') : hanoiTime(h.to)} (
                  {spanOf(h.durationMs)})
                </li>
              ))}
          </ul>
          {health.openAlerts.length > 0 && (
            <ul class="alerts-open">
              {health.openAlerts.map((a) => (
                <li key={a.id}>
                  <a href="#/alerts">{a.messageVi}</a>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      <section aria-labelledby="gw-h">
        <h2 id="gw-h">{t('gateway')}</h2>
        {health?.telemetry ? (
          <dl class="facts">
            <div>
              <dt>{t('lastHeartbeat')}</dt>
              <dd>{hanoiTime(health.telemetry.at)}</dd>
            </div>
            <div>
              <dt>{t('clockOffset')}</dt>
              <dd data-fact="clock">{health.telemetry.clockOffsetMs === null ? '—' : `${health.telemetry.clockOffsetMs.toFixed(0)} ms`}</dd>
            </div>
            <div>
              <dt>{t('diskFree')}</dt>
              <dd data-fact="disk">{health.telemetry.diskFreeBytes === null ? '—' : mb(health.telemetry.diskFreeBytes)}</dd>
            </div>
            <div>
              <dt>{t('agentVersion')}</dt>
              <dd data-fact="version">{health.telemetry.agentVersion ?? '—'}</dd>
            </div>
            <div>
              <dt>{t('cache')}</dt>
              <dd>
                {health.telemetry.cacheItems ?? 0} · {t('missingFiles', { n: health.telemetry.cacheMissing ?? 0 })}
              </dd>
            </div>
            <div>
              <dt>{t('planVersion')}</dt>
              <dd>{t('planApplied', { applied: health.telemetry.manifestVersion ?? '—', compiled: health.manifestVersion })}</dd>
            </div>
          </dl>
        ) : (
          <p class="quiet">{t('noTelemetry')}</p>
        )}
        <ul>
          {devices.map((d) => (
            <li key={d.code}>
              {d.name ? `${d.name} (${d.code})` : d.code} · {d.enrolled ? t('enrolled') : t('notEnrolled')} ·{' '}
              {d.zones.map((z) => z.name || z.code).join(', ')}
            </li>
          ))}
        </ul>
        <h3>{t('delivery')}</h3>
        <table class="deliveries">
          <thead>
            <tr>
              <th>{t('planVersion')}</th>
              <th>{t('airingsCount')}</th>
              <th>{t('status')}</th>
              <th>{t('sentAt')}</th>
              <th>{t('ackedAt')}</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.map((d) => (
              <tr key={`${d.device}-${d.version}`} data-delivery={d.status}>
                <td>v{d.version}</td>
                <td>{t('entriesN', { n: d.entries })}</td>
                <td>{t(`delivery.${d.status}` as MessageKey)}</td>
                <td>{hanoiTime(d.publishedAt)}</td>
                <td>{d.ackedAt ? hanoiTime(d.ackedAt) : (d.errorCode ?? '')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="cmd-h">
        <h2 id="cmd-h">{t('commands')}</h2>
        <div class="commands">
          <fieldset>
            <legend>{t('volume')}</legend>
            <label>
              {t('zone')}
              <select value={volume.zone} onChange={(e) => setVolume({ ...volume, zone: (e.target as HTMLSelectElement).value })}>
                <option value="">{t('allZones')}</option>
                {zones.map((z) => (
                  <option key={z.code} value={z.code}>
                    {z.name || z.code}
                  </option>
                ))}
              </select>
            </label>
            <label>
              {t('level')} ({volume.level})
              <input
                type="range"
                min={0}
                max={100}
                value={volume.level}
                onInput={(e) => setVolume({ ...volume, level: Number((e.target as HTMLInputElement).value) })}
              />
            </label>
            <button
              type="button"
              disabled={busy !== ''}
              onClick={() => send('volume', { action: 'volume', level: volume.level, ...(volume.zone ? { zone: volume.zone } : {}) })}
            >
              {t('setVolume')}
            </button>
            {answer('volume')}
          </fieldset>
          <fieldset>
            <legend>{t('otherCommands')}</legend>
            <button
              type="button"
              disabled={busy !== ''}
              onClick={() => send('stop', { action: 'stop', ...(volume.zone ? { zone: volume.zone } : {}) })}
            >
              {t('stopPlaying')}
            </button>
            {answer('stop')}
            <button type="button" disabled={busy !== ''} onClick={() => send('self-test', { action: 'self-test' })}>
              {t('selfTest')}
            </button>
            {answer('self-test')}
            <button type="button" disabled={busy !== ''} onClick={() => send('sync-now', { action: 'sync-now' })}>
              {t('syncNow')}
            </button>
            {answer('sync-now')}
          </fieldset>
        </div>
        {busy && <p class="quiet">{t('waitingForDevice')}</p>}
      </section>
      <section aria-labelledby="today-h">
        <h2 id="today-h">{t('playedToday')}</h2>
        {today.length ? airingRows(today, true) : <p class="quiet">{t('nothingToday')}</p>}
      </section>
      <section aria-labelledby="plan-h">
        <h2 id="plan-h">{t('planNextDays')}</h2>
        {plan.length ? airingRows(plan, false) : <p class="quiet">{t('nothingPlanned')}</p>}
      </section>
    </>
  );
}
