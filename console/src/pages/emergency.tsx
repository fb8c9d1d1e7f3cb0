// Emergency alerts, one tap from every page: raise one (area from the tree, content from a template, the
// library or typed words, repeat, validity, actual / exercise / test), see the exact area (map and station
// count) and the words before the press, wait for or give the second person's confirmation, follow the
// coverage live ("412 / 579 đang phát"), correct or cancel in one action, export the report (CSV, CAP).
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { fitMap, loadOutlines, MAP_W, type Outlines } from '../components/map.ts';
import { TargetPicker, type Targets } from '../components/target-picker.tsx';
import { hanoiTime, type MessageKey, t } from '../i18n.ts';

type Status = 'actual' | 'exercise' | 'test';
interface StationRow {
  station: string;
  name: string;
  latitude: number | null;
  longitude: number | null;
  state: 'not-reached' | 'received' | 'playing' | 'completed' | 'failed';
  reason: string | null;
  late: boolean;
}
interface Alert {
  id: string;
  status: Status;
  state: 'pending' | 'active' | 'cancelled' | 'ended' | 'lapsed';
  headline: string;
  text: string;
  createdBy: string | null;
  createdAt: string;
  confirmBy: string | null;
  confirmedBy: string | null;
  cancelledBy: string | null;
  validUntil: string;
  version: number;
  counts: { stations: number; received: number; playing: number; completed: number; failed: number; notReached: number };
  stations?: StationRow[];
}
interface Preview {
  stations: { code: string; name: string; latitude: number | null; longitude: number | null }[];
  groups: string[];
  confirmationNeeded: boolean;
}
interface Template {
  code: string;
  title: string;
  text: string;
}
interface Item {
  id: string;
  title: string;
}

/** Reasons the page words itself; a gateway's own codes (FILE_MISSING…) are shown as they are. */
const REASONS = new Set(['offline', 'no-answer']);
const idFromHash = () => new URLSearchParams(location.hash.split('?')[1] ?? '').get('id');
const open = (id: string) => {
  location.hash = `#/emergency?id=${id}`;
};

export function Emergency({ me }: { me: Me }) {
  const [id, setId] = useState(idFromHash());
  useEffect(() => {
    const onHash = () => setId(idFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return (
    <>
      <h1 class="emergency-title">{t('emergency')}</h1>
      {id ? <AlertPage id={id} me={me} /> : <NewAlert me={me} />}
    </>
  );
}

/** The stations on the province's map, coloured by how the alert reached them. */
function AreaMap({
  points,
}: {
  points: { code: string; name: string; latitude: number | null; longitude: number | null; state?: string }[];
}) {
  const [outlines, setOutlines] = useState<Outlines | null>(null);
  useEffect(() => {
    loadOutlines().then(setOutlines, () => setOutlines(null));
  }, []);
  const placed = points.filter((p) => p.latitude !== null && p.longitude !== null);
  // The fit is recomputed only when the set of places changes, not at each refresh of their states.
  const where = placed.map((p) => `${p.longitude},${p.latitude}`).join(';');
  const map = useMemo(
    () => (outlines ? fitMap(outlines, where ? where.split(';').map((xy) => xy.split(',').map(Number)) : [], true) : null),
    [outlines, where],
  );
  if (!map) return null;
  return (
    <figure class="map">
      <svg viewBox={`0 0 ${MAP_W} ${map.height}`} role="img" aria-label={t('areaMap', { n: placed.length })}>
        {map.paths.map((p) => (
          <path key={p.code} d={p.d} class="district">
            <title>{p.name}</title>
          </path>
        ))}
        {placed.map((s) => {
          const [x, y] = map.at(s.longitude as number, s.latitude as number);
          return (
            <circle key={s.code} cx={x.toFixed(1)} cy={y.toFixed(1)} r={7} class={`em-${s.state ?? 'area'}`} data-station={s.code}>
              <title>{s.name}</title>
            </circle>
          );
        })}
      </svg>
      <figcaption class="quiet">{t('areaUnplaced', { n: points.length - placed.length })}</figcaption>
    </figure>
  );
}

function NewAlert({ me }: { me: Me }) {
  const [status, setStatus] = useState<Status>('actual');
  const [headline, setHeadline] = useState('');
  const [targets, setTargets] = useState<Targets>({ units: [], stations: [] });
  const [source, setSource] = useState<'template' | 'media' | 'text'>('template');
  const [content, setContent] = useState({ template: '', mediaId: '', text: '' });
  const [repeat, setRepeat] = useState({ count: 3, intervalS: 60 });
  const [validMinutes, setValidMinutes] = useState(60);
  const [templates, setTemplates] = useState<Template[]>([]);
  const [items, setItems] = useState<Item[]>([]);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [recent, setRecent] = useState<Alert[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    void api<{ templates: Template[] }>('GET', '/emergency-templates').then(
      (r) => setTemplates(r.templates),
      () => {},
    );
    void api<{ items: Item[] }>('GET', '/media?status=approved&limit=200').then(
      (r) => setItems(r.items),
      () => {},
    );
    void api<{ emergencies: Alert[] }>('GET', '/emergencies').then(
      (r) => setRecent(r.emergencies),
      () => {},
    );
  }, []);
  const area = {
    ...(targets.units.length ? { units: targets.units } : {}),
    ...(targets.stations.length ? { stations: targets.stations } : {}),
  };
  const words =
    source === 'text' ? content.text : source === 'template' ? (templates.find((x) => x.code === content.template)?.text ?? '') : '';
  const body = {
    status,
    headline,
    area,
    content:
      source === 'template' ? { template: content.template } : source === 'media' ? { mediaId: content.mediaId } : { text: content.text },
    repeat,
    validUntil: new Date(Date.now() + validMinutes * 60_000).toISOString(),
  };
  const check = async () => {
    setError('');
    setPreview(null);
    try {
      setPreview(await api<Preview>('POST', '/emergencies/area', area));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const press = async () => {
    setBusy(true);
    setError('');
    try {
      const made = await api<Alert>('POST', '/emergencies', body);
      open(made.id);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const chosen = source === 'template' ? content.template : source === 'media' ? content.mediaId : content.text;
  const ready = headline.trim() && (targets.units.length || targets.stations.length) && chosen.trim();
  return (
    <>
      {recent.length > 0 && (
        <section aria-labelledby="recent-h">
          <h2 id="recent-h">{t('recentAlerts')}</h2>
          <ul class="alert-list">
            {recent.slice(0, 8).map((a) => (
              <li key={a.id}>
                <a href={`#/emergency?id=${a.id}`}>{a.headline}</a> <Badge status={a.status} /> · {t(`emState.${a.state}` as MessageKey)} ·{' '}
                {hanoiTime(a.createdAt)} ·{' '}
                {t(a.state === 'active' ? 'coverage' : 'coverageDone', {
                  on: a.counts.playing + a.counts.completed,
                  all: a.counts.stations,
                })}
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="new-h">
        <h2 id="new-h">{t('newAlert')}</h2>
        <fieldset>
          <legend>{t('alertStatus')}</legend>
          {(['actual', 'exercise', 'test'] as const).map((s) => (
            <label key={s} class="inline">
              <input type="radio" name="em-status" checked={status === s} onChange={() => setStatus(s)} />{' '}
              {t(`emStatus.${s}` as MessageKey)}
            </label>
          ))}
        </fieldset>
        <label>
          {t('alertHeadline')}
          <input value={headline} maxLength={200} onInput={(e) => setHeadline(e.currentTarget.value)} />
        </label>
        <fieldset>
          <legend>{t('alertArea')}</legend>
          <TargetPicker
            me={me}
            value={targets}
            onChange={(v) => {
              setTargets(v);
              setPreview(null);
            }}
          />
        </fieldset>
        <fieldset>
          <legend>{t('alertContent')}</legend>
          {(['template', 'media', 'text'] as const).map((s) => (
            <label key={s} class="inline">
              <input type="radio" name="em-source" checked={source === s} onChange={() => setSource(s)} />{' '}
              {t(`emSource.${s}` as MessageKey)}
            </label>
          ))}
          {source === 'template' && (
            <select
              value={content.template}
              aria-label={t('emSource.template')}
              onChange={(e) => setContent({ ...content, template: e.currentTarget.value })}
            >
              <option value="">{t('chooseTemplate')}</option>
              {templates.map((x) => (
                <option key={x.code} value={x.code}>
                  {x.title}
                </option>
              ))}
            </select>
          )}
          {source === 'media' && (
            <select
              value={content.mediaId}
              aria-label={t('emSource.media')}
              onChange={(e) => setContent({ ...content, mediaId: e.currentTarget.value })}
            >
              <option value="">{t('chooseItem')}</option>
              {items.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.title}
                </option>
              ))}
            </select>
          )}
          {source === 'text' && (
            <textarea
              rows={4}
              maxLength={5000}
              aria-label={t('emSource.text')}
              value={content.text}
              onInput={(e) => setContent({ ...content, text: e.currentTarget.value })}
            />
          )}
        </fieldset>
        <div class="row">
          <label>
            {t('repeatCount')}
            <input
              type="number"
              min={1}
              max={100}
              value={repeat.count}
              onInput={(e) => setRepeat({ ...repeat, count: Number(e.currentTarget.value) })}
            />
          </label>
          <label>
            {t('repeatInterval')}
            <input
              type="number"
              min={0}
              max={3600}
              value={repeat.intervalS}
              onInput={(e) => setRepeat({ ...repeat, intervalS: Number(e.currentTarget.value) })}
            />
          </label>
          <label>
            {t('validMinutes')}
            <input type="number" min={1} max={1440} value={validMinutes} onInput={(e) => setValidMinutes(Number(e.currentTarget.value))} />
          </label>
        </div>
        <button type="button" disabled={!ready} onClick={check}>
          {t('checkArea')}
        </button>
        <ErrorLine message={error} />
      </section>
      {preview && (
        <section aria-labelledby="confirm-h" class={`press status-${status}`}>
          <h2 id="confirm-h">{t('beforePress')}</h2>
          <p>
            <Badge status={status} /> <strong data-count="area">{t('areaStations', { n: preview.stations.length })}</strong> ·{' '}
            {t('areaGroups', { n: preview.groups.length })}
          </p>
          <AreaMap points={preview.stations} />
          <blockquote>
            <strong>{headline}</strong>
            {words && <p>{words}</p>}
          </blockquote>
          {status === 'actual' && preview.confirmationNeeded && <p class="warn">{t('needsSecond')}</p>}
          <button type="button" class="danger" disabled={busy} onClick={press}>
            {status === 'actual' ? t('pressActual') : t('pressDrill')}
          </button>
        </section>
      )}
    </>
  );
}

function Badge({ status }: { status: Status }) {
  return <span class={`badge em-${status}`}>{t(`emStatus.${status}` as MessageKey)}</span>;
}

function AlertPage({ id, me }: { id: string; me: Me }) {
  const [alert, setAlert] = useState<Alert | null>(null);
  const [error, setError] = useState('');
  const [fix, setFix] = useState({ headline: '', text: '' });
  const load = useCallback(() => api<Alert>('GET', `/emergencies/${id}`).then(setAlert, (err: Error) => setError(err.message)), [id]);
  useEffect(() => {
    void load();
    // Coverage live while it can still change.
    const timer = setInterval(() => void load(), 2000);
    return () => clearInterval(timer);
  }, [load]);
  const act = async (method: string, path: string, body?: unknown) => {
    setError('');
    try {
      setAlert(await api<Alert>(method, path, body));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  if (!alert) return <ErrorLine message={error} />;
  const c = alert.counts;
  const live = alert.state === 'active' || alert.state === 'pending';
  const missing = (alert.stations ?? []).filter((s) => s.state === 'not-reached' || s.state === 'failed');
  return (
    <>
      <p>
        <a href="#/emergency">← {t('newAlert')}</a>
      </p>
      <h2>
        {alert.headline} <Badge status={alert.status} />
      </h2>
      <p>
        {t(`emState.${alert.state}` as MessageKey)} · {t('raisedBy', { who: alert.createdBy ?? '', at: hanoiTime(alert.createdAt) })}
        {alert.confirmedBy && ` · ${t('confirmedBy', { who: alert.confirmedBy })}`}
        {alert.cancelledBy && ` · ${t('cancelledBy', { who: alert.cancelledBy })}`} · {t('validTo', { at: hanoiTime(alert.validUntil) })}
      </p>
      {alert.text && <blockquote>{alert.text}</blockquote>}
      <p class="coverage" aria-live="polite" data-count="coverage">
        {t(live ? 'coverage' : 'coverageDone', { on: c.playing + c.completed, all: c.stations })}
      </p>
      <ul class="legend">
        <li>{t('emCount.received', { n: c.received })}</li>
        <li>{t('emCount.playing', { n: c.playing })}</li>
        <li>{t('emCount.completed', { n: c.completed })}</li>
        <li>{t('emCount.failed', { n: c.failed })}</li>
        <li>{t('emCount.notReached', { n: c.notReached })}</li>
      </ul>
      {alert.state === 'pending' && (
        <p class="warn">
          {t('waitsSecond', { at: alert.confirmBy ? hanoiTime(alert.confirmBy) : '' })}{' '}
          {alert.createdBy !== me.username && (
            <button type="button" class="danger" onClick={() => act('POST', `/emergencies/${id}/confirm`)}>
              {t('confirmAlert')}
            </button>
          )}
        </p>
      )}
      {live && (
        <div class="row">
          <button type="button" class="danger" onClick={() => window.confirm(t('cancelAsk')) && act('POST', `/emergencies/${id}/cancel`)}>
            {t('cancelAlert')}
          </button>
          <input
            placeholder={t('alertHeadline')}
            value={fix.headline}
            onInput={(e) => setFix({ ...fix, headline: e.currentTarget.value })}
          />
          <input placeholder={t('correctionText')} value={fix.text} onInput={(e) => setFix({ ...fix, text: e.currentTarget.value })} />
          <button
            type="button"
            disabled={!fix.headline.trim() && !fix.text.trim()}
            onClick={() =>
              act('PATCH', `/emergencies/${id}`, {
                ...(fix.headline.trim() ? { headline: fix.headline.trim() } : {}),
                ...(fix.text.trim() ? { content: { text: fix.text.trim() } } : {}),
              })
            }
          >
            {t('correctAlert')}
          </button>
        </div>
      )}
      <ErrorLine message={error} />
      <AreaMap points={(alert.stations ?? []).map((s) => ({ ...s, code: s.station }))} />
      <p>
        <a href={`/api/v1/emergencies/${id}/report.csv`}>{t('exportCsv')}</a> · <a href={`/api/v1/emergencies/${id}/cap`}>CAP 1.2</a>
      </p>
      {missing.length > 0 && (
        <table>
          <caption>{t('notReachedList', { n: missing.length })}</caption>
          <thead>
            <tr>
              <th>{t('station')}</th>
              <th>{t('status')}</th>
              <th>{t('why')}</th>
            </tr>
          </thead>
          <tbody>
            {missing.slice(0, 500).map((s) => (
              <tr key={s.station}>
                <td>
                  <a href={`#/station?code=${encodeURIComponent(s.station)}`}>{s.name}</a>
                </td>
                <td>{t(`emStation.${s.state}` as MessageKey)}</td>
                <td>{s.reason && REASONS.has(s.reason) ? t(`emReason.${s.reason}` as MessageKey) : s.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
