// The library: upload several files at once (bytes, then the server's processing), record from the
// microphone, type a bulletin and listen before saving; search (with or without diacritics), open an item
// (listen, level strip, history, metadata) and submit it for approval.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Me, uploadFile } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { type Item, ItemDetail, lufs } from '../components/item-detail.tsx';
import { Recorder } from '../components/recorder.tsx';
import { RelayPanel } from '../components/relay-panel.tsx';
import { TtsPanel } from '../components/tts-panel.tsx';
import { duration, type MessageKey, t } from '../i18n.ts';
import { useLatestRequest } from '../state.ts';

interface Upload {
  name: string;
  stage: 'uploading' | 'processing' | 'done' | 'failed';
  share: number;
  message?: string;
}

interface Job {
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  progress: number;
  error: { message: string } | null;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function Library(_: { me: Me }) {
  const [items, setItems] = useState<Item[]>([]);
  const [total, setTotal] = useState(0);
  const [query, setQuery] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const added = useRef(0);
  const [error, setError] = useState('');
  // A slow answer to an earlier search never replaces the answer to the latest one.
  const latest = useLatestRequest();
  const load = useCallback(() => {
    const current = latest();
    return api<{ total: number; items: Item[] }>(
      'GET',
      `/media?limit=100${query.trim() ? `&q=${encodeURIComponent(query.trim())}` : ''}`,
    ).then(
      (r) => {
        if (!current()) return;
        setItems(r.items);
        setTotal(r.total);
      },
      (err: Error) => current() && setError(err.message),
    );
  }, [query, latest]);
  useEffect(() => {
    // Typing searches after a short pause, not at every key.
    const timer = setTimeout(() => void load(), 250);
    return () => clearTimeout(timer);
  }, [load]);

  const update = (i: number, change: Partial<Upload>) => setUploads((all) => all.map((u, j) => (j === i ? { ...u, ...change } : u)));
  const send = async (files: File[]) => {
    // Rows are only ever appended: this batch's rows start at the count so far.
    const start = added.current;
    added.current += files.length;
    setUploads((all) => [...all, ...files.map((f) => ({ name: f.name, stage: 'uploading' as const, share: 0 }))]);
    await Promise.all(
      files.map(async (file, k) => {
        const i = start + k;
        try {
          const job = await uploadFile(file, (share) => update(i, { share }));
          update(i, { stage: 'processing', share: 0 });
          // The server's own progress, until the item is stored (or refused).
          for (;;) {
            const j = await api<Job>('GET', `/jobs/${job.id}`);
            if (j.status === 'succeeded') return update(i, { stage: 'done', share: 1 });
            if (j.status === 'failed') return update(i, { stage: 'failed', message: j.error?.message ?? '' });
            update(i, { share: j.progress });
            await wait(400);
          }
        } catch (err) {
          update(i, { stage: 'failed', message: (err as Error).message });
        }
      }),
    );
    await load();
  };

  const submit = async (id: string) => {
    try {
      await api('POST', `/media/${id}/submit`);
      await load();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <section>
      <h1>{t('library')}</h1>
      <div class="panels">
        <section class="panel" aria-labelledby="up-h">
          <h2 id="up-h">{t('upload')}</h2>
          <label class="upload">
            {t('chooseFiles')}
            <input
              type="file"
              multiple
              accept="audio/*,video/*,.amr,.m4a"
              onChange={(e) => {
                const input = e.currentTarget as HTMLInputElement;
                const files = [...(input.files ?? [])];
                input.value = '';
                if (files.length) void send(files);
              }}
            />
          </label>
        </section>
        <Recorder onRecorded={(file) => void send([file])} />
        <TtsPanel onSaved={() => void load()} />
        <RelayPanel onSaved={() => void load()} />
      </div>
      {uploads.length > 0 && (
        <ul class="uploads">
          {uploads.map((u, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: uploads are only ever appended
            <li key={i}>
              <span>{u.name}</span>
              <progress max={1} value={u.share} aria-label={`${u.name}: ${t(u.stage as MessageKey)}`} />
              <span>
                {t(u.stage as MessageKey)}
                {u.message ? `: ${u.message}` : ''}
              </span>
            </li>
          ))}
        </ul>
      )}
      <ErrorLine message={error} />
      <label class="search">
        {t('search')}
        <input type="search" value={query} placeholder={t('searchHint')} onInput={(e) => setQuery(e.currentTarget.value)} />
      </label>
      <p class="quiet" aria-live="polite">
        {t('found', { n: total })}
      </p>
      {items.length === 0 ? (
        <p>{t('empty')}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('title')}</th>
              <th scope="col">{t('duration')}</th>
              <th scope="col">{t('loudness')}</th>
              <th scope="col">{t('status')}</th>
              <th scope="col">{t('actions')}</th>
            </tr>
          </thead>
          <tbody>
            {items.flatMap((item) => [
              <tr key={item.id}>
                <td data-label={t('title')}>
                  <button
                    type="button"
                    class="link"
                    aria-expanded={open === item.id}
                    onClick={() => setOpen(open === item.id ? null : item.id)}
                  >
                    {item.title}
                  </button>
                </td>
                <td data-label={t('duration')}>{duration(item.durationMs)}</td>
                <td data-label={t('loudness')}>
                  {lufs(item.loudnessBeforeLufs)} → {lufs(item.loudnessAfterLufs)}
                </td>
                <td data-label={t('status')}>{t(`status.${item.status}` as MessageKey)}</td>
                <td>
                  {['draft', 'rejected'].includes(item.status) && (
                    <button type="button" onClick={() => submit(item.id)}>
                      {t('submit')}
                    </button>
                  )}
                </td>
              </tr>,
              ...(open === item.id
                ? [
                    <tr key={`${item.id}-detail`} class="opened">
                      <td colSpan={5}>
                        <ItemDetail item={item} onChanged={() => void load()} />
                      </td>
                    </tr>,
                  ]
                : []),
            ])}
          </tbody>
        </table>
      )}
    </section>
  );
}
