// The schedules of the user's units (pause, resume, cancel), and a form that builds the repetition rule from
// plain choices, previews every refusal, then saves. Times are Hanoi's.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { hanoiTime, type MessageKey, t } from '../i18n.ts';
import type { Item } from './library.tsx';

interface Schedule {
  id: string;
  title: string;
  startsAt: string;
  rrule: string | null;
  priority: string;
  status: 'active' | 'paused' | 'cancelled';
  stations: string[];
  upcoming: number;
  held: number;
}
interface Unit {
  code: string;
  name: string;
}
interface Preview {
  stations: number;
  occurrences: number;
  violations: { total: number; items: { message: string }[] };
  overlaps: { total: number };
}

const REPEATS = ['once', 'daily', 'weekdays', 'days', 'monthly'] as const;
type Repeat = (typeof REPEATS)[number];
const BYDAY = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];

/** The RFC 5545 rule of the form's choices (evaluated by the server in Hanoi time). */
export function ruleOf(repeat: Repeat, days: string[], until: string): string | undefined {
  const base =
    repeat === 'once'
      ? undefined
      : repeat === 'daily'
        ? 'FREQ=DAILY'
        : repeat === 'weekdays'
          ? 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR'
          : repeat === 'days'
            ? `FREQ=WEEKLY;BYDAY=${days.join(',') || 'MO'}`
            : 'FREQ=MONTHLY';
  // The end of that day in Hanoi (UTC+7), as UNTIL wants it in UTC.
  return base && until ? `${base};UNTIL=${until.replace(/-/g, '')}T165959Z` : base;
}

export function Schedules(_: { me: Me }) {
  const [list, setList] = useState<Schedule[]>([]);
  const [items, setItems] = useState<Item[]>([]);
  const [units, setUnits] = useState<Unit[]>([]);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [preview, setPreview] = useState<Preview | null>(null);
  const [form, setForm] = useState({
    mediaId: '',
    unit: '',
    stations: '',
    date: '',
    time: '06:00',
    repeat: 'once' as Repeat,
    days: [] as string[],
    until: '',
    priority: 'normal',
  });
  const load = useCallback(
    () =>
      api<{ items: Schedule[] }>('GET', '/schedules?limit=100').then(
        (r) => setList(r.items),
        (err: Error) => setError(err.message),
      ),
    [],
  );
  useEffect(() => {
    void load();
    void api<{ items: Item[] }>('GET', '/media?status=approved&limit=100').then((r) => setItems(r.items));
    void api<{ items: Unit[] }>('GET', '/units?limit=1000').then((r) => setUnits(r.items));
  }, [load]);
  const body = () => {
    const rrule = ruleOf(form.repeat, form.days, form.until);
    const stations = form.stations.split(/[\s,]+/).filter(Boolean);
    return {
      mediaId: form.mediaId,
      targets: { ...(form.unit ? { units: [form.unit] } : {}), ...(stations.length ? { stations } : {}) },
      startsAt: `${form.date}T${form.time}:00+07:00`,
      ...(rrule ? { rrule } : {}),
      priority: form.priority,
    };
  };
  const run = async (what: () => Promise<void>) => {
    try {
      setError('');
      await what();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const change = (id: string, action: 'pause' | 'resume' | 'cancel') =>
    run(async () => {
      await api('POST', `/schedules/${id}/${action}`);
      await load();
    });
  const set = (key: keyof typeof form) => (e: Event) => setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });
  const dayNames = t('days').split(',');

  return (
    <section>
      <h1>{t('schedules')}</h1>
      {error && (
        <p role="alert" class="error">
          {t('error', { message: error })}
        </p>
      )}
      {notice && <p role="status">{notice}</p>}
      <table>
        <thead>
          <tr>
            <th scope="col">{t('item')}</th>
            <th scope="col">{t('startsAt')}</th>
            <th scope="col">{t('status')}</th>
            <th scope="col">{t('upcoming')}</th>
            <th scope="col">{t('actions')}</th>
          </tr>
        </thead>
        <tbody>
          {list.map((s) => (
            <tr key={s.id} class={`priority-${s.priority}`}>
              <td data-label={t('item')}>{s.title}</td>
              <td data-label={t('startsAt')}>{hanoiTime(s.startsAt)}</td>
              <td data-label={t('status')}>{t(`status.${s.status}` as MessageKey)}</td>
              <td data-label={t('upcoming')}>
                {s.upcoming}
                {s.held ? ` (${t('held')} ${s.held})` : ''}
              </td>
              <td class="row">
                {s.status === 'active' && (
                  <button type="button" onClick={() => change(s.id, 'pause')}>
                    {t('pause')}
                  </button>
                )}
                {s.status === 'paused' && (
                  <button type="button" onClick={() => change(s.id, 'resume')}>
                    {t('resume')}
                  </button>
                )}
                {s.status !== 'cancelled' && (
                  <button type="button" onClick={() => change(s.id, 'cancel')}>
                    {t('cancel')}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>

      <h2>{t('newSchedule')}</h2>
      <form
        class="schedule"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            await api('POST', '/schedules', body());
            setNotice(t('saved'));
            setPreview(null);
            await load();
          });
        }}
      >
        <label>
          {t('item')}
          <select value={form.mediaId} onChange={set('mediaId')} required>
            <option value="">{t('chooseItem')}</option>
            {items.map((i) => (
              <option key={i.id} value={i.id}>
                {i.title}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('unit')}
          <select value={form.unit} onChange={set('unit')}>
            <option value="">{t('chooseUnit')}</option>
            {units.map((u) => (
              <option key={u.code} value={u.code}>
                {u.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('stations')}
          <input value={form.stations} onInput={set('stations')} />
        </label>
        <label>
          {t('date')}
          <input type="date" value={form.date} onInput={set('date')} required />
        </label>
        <label>
          {t('time')}
          <input type="time" value={form.time} onInput={set('time')} required />
        </label>
        <label>
          {t('repeat')}
          <select value={form.repeat} onChange={set('repeat')}>
            {REPEATS.map((r) => (
              <option key={r} value={r}>
                {t(`repeat.${r}` as MessageKey)}
              </option>
            ))}
          </select>
        </label>
        {form.repeat === 'days' && (
          <fieldset>
            <legend>{t('repeat.days')}</legend>
            {BYDAY.map((d, i) => (
              <label key={d} class="inline">
                <input
                  type="checkbox"
                  checked={form.days.includes(d)}
                  onChange={(e) =>
                    setForm({ ...form, days: e.currentTarget.checked ? [...form.days, d] : form.days.filter((x) => x !== d) })
                  }
                />
                {dayNames[i]}
              </label>
            ))}
          </fieldset>
        )}
        {form.repeat !== 'once' && (
          <label>
            {t('until')}
            <input type="date" value={form.until} onInput={set('until')} />
          </label>
        )}
        <label>
          {t('priority')}
          <select value={form.priority} onChange={set('priority')}>
            {['normal', 'priority', 'emergency'].map((p) => (
              <option key={p} value={p}>
                {t(`priority.${p}` as MessageKey)}
              </option>
            ))}
          </select>
        </label>
        <div class="row">
          <button type="button" onClick={() => run(async () => setPreview(await api<Preview>('POST', '/schedules/preview', body())))}>
            {t('preview')}
          </button>
          <button type="submit">{t('save')}</button>
        </div>
      </form>
      {preview && (
        <div class="preview" role="status">
          <p>{t('previewResult', { stations: preview.stations, occurrences: preview.occurrences })}</p>
          <p>{preview.violations.total ? t('refusals', { n: preview.violations.total }) : t('noRefusals')}</p>
          <ul>
            {preview.violations.items.slice(0, 50).map((v) => (
              <li key={v.message}>{v.message}</li>
            ))}
          </ul>
          {preview.overlaps.total > 0 && <p>{t('overlaps', { n: preview.overlaps.total })}</p>}
        </div>
      )}
    </section>
  );
}
