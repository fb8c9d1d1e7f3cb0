// Items waiting for this approver (their units' items): listen, see the level strip and history, approve or
// reject with a reason. The author cannot approve (the server says so).
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { History, type Item } from '../components/item-detail.tsx';
import { LevelStrip } from '../components/level-strip.tsx';
import { duration, t } from '../i18n.ts';

export function Approvals(_: { me: Me }) {
  const [items, setItems] = useState<Item[]>([]);
  const [error, setError] = useState('');
  const [reasons, setReasons] = useState<Record<string, string>>({});
  const load = useCallback(
    () =>
      api<{ items: Item[] }>('GET', '/media?status=submitted&reach=edit&limit=100').then(
        (r) => setItems(r.items),
        (err: Error) => setError(err.message),
      ),
    [],
  );
  useEffect(() => {
    void load();
  }, [load]);
  const act = async (id: string, action: 'approve' | 'reject') => {
    try {
      await api('POST', `/media/${id}/${action}`, action === 'reject' ? { reason: reasons[id] ?? '' } : {});
      setError('');
      await load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section>
      <h1>{t('approvals')}</h1>
      <ErrorLine message={error} />
      {items.length === 0 && <p>{t('nothingToApprove')}</p>}
      <ul class="cards">
        {items.map((item) => (
          <li key={item.id}>
            <h2>{item.title}</h2>
            <p>{duration(item.durationMs)}</p>
            {/* biome-ignore lint/a11y/useMediaCaption: spoken bulletins have no caption track; the title is above */}
            <audio controls preload="none" src={`/blobs/${item.sha256}`} aria-label={`${t('listen')}: ${item.title}`} />
            <LevelStrip mediaId={item.id} />
            <details>
              <summary>{t('history')}</summary>
              <History mediaId={item.id} />
            </details>
            <div class="row">
              <button type="button" onClick={() => act(item.id, 'approve')}>
                {t('approve')}
              </button>
              <label>
                {t('reason')}
                <input value={reasons[item.id] ?? ''} onInput={(e) => setReasons({ ...reasons, [item.id]: e.currentTarget.value })} />
              </label>
              <button type="button" onClick={() => act(item.id, 'reject')}>
                {t('reject')}
              </button>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
