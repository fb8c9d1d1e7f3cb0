// A typed bulletin: the text spoken by the server's voice, listened to before it is saved as an item.
import { useState } from 'preact/hooks';
import { api, apiBlob } from '../api.ts';
import { type MessageKey, t } from '../i18n.ts';
import { ErrorLine } from './error-line.tsx';

const CHIMES = ['none', 'intro', 'both'] as const;

export function TtsPanel({ onSaved }: { onSaved: () => void }) {
  const [form, setForm] = useState({ title: '', text: '', speed: 150, chime: 'none' as (typeof CHIMES)[number] });
  const [heard, setHeard] = useState<{ url: string; of: string } | null>(null);
  const [busy, setBusy] = useState<'' | 'listening' | 'saving'>('');
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const speech = () => ({ text: form.text, speed: form.speed, chime: form.chime });
  const key = JSON.stringify(speech());
  const run = async (what: 'listening' | 'saving', work: () => Promise<void>) => {
    setBusy(what);
    setError('');
    setNotice('');
    try {
      await work();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy('');
    }
  };
  const listen = () =>
    run('listening', async () => {
      const blob = await apiBlob('POST', '/media/tts/preview', speech());
      if (heard) URL.revokeObjectURL(heard.url);
      setHeard({ url: URL.createObjectURL(blob), of: key });
    });
  const save = () =>
    run('saving', async () => {
      await api('POST', '/media/tts', { title: form.title, ...speech() });
      setNotice(t('ttsSaved', { title: form.title }));
      setForm({ ...form, title: '', text: '' });
      setHeard(null);
      onSaved();
    });
  return (
    <section class="panel" aria-labelledby="tts-h">
      <h2 id="tts-h">{t('tts')}</h2>
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
        <label>
          {t('ttsText')}
          <textarea
            rows={5}
            value={form.text}
            required
            maxLength={20_000}
            onInput={(e) => setForm({ ...form, text: e.currentTarget.value })}
          />
        </label>
        <div class="row">
          <label>
            {t('ttsSpeed', { speed: form.speed })}
            <input
              type="range"
              min={80}
              max={300}
              step={10}
              value={form.speed}
              onInput={(e) => setForm({ ...form, speed: Number(e.currentTarget.value) })}
            />
          </label>
          <label>
            {t('chime')}
            <select value={form.chime} onChange={(e) => setForm({ ...form, chime: e.currentTarget.value as (typeof CHIMES)[number] })}>
              {CHIMES.map((c) => (
                <option key={c} value={c}>
                  {t(`chime.${c}` as MessageKey)}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div class="row">
          <button type="button" onClick={listen} disabled={!form.text.trim() || busy !== ''}>
            {busy === 'listening' ? t('ttsSpeaking') : t('listen')}
          </button>
          <button type="submit" disabled={busy !== ''}>
            {busy === 'saving' ? t('processing') : t('ttsSave')}
          </button>
        </div>
        {heard && (
          <div class="stack">
            {heard.of !== key && <p class="quiet">{t('ttsChanged')}</p>}
            {/* biome-ignore lint/a11y/useMediaCaption: the text being spoken is in the box above */}
            <audio controls autoplay src={heard.url} aria-label={t('listen')} />
          </div>
        )}
        <ErrorLine message={error} />
        {notice && <p role="status">{notice}</p>}
      </form>
    </section>
  );
}
