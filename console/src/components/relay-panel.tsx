// Tiếp sóng: a relay of an upstream station (VOV, the provincial radio) as a library item: its addresses in the
// order to try, the slot it fills, the file that airs when every address fails. The server checks what it can
// reach and says so; the item is then submitted, approved and scheduled like any other.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { t } from '../i18n.ts';
import { ErrorLine } from './error-line.tsx';

interface Check {
  url: string;
  checked: boolean;
  codec?: string;
  reason?: string;
  detail?: string;
}

export function RelayPanel({ onSaved }: { onSaved: () => void }) {
  const [form, setForm] = useState({ title: '', urls: ['', '', ''], minutes: 30, deadAirS: 10, fallback: '' });
  const [files, setFiles] = useState<{ id: string; title: string }[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [checks, setChecks] = useState<Check[] | null>(null);
  useEffect(() => {
    // The fallback is an approved file of the library.
    void api<{ items: { id: string; title: string; relay: unknown }[] }>('GET', '/media?status=approved&limit=200').then(
      (r) => setFiles(r.items.filter((i) => !i.relay)),
      () => {},
    );
  }, []);
  const save = async () => {
    setBusy(true);
    setError('');
    setChecks(null);
    try {
      const r = await api<{ checks: Check[] }>('POST', '/media/relays', {
        title: form.title,
        urls: form.urls.map((u) => u.trim()).filter(Boolean),
        durationMs: form.minutes * 60_000,
        deadAirS: form.deadAirS,
        fallbackMediaId: form.fallback,
      });
      setChecks(r.checks);
      setForm({ ...form, title: '', urls: ['', '', ''] });
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="panel" aria-labelledby="relay-h">
      <h2 id="relay-h">{t('relay')}</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <label>
          {t('title')}
          <input value={form.title} required maxLength={200} onInput={(e) => setForm({ ...form, title: e.currentTarget.value })} />
        </label>
        {form.urls.map((u, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: three fixed fields, in the order they are tried
          <label key={i}>
            {t('relayUrl', { n: i + 1 })}
            <input
              type="url"
              value={u}
              required={i === 0}
              maxLength={512}
              placeholder="https://…"
              onInput={(e) => setForm({ ...form, urls: form.urls.map((x, j) => (j === i ? e.currentTarget.value : x)) })}
            />
          </label>
        ))}
        <div class="row">
          <label>
            {t('relayMinutes')}
            <input
              type="number"
              min={1}
              max={360}
              value={form.minutes}
              onInput={(e) => setForm({ ...form, minutes: Number(e.currentTarget.value) })}
            />
          </label>
          <label>
            {t('relayDeadAir')}
            <input
              type="number"
              min={2}
              max={120}
              value={form.deadAirS}
              onInput={(e) => setForm({ ...form, deadAirS: Number(e.currentTarget.value) })}
            />
          </label>
        </div>
        <label>
          {t('relayFallback')}
          <select required value={form.fallback} onChange={(e) => setForm({ ...form, fallback: e.currentTarget.value })}>
            <option value="">—</option>
            {files.map((f) => (
              <option key={f.id} value={f.id}>
                {f.title}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={busy}>
          {busy ? t('relayChecking') : t('relaySave')}
        </button>
        <ErrorLine message={error} />
        {checks && (
          <ul role="status">
            {checks.map((c) => (
              <li key={c.url}>
                {c.url}:{' '}
                {c.checked ? t('relayChecked', { codec: c.codec ?? '' }) : t('relayUnchecked', { why: c.detail ?? c.reason ?? '' })}
              </li>
            ))}
          </ul>
        )}
      </form>
    </section>
  );
}
