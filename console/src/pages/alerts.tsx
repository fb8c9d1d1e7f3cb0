// Alerts of the user's units: new → acknowledged → resolved, with who and when, filtered by status and kind;
// the text in Vietnamese with Hanoi times (the server's messageVi), a note when resolving.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { hanoiTime, type MessageKey, t } from '../i18n.ts';

interface Alert {
  id: string;
  station: string;
  kind: string;
  status: 'new' | 'acknowledged' | 'resolved';
  messageVi: string;
  message: string;
  count: number;
  raisedAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  resolvedAt: string | null;
  resolvedBy: string | null;
  note: string | null;
}

const STATUSES = ['', 'new', 'acknowledged', 'resolved'] as const;
const KINDS = ['', 'offline', 'missed', 'silent', 'refused_proofs'] as const;

export function Alerts(_: { me: Me }) {
  const [filter, setFilter] = useState({ status: 'new' as (typeof STATUSES)[number], kind: '' as (typeof KINDS)[number] });
  const [alerts, setAlerts] = useState<{ total: number; items: Alert[] }>({ total: 0, items: [] });
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [error, setError] = useState('');
  const load = useCallback(() => {
    const q = new URLSearchParams({
      limit: '200',
      ...(filter.status ? { status: filter.status } : {}),
      ...(filter.kind ? { kind: filter.kind } : {}),
    });
    return api<{ total: number; items: Alert[] }>('GET', `/alerts?${q}`).then(setAlerts, (err: Error) => setError(err.message));
  }, [filter]);
  useEffect(() => {
    void load();
  }, [load]);
  const move = async (a: Alert, to: 'acknowledge' | 'resolve') => {
    try {
      setError('');
      await api('POST', `/alerts/${a.id}/${to}`, to === 'resolve' && notes[a.id] ? { note: notes[a.id] } : {});
      await load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section>
      <h1>{t('alerts')}</h1>
      <div class="row">
        <label>
          {t('status')}
          <select
            value={filter.status}
            onChange={(e) => setFilter({ ...filter, status: e.currentTarget.value as (typeof STATUSES)[number] })}
          >
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(s ? (`alert.${s}` as MessageKey) : 'all')}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('alertKind')}
          <select value={filter.kind} onChange={(e) => setFilter({ ...filter, kind: e.currentTarget.value as (typeof KINDS)[number] })}>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {t(k ? (`alertKind.${k}` as MessageKey) : 'all')}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <p role="alert" class="error">
          {t('error', { message: error })}
        </p>
      )}
      <p class="quiet" aria-live="polite">
        {t('alertsFound', { n: alerts.total })}
      </p>
      <ul class="cards">
        {alerts.items.map((a) => (
          <li key={a.id} class={`alert-${a.status}`}>
            <h2>
              {t(`alertKind.${a.kind}` as MessageKey)} · {t(`alert.${a.status}` as MessageKey)}
            </h2>
            <p>{a.messageVi}</p>
            <ul class="history">
              <li>{t('raised', { at: hanoiTime(a.raisedAt), n: a.count })}</li>
              {a.acknowledgedAt && <li>{t('acknowledgedBy', { by: a.acknowledgedBy ?? '', at: hanoiTime(a.acknowledgedAt) })}</li>}
              {a.resolvedAt && (
                <li>
                  {t('resolvedBy', { by: a.resolvedBy === 'system' ? t('system') : (a.resolvedBy ?? ''), at: hanoiTime(a.resolvedAt) })}
                  {a.note ? ` (${a.note})` : ''}
                </li>
              )}
            </ul>
            <div class="row">
              {a.status === 'new' && (
                <button type="button" onClick={() => move(a, 'acknowledge')}>
                  {t('acknowledge')}
                </button>
              )}
              {a.status !== 'resolved' && (
                <>
                  <label>
                    {t('resolveNote')}
                    <input value={notes[a.id] ?? ''} onInput={(e) => setNotes({ ...notes, [a.id]: e.currentTarget.value })} />
                  </label>
                  <button type="button" onClick={() => move(a, 'resolve')}>
                    {t('resolve')}
                  </button>
                </>
              )}
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
