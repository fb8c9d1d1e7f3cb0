// The library: several files uploaded at once (bytes, then the server's processing), the items with their
// measurements, and submitting an item for approval.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Me, uploadFile } from '../api.ts';
import { duration, type MessageKey, t } from '../i18n.ts';

export interface Item {
  id: string;
  title: string;
  sha256: string;
  durationMs: number;
  status: string;
  loudnessBeforeLufs: number | null;
  loudnessAfterLufs: number | null;
}

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

const lufs = (v: number | null) => (v === null ? '—' : v.toFixed(1));
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function Library(_: { me: Me }) {
  const [items, setItems] = useState<Item[]>([]);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [error, setError] = useState('');
  const load = useCallback(
    () =>
      api<{ items: Item[] }>('GET', '/media?limit=100').then(
        (r) => setItems(r.items),
        (err: Error) => setError(err.message),
      ),
    [],
  );
  useEffect(() => {
    void load();
  }, [load]);

  const update = (i: number, change: Partial<Upload>) => setUploads((all) => all.map((u, j) => (j === i ? { ...u, ...change } : u)));
  const send = async (files: File[]) => {
    const start = uploads.length;
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
      <label class="upload">
        {t('upload')}
        <input
          type="file"
          multiple
          accept="audio/*,video/*,.amr,.m4a"
          aria-label={t('chooseFiles')}
          onChange={(e) => {
            const input = e.currentTarget as HTMLInputElement;
            const files = [...(input.files ?? [])];
            input.value = '';
            if (files.length) void send(files);
          }}
        />
      </label>
      {uploads.length > 0 && (
        <ul class="uploads">
          {uploads.map((u) => (
            <li key={u.name}>
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
      {error && (
        <p role="alert" class="error">
          {t('error', { message: error })}
        </p>
      )}
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
            {items.map((item) => (
              <tr key={item.id}>
                <td data-label={t('title')}>{item.title}</td>
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
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
