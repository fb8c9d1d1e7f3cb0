// One item opened in the library: listen, its level strip and measurements, its history, and its metadata
// (editable while it is a draft or was rejected: the server refuses the rest).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { duration, hanoiTime, type MessageKey, t } from '../i18n.ts';
import { ErrorLine } from './error-line.tsx';
import { LevelStrip } from './level-strip.tsx';

export interface Item {
  id: string;
  title: string;
  sha256: string;
  durationMs: number;
  status: string;
  statusReason: string | null;
  loudnessBeforeLufs: number | null;
  loudnessAfterLufs: number | null;
  truePeakAfterDbtp: number | null;
  description: string;
  category: string;
  tags: string[];
  sourceName: string;
  createdAt: string;
}

interface Step {
  from: string;
  to: string;
  by: string;
  at: string;
  reason: string | null;
}

export const CATEGORIES = ['news', 'policy', 'emergency', 'announcement', 'music'] as const;
export const lufs = (v: number | null) => (v === null ? '—' : v.toFixed(1));

export function History({ mediaId }: { mediaId: string }) {
  const [steps, setSteps] = useState<Step[] | null>(null);
  useEffect(() => {
    api<Step[]>('GET', `/media/${mediaId}/history`).then(setSteps, () => setSteps([]));
  }, [mediaId]);
  if (!steps) return <p class="quiet">…</p>;
  if (!steps.length) return <p class="quiet">{t('noHistory')}</p>;
  return (
    <ol class="history">
      {steps.map((s) => (
        <li key={`${s.at}${s.to}`}>
          {hanoiTime(s.at)} · {s.by}: {t(`status.${s.from}` as MessageKey)} → {t(`status.${s.to}` as MessageKey)}
          {s.reason ? ` (${s.reason})` : ''}
        </li>
      ))}
    </ol>
  );
}

export function ItemDetail({ item, onChanged }: { item: Item; onChanged: () => void }) {
  const editable = item.status === 'draft' || item.status === 'rejected';
  const [form, setForm] = useState({
    title: item.title,
    description: item.description,
    category: item.category,
    tags: item.tags.join(', '),
  });
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const save = async () => {
    setError('');
    try {
      const tags = form.tags
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      await api('PATCH', `/media/${item.id}`, { title: form.title, description: form.description, category: form.category, tags });
      setNotice(t('itemSaved'));
      onChanged();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <div class="detail">
      {/* biome-ignore lint/a11y/useMediaCaption: spoken bulletins have no caption track; the title is above */}
      <audio controls preload="none" src={`/blobs/${item.sha256}`} aria-label={t('listen')} />
      <LevelStrip mediaId={item.id} />
      <dl class="facts">
        <dt>{t('duration')}</dt>
        <dd>{duration(item.durationMs)}</dd>
        <dt>{t('loudness')}</dt>
        <dd>
          {lufs(item.loudnessBeforeLufs)} → {lufs(item.loudnessAfterLufs)} ({t('truePeak')} {lufs(item.truePeakAfterDbtp)} dBTP)
        </dd>
        <dt>{t('source')}</dt>
        <dd>{item.sourceName}</dd>
        <dt>{t('uploaded')}</dt>
        <dd>{hanoiTime(item.createdAt)}</dd>
        {item.statusReason && (
          <>
            <dt>{t('reasonGiven')}</dt>
            <dd>{item.statusReason}</dd>
          </>
        )}
      </dl>
      <h3>{t('history')}</h3>
      <History mediaId={item.id} />
      <h3>{t('metadata')}</h3>
      {!editable && <p class="quiet">{t('notEditable')}</p>}
      <form
        class="meta"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <fieldset disabled={!editable}>
          <label>
            {t('title')}
            <input value={form.title} required maxLength={200} onInput={(e) => setForm({ ...form, title: e.currentTarget.value })} />
          </label>
          <label>
            {t('description')}
            <textarea rows={3} value={form.description} onInput={(e) => setForm({ ...form, description: e.currentTarget.value })} />
          </label>
          <label>
            {t('category')}
            <select value={form.category} onChange={(e) => setForm({ ...form, category: e.currentTarget.value })}>
              {CATEGORIES.map((c) => (
                <option key={c} value={c}>
                  {t(`category.${c}` as MessageKey)}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('tags')}
            <input value={form.tags} onInput={(e) => setForm({ ...form, tags: e.currentTarget.value })} />
          </label>
          <button type="submit">{t('saveChanges')}</button>
        </fieldset>
      </form>
      <ErrorLine message={error} />
      {notice && <p role="status">{notice}</p>}
    </div>
  );
}
