// The schedules of the user's units (edit, pause, resume, cancel), and a form that builds the repetition
// rule from plain choices, picks targets from the unit tree, lists every airing per station with what will
// happen to it, then saves. Times are Hanoi's. After each change: which gateways have their new plans.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { DeliveryState } from '../components/delivery.tsx';
import { ErrorLine } from '../components/error-line.tsx';
import type { Item } from '../components/item-detail.tsx';
import { TargetPicker, type Targets } from '../components/target-picker.tsx';
import { hanoiDate, hanoiTime, type MessageKey, t } from '../i18n.ts';

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
interface ScheduleDetail {
  id: string;
  mediaId: string | null;
  startsAtLocal: string;
  rrule: string | null;
  exdates: string[];
  priority: string;
  conflict: string;
  startWindowMs: number;
  targets: { units?: string[]; stations?: string[] };
}
interface Row {
  station: string;
  stationName: string;
  startsAt: string;
  title: string;
  outcome: 'airs' | 'refused' | 'skipped' | 'cut' | 'waits' | 'preempts' | 'displaces' | 'delays';
  rule?: string;
  ruleUnit?: string;
  message?: string;
  other?: { startsAt: string; title: string };
}
interface Preview {
  skipped: number;
  stations: number;
  occurrences: number;
  violations: { total: number };
  airings: { total: number; items: Row[] };
}

const REPEATS = ['once', 'daily', 'weekdays', 'days', 'monthly'] as const;
type Repeat = (typeof REPEATS)[number];
const BYDAY = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
const CONFLICTS = ['queue', 'preempt', 'skip'] as const;
/** Rows shown at once; the counts above them cover all. */
const SHOWN_ROWS = 300;

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

/** The form's choices for a saved rule (the inverse of ruleOf), or null for a rule the form cannot show. */
export function choicesOf(rrule: string | null): { repeat: Repeat; days: string[]; until: string } | null {
  if (!rrule) return { repeat: 'once', days: [], until: '' };
  const parts = Object.fromEntries(rrule.split(';').map((p) => p.split('=') as [string, string]));
  const m = /^(\d{4})(\d{2})(\d{2})T165959Z$/.exec(parts.UNTIL ?? '');
  if ((parts.UNTIL && !m) || Object.keys(parts).some((k) => !['FREQ', 'BYDAY', 'UNTIL'].includes(k))) return null;
  const until = m ? `${m[1]}-${m[2]}-${m[3]}` : '';
  const days = parts.BYDAY ? parts.BYDAY.split(',') : [];
  if (parts.FREQ === 'DAILY' && !parts.BYDAY) return { repeat: 'daily', days: [], until };
  if (parts.FREQ === 'MONTHLY' && !parts.BYDAY) return { repeat: 'monthly', days: [], until };
  if (parts.FREQ === 'WEEKLY' && days.length) return { repeat: days.join(',') === 'MO,TU,WE,TH,FR' ? 'weekdays' : 'days', days, until };
  return null;
}

const blank = () => ({
  mediaId: '',
  targets: { units: [], stations: [] } as Targets,
  date: '',
  time: '06:00',
  repeat: 'once' as Repeat,
  days: [] as string[],
  until: '',
  exdates: [] as string[],
  priority: 'normal',
  conflict: 'queue' as (typeof CONFLICTS)[number],
  window: 15,
  /** A saved rule the form cannot show; kept unless the repetition is changed. */
  keptRule: null as string | null,
});
type Form = ReturnType<typeof blank>;

export function Schedules({ me }: { me: Me }) {
  const [list, setList] = useState<Schedule[]>([]);
  const [items, setItems] = useState<Item[]>([]);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [changedAt, setChangedAt] = useState('');
  const [preview, setPreview] = useState<Preview | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [form, setFormState] = useState<Form>(blank);
  const [exdate, setExdate] = useState('');
  const setForm = (next: Form) => {
    setFormState(next);
    setPreview(null);
  };
  const load = useCallback(
    () =>
      api<{ items: Schedule[] }>('GET', '/schedules?limit=100').then(
        (r) => setList(r.items),
        (err: Error) => setError(err.message),
      ),
    [],
  );
  const run = async (what: () => Promise<void>) => {
    try {
      setError('');
      setNotice('');
      await what();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const edit = (id: string) =>
    run(async () => {
      const s = await api<ScheduleDetail>('GET', `/schedules/${id}`);
      const choices = choicesOf(s.rrule);
      const date = s.startsAtLocal.slice(0, 10);
      const time = s.startsAtLocal.slice(11, 16);
      setEditing(id);
      setForm({
        ...blank(),
        mediaId: s.mediaId ?? '',
        targets: { units: s.targets.units ?? [], stations: s.targets.stations ?? [] },
        date,
        time,
        ...(choices ?? { repeat: 'once', days: [], until: '' }),
        keptRule: choices ? null : s.rrule,
        exdates: s.exdates.map(hanoiDate),
        priority: s.priority,
        conflict: s.conflict as Form['conflict'],
        window: Math.round(s.startWindowMs / 60_000),
      });
      document.getElementById('schedule-form')?.scrollIntoView();
    });
  // biome-ignore lint/correctness/useExhaustiveDependencies: once, when the page opens (edit is remade each render)
  useEffect(() => {
    void load();
    void api<{ items: Item[] }>('GET', '/media?status=approved&limit=200').then((r) => setItems(r.items));
    // #/schedules?edit=<id>: opened from the calendar.
    const id = new URLSearchParams(location.hash.split('?')[1] ?? '').get('edit');
    if (id) void edit(id);
  }, [load]);

  const rule = () => form.keptRule ?? ruleOf(form.repeat, form.days, form.until);
  const at = (date: string) => `${date}T${form.time}`;
  const definition = () => {
    const rrule = rule();
    return {
      targets: {
        ...(form.targets.units.length ? { units: form.targets.units } : {}),
        ...(form.targets.stations.length ? { stations: form.targets.stations } : {}),
      },
      // Hanoi wall-clock times: the server reads a time without an offset as Hanoi's.
      startsAt: at(form.date),
      ...(rrule ? { exdates: form.exdates.map(at) } : {}),
      priority: form.priority,
      conflict: form.conflict,
      startWindowMinutes: form.conflict === 'queue' ? form.window : 0,
      rrule,
    };
  };
  const createBody = () => {
    const { rrule, ...rest } = definition();
    return { mediaId: form.mediaId, ...rest, ...(rrule ? { rrule } : {}) };
  };
  const changed = async (message: string) => {
    setNotice(message);
    await load();
  };
  const act = (id: string, action: 'pause' | 'resume' | 'cancel') =>
    run(async () => {
      if (action === 'cancel' && !confirm(t('confirmCancelSchedule'))) return;
      const since = new Date().toISOString();
      const r = await api<{ airings: number }>('POST', `/schedules/${id}/${action}`);
      setChangedAt(since);
      await changed(t(`changed.${action}` as MessageKey, { n: r.airings }));
    });
  const save = () =>
    run(async () => {
      const since = new Date().toISOString();
      if (editing) {
        const { rrule, ...rest } = definition();
        await api('PATCH', `/schedules/${editing}`, { ...rest, rrule: rrule ?? null });
      } else await api('POST', '/schedules', createBody());
      setChangedAt(since);
      setEditing(null);
      setForm(blank());
      await changed(t('saved'));
    });
  const dayNames = t('days').split(',');
  const set = (key: 'mediaId' | 'date' | 'time' | 'until' | 'priority') => (e: Event) =>
    setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });
  const outcome = (r: Row) => {
    const other = r.other ? { title: r.other.title, time: hanoiTime(r.other.startsAt) } : { title: '', time: '' };
    if (r.outcome === 'refused') return t('outcome.refused', { rule: t(`rule.${r.rule}` as MessageKey), unit: r.ruleUnit ?? '' });
    return t(`outcome.${r.outcome}` as MessageKey, other);
  };
  const counts = new Map<Row['outcome'], number>();
  for (const r of preview?.airings.items ?? []) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);

  return (
    <section>
      <h1>{t('schedules')}</h1>
      <ErrorLine message={error} />
      {notice && <p role="status">{notice}</p>}
      {changedAt && <DeliveryState since={changedAt} />}
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
                {s.status !== 'cancelled' && (
                  <button type="button" class="link" onClick={() => edit(s.id)}>
                    {t('edit')}
                  </button>
                )}
                {s.status === 'active' && (
                  <button type="button" onClick={() => act(s.id, 'pause')}>
                    {t('pause')}
                  </button>
                )}
                {s.status === 'paused' && (
                  <button type="button" onClick={() => act(s.id, 'resume')}>
                    {t('resume')}
                  </button>
                )}
                {s.status !== 'cancelled' && (
                  <button type="button" onClick={() => act(s.id, 'cancel')}>
                    {t('cancel')}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>

      <h2 id="schedule-form">{editing ? t('editSchedule') : t('newSchedule')}</h2>
      <form
        class="schedule"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <label>
          {t('item')}
          <select value={form.mediaId} onChange={set('mediaId')} required disabled={editing !== null}>
            <option value="">{t('chooseItem')}</option>
            {items.map((i) => (
              <option key={i.id} value={i.id}>
                {i.title}
              </option>
            ))}
          </select>
        </label>
        <TargetPicker me={me} value={form.targets} onChange={(targets) => setForm({ ...form, targets })} />
        <div class="row">
          <label>
            {form.repeat === 'once' ? t('date') : t('firstDate')}
            <input type="date" value={form.date} onInput={set('date')} required />
          </label>
          <label>
            {t('time')}
            <input type="time" value={form.time} onInput={set('time')} required />
          </label>
          <label>
            {t('repeat')}
            <select
              value={form.keptRule ? '' : form.repeat}
              onChange={(e) => setForm({ ...form, keptRule: null, repeat: e.currentTarget.value as Repeat })}
            >
              {form.keptRule && <option value="">{t('repeat.advanced', { rule: form.keptRule })}</option>}
              {REPEATS.map((r) => (
                <option key={r} value={r}>
                  {t(`repeat.${r}` as MessageKey)}
                </option>
              ))}
            </select>
          </label>
          {form.repeat !== 'once' && !form.keptRule && (
            <label>
              {t('until')}
              <input type="date" value={form.until} onInput={set('until')} />
            </label>
          )}
        </div>
        {form.repeat === 'days' && !form.keptRule && (
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
        {(form.repeat !== 'once' || form.keptRule) && (
          <fieldset>
            <legend>{t('exceptions')}</legend>
            <div class="row">
              <label>
                {t('exceptionDate')}
                <input type="date" value={exdate} onInput={(e) => setExdate(e.currentTarget.value)} />
              </label>
              <button
                type="button"
                class="link"
                disabled={!exdate}
                onClick={() => {
                  setForm({ ...form, exdates: [...new Set([...form.exdates, exdate])].sort() });
                  setExdate('');
                }}
              >
                {t('addException')}
              </button>
            </div>
            {form.exdates.length > 0 && (
              <ul class="chips">
                {form.exdates.map((d) => (
                  <li key={d}>
                    {d}
                    <button
                      type="button"
                      class="link"
                      aria-label={t('removeTarget', { name: d })}
                      onClick={() => setForm({ ...form, exdates: form.exdates.filter((x) => x !== d) })}
                    >
                      ×
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </fieldset>
        )}
        <div class="row">
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
          <label>
            {t('conflict')}
            <select value={form.conflict} onChange={(e) => setForm({ ...form, conflict: e.currentTarget.value as Form['conflict'] })}>
              {CONFLICTS.map((c) => (
                <option key={c} value={c}>
                  {t(`conflict.${c}` as MessageKey)}
                </option>
              ))}
            </select>
          </label>
          {form.conflict === 'queue' && (
            <label>
              {t('startWindow')}
              <input
                type="number"
                min={0}
                max={240}
                value={form.window}
                onInput={(e) => setForm({ ...form, window: Number(e.currentTarget.value) })}
              />
            </label>
          )}
        </div>
        <div class="row">
          <button
            type="button"
            onClick={() =>
              run(async () =>
                setPreview(
                  await api<Preview>(
                    'POST',
                    `/schedules/preview${editing ? `?replacing=${editing}` : ''}`,
                    editing ? { ...createBody(), mediaId: form.mediaId } : createBody(),
                  ),
                ),
              )
            }
          >
            {t('preview')}
          </button>
          <button type="submit">{editing ? t('saveChanges') : t('save')}</button>
          {editing && (
            <button
              type="button"
              class="link"
              onClick={() => {
                setEditing(null);
                setForm(blank());
              }}
            >
              {t('discard')}
            </button>
          )}
        </div>
      </form>
      {preview && (
        <div class="preview" role="status">
          {preview.skipped > 0 && <p class="error">{t('skippedFirst', { n: preview.skipped })}</p>}
          <p>{t('previewResult', { stations: preview.stations, occurrences: preview.occurrences })}</p>
          <p>{preview.violations.total ? t('refusals', { n: preview.violations.total }) : t('noRefusals')}</p>
          <ul class="counts">
            {[...counts].map(([o, n]) => (
              <li key={o} class={`outcome-${o}`}>
                {t(`count.${o}` as MessageKey, { n })}
              </li>
            ))}
          </ul>
          <table class="airings">
            <thead>
              <tr>
                <th scope="col">{t('station')}</th>
                <th scope="col">{t('when')}</th>
                <th scope="col">{t('outcome')}</th>
              </tr>
            </thead>
            <tbody>
              {preview.airings.items.slice(0, SHOWN_ROWS).map((r) => (
                <tr key={`${r.station}${r.startsAt}${r.title}`} class={`outcome-${r.outcome}`}>
                  <td data-label={t('station')}>{r.stationName}</td>
                  <td data-label={t('when')}>{hanoiTime(r.startsAt)}</td>
                  <td data-label={t('outcome')}>{outcome(r)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {preview.airings.total > SHOWN_ROWS && <p class="quiet">{t('moreRows', { n: preview.airings.total - SHOWN_ROWS })}</p>}
        </div>
      )}
    </section>
  );
}
