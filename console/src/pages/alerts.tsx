// Alerts of the user's units: new → acknowledged → resolved, with who and when, filtered by status and kind;
// the text in Vietnamese with Hanoi times (the server's messageVi), a note when resolving.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { hanoiTime, type MessageKey, t } from '../i18n.ts';
import { useLatestRequest } from '../state.ts';

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

interface Channel {
  id: string;
  kind: 'email' | 'webhook';
  address: string;
  unitName: string | null;
  lastSentAt: string | null;
  lastError: string | null;
  sent: number;
}

const STATUSES = ['', 'new', 'acknowledged', 'resolved'] as const;
const KINDS = ['', 'offline', 'missed', 'silent', 'refused_proofs', 'device_fault'] as const;

export function Alerts(_: { me: Me }) {
  const [filter, setFilter] = useState({ status: 'new' as (typeof STATUSES)[number], kind: '' as (typeof KINDS)[number] });
  const [alerts, setAlerts] = useState<{ total: number; items: Alert[] }>({ total: 0, items: [] });
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [error, setError] = useState('');
  const [channels, setChannels] = useState<Channel[]>([]);
  const [channel, setChannel] = useState({ kind: 'email' as Channel['kind'], address: '' });
  const [secret, setSecret] = useState('');
  const loadChannels = useCallback(
    () =>
      api<{ items: Channel[] }>('GET', '/notifications/channels').then(
        (r) => setChannels(r.items),
        () => setChannels([]),
      ),
    [],
  );
  useEffect(() => {
    void loadChannels();
  }, [loadChannels]);
  const addChannel = async () => {
    try {
      setError('');
      const made = await api<{ secret?: string }>('POST', '/notifications/channels', channel);
      setSecret(made.secret ?? '');
      setChannel({ ...channel, address: '' });
      await loadChannels();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const removeChannel = async (id: string) => {
    await api('DELETE', `/notifications/channels/${id}`).catch((err: Error) => setError(err.message));
    await loadChannels();
  };
  // An acknowledgement reloads under the filter chosen meanwhile, and only the latest answer is shown.
  const latest = useLatestRequest();
  const load = useCallback(() => {
    const q = new URLSearchParams({
      limit: '200',
      ...(filter.status ? { status: filter.status } : {}),
      ...(filter.kind ? { kind: filter.kind } : {}),
    });
    const current = latest();
    return api<{ total: number; items: Alert[] }>('GET', `/alerts?${q}`).then(
      (r) => current() && setAlerts(r),
      (err: Error) => current() && setError(err.message),
    );
  }, [filter, latest]);
  const reload = useRef(load);
  reload.current = load;
  useEffect(() => {
    void load();
  }, [load]);
  const move = async (a: Alert, to: 'acknowledge' | 'resolve') => {
    try {
      setError('');
      await api('POST', `/alerts/${a.id}/${to}`, to === 'resolve' && notes[a.id] ? { note: notes[a.id] } : {});
      await reload.current();
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
      <ErrorLine message={error} />
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
      <section class="panel" aria-labelledby="channels-h">
        <h2 id="channels-h">{t('channels')}</h2>
        <p class="quiet">{t('channelsHint')}</p>
        <ul class="history">
          {channels.map((c) => (
            <li key={c.id}>
              {t(`channel.${c.kind}` as MessageKey)}: {c.address} · {c.unitName ?? t('all')} ·{' '}
              {c.lastSentAt ? t('channelSent', { n: c.sent, at: hanoiTime(c.lastSentAt) }) : t('channelNotYet')}
              {c.lastError ? <span class="error"> ({c.lastError})</span> : null}{' '}
              <button type="button" class="link" onClick={() => removeChannel(c.id)}>
                {t('removeTarget', { name: c.address })}
              </button>
            </li>
          ))}
        </ul>
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            void addChannel();
          }}
        >
          <label>
            {t('channelKind')}
            <select value={channel.kind} onChange={(e) => setChannel({ ...channel, kind: e.currentTarget.value as Channel['kind'] })}>
              <option value="email">{t('channel.email')}</option>
              <option value="webhook">{t('channel.webhook')}</option>
            </select>
          </label>
          <label>
            {t('channelAddress')}
            <input value={channel.address} required onInput={(e) => setChannel({ ...channel, address: e.currentTarget.value })} />
          </label>
          <button type="submit">{t('addChannel')}</button>
        </form>
        {secret && <p role="status">{t('channelSecret', { secret })}</p>}
      </section>
    </section>
  );
}
