// The audit log for auditors (and the province's administrators), within their scope: every change and every
// read of broadcast evidence, who, what, when (Hanoi time), from where and what came of it; optionally the
// stations' proofs of play on the same timeline. Filters by day, user and action; CSV of the same rows.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { hanoiDate, hanoiTime, t } from '../i18n.ts';
import { useLatestRequest } from '../state.ts';

interface Entry {
  source: 'api' | 'gateway';
  seq: number | null;
  at: string;
  username: string | null;
  role: string | null;
  ip: string;
  action: string;
  params: string | null;
  request: string | null;
  status: number;
  response: string | null;
  requestId: string;
}

const PAGE = 200;
/** Roles that may read the audit log (the server's "audit" capability). */
export const AUDIT_ROLES = ['province_admin', 'auditor'];

export function Audit() {
  const today = hanoiDate(Date.now());
  const [filter, setFilter] = useState({ from: today, to: today, user: '', route: '', gateways: false });
  const [asked, setAsked] = useState(filter);
  const [items, setItems] = useState<Entry[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState('');
  // Whole Hanoi days: from the first day's midnight to the midnight after the last.
  const params = (f: typeof filter) =>
    new URLSearchParams({
      from: `${f.from}T00:00:00+07:00`,
      to: new Date(Date.parse(`${f.to}T00:00:00+07:00`) + 86_400_000).toISOString(),
      ...(f.user ? { user: f.user } : {}),
      ...(f.route ? { route: f.route } : {}),
      gateways: String(f.gateways),
    });
  // A page asked under an earlier filter is dropped when it answers late.
  const latest = useLatestRequest();
  const load = async (f: typeof filter, offset: number) => {
    setError('');
    const current = latest();
    try {
      const r = await api<{ total: number; items: Entry[] }>('GET', `/audit?${params(f)}&limit=${PAGE}&offset=${offset}`);
      if (!current()) return;
      setItems((all) => (offset === 0 ? r.items : [...all, ...r.items]));
      setTotal(r.total);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  // biome-ignore lint/correctness/useExhaustiveDependencies: the first page is read again only when the filter is applied
  useEffect(() => {
    void load(asked, 0);
  }, [asked]);

  return (
    <section>
      <h1>{t('audit')}</h1>
      <p>{t('auditIntro')}</p>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setAsked({ ...filter });
        }}
      >
        <label>
          {t('fromDay')}
          <input type="date" value={filter.from} max={filter.to} onInput={(e) => setFilter({ ...filter, from: e.currentTarget.value })} />
        </label>
        <label>
          {t('toDay')}
          <input type="date" value={filter.to} min={filter.from} onInput={(e) => setFilter({ ...filter, to: e.currentTarget.value })} />
        </label>
        <label>
          {t('auditUser')}
          <input value={filter.user} maxLength={100} onInput={(e) => setFilter({ ...filter, user: e.currentTarget.value })} />
        </label>
        <label>
          {t('auditRoute')}
          <input value={filter.route} maxLength={200} onInput={(e) => setFilter({ ...filter, route: e.currentTarget.value })} />
        </label>
        <label class="check">
          <input type="checkbox" checked={filter.gateways} onChange={(e) => setFilter({ ...filter, gateways: e.currentTarget.checked })} />
          {t('auditGateways')}
        </label>
        <button type="submit">{t('auditSearch')}</button>
      </form>
      <ErrorLine message={error} />
      {total !== null && (
        <p class="row">
          <span data-count="audit">{t('auditFound', { n: total })}</span> · {t('export')}:{' '}
          <a href={`/api/v1/audit?${params(asked)}&format=csv&limit=5000`}>CSV</a>
        </p>
      )}
      {items.length > 0 && (
        <table class="audit">
          <thead>
            <tr>
              <th scope="col">{t('when')}</th>
              <th scope="col">{t('auditWho')}</th>
              <th scope="col">{t('auditAction')}</th>
              <th scope="col">{t('auditResult')}</th>
              <th scope="col">{t('auditFrom')}</th>
              <th scope="col">{t('auditDetails')}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={`${e.source}:${e.requestId}:${e.seq ?? ''}`} data-source={e.source}>
                <td data-label={t('when')}>{hanoiTime(e.at)}</td>
                <td data-label={t('auditWho')}>
                  {e.username ?? '—'}
                  {e.source === 'gateway' ? ` (${t('auditGateway')})` : e.role ? ` (${e.role})` : ''}
                </td>
                <td data-label={t('auditAction')}>
                  <code>{e.action}</code>
                </td>
                <td data-label={t('auditResult')} class={e.status >= 400 ? 'error' : undefined}>
                  {e.status}
                </td>
                <td data-label={t('auditFrom')}>{e.ip}</td>
                <td data-label={t('auditDetails')}>
                  {(e.params || e.request || e.response) && (
                    <details>
                      <summary>{t('auditDetails')}</summary>
                      <pre>{[e.params, e.request, e.response].filter(Boolean).join('\n')}</pre>
                    </details>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {total !== null && items.length < total && (
        <button type="button" onClick={() => load(asked, items.length)}>
          {t('loadMore')}
        </button>
      )}
    </section>
  );
}
