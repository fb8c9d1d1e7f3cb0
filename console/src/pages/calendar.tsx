// The airings of the user's units in Hanoi time: a week day by day, or one day hour by hour, coloured by
// priority and marked by status (from the as-run: to come, aired, missed, skipped). In the day view an
// airing to come can be cancelled alone, or its schedule opened for editing.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { lang, type MessageKey, t } from '../i18n.ts';
import { useLatestRequest } from '../state.ts';

interface Airing {
  occurrenceId: string;
  scheduleId: string;
  station: string;
  stationName: string;
  title: string;
  priority: string;
  startsAt: string;
  status: string;
  /** Why it did not air as planned (cancelled, …). */
  reason?: string;
}

const DAY_MS = 86_400_000;
const HANOI_MS = 7 * 3600_000;
/** Midnight in Hanoi of the day holding `at`, as a UTC instant. */
const hanoiMidnight = (at: number) => Math.floor((at + HANOI_MS) / DAY_MS) * DAY_MS - HANOI_MS;
const fmt = (opts: Intl.DateTimeFormatOptions) =>
  new Intl.DateTimeFormat(lang.get() === 'vi' ? 'vi-VN' : 'en-GB', { timeZone: 'Asia/Ho_Chi_Minh', ...opts });

export function Calendar(_: { me: Me }) {
  const [view, setView] = useState<'week' | 'day'>('week');
  const [start, setStart] = useState(() => hanoiMidnight(Date.now()));
  const [airings, setAirings] = useState<Airing[]>([]);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  // Busy until the airings of exactly the days shown have arrived (read by screen readers and tests).
  const [loadedFor, setLoadedFor] = useState('');
  const span = view === 'week' ? 7 * DAY_MS : DAY_MS;
  // Paging quickly through weeks: only the latest request's answer is shown.
  const latest = useLatestRequest();
  const load = useCallback(() => {
    const current = latest();
    return api<{ items: Airing[] }>(
      'GET',
      `/as-run?from=${encodeURIComponent(new Date(start).toISOString())}&to=${encodeURIComponent(new Date(start + span).toISOString())}&limit=5000`,
    )
      .then(
        (r) => current() && setAirings(r.items),
        (err: Error) => current() && setError(err.message),
      )
      .finally(() => current() && setLoadedFor(`${start} ${span}`));
  }, [start, span, latest]);
  useEffect(() => {
    void load();
  }, [load]);
  const day = fmt({ weekday: 'long', day: 'numeric', month: 'numeric' });
  const time = fmt({ hour: '2-digit', minute: '2-digit', hour12: false });
  const openDay = (d: number) => {
    setStart(d);
    setView('day');
  };
  const cancelOne = async (a: Airing) => {
    if (!confirm(t('confirmCancelAiring', { title: a.title, station: a.stationName, time: time.format(new Date(a.startsAt)) }))) return;
    try {
      setError('');
      await api('POST', `/occurrences/${a.occurrenceId}/cancel`);
      setNotice(t('airingCancelled'));
      await load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const card = (a: Airing) => (
    <>
      <strong>{time.format(new Date(a.startsAt))}</strong> {a.title}
      <br />
      <small>
        {a.stationName} · {a.reason === 'cancelled' ? t('airing.cancelled') : t(`airing.${a.status}` as MessageKey)} ·{' '}
        {t(`priority.${a.priority}` as MessageKey)}
      </small>
    </>
  );
  const inDay = (d: number) =>
    airings.filter((a) => {
      const at = Date.parse(a.startsAt);
      return at >= d && at < d + DAY_MS;
    });

  return (
    <section aria-busy={loadedFor !== `${start} ${span}`}>
      <h1>{view === 'week' ? t('calendar') : t('dayView', { day: day.format(new Date(start)) })}</h1>
      <div class="row">
        <button type="button" onClick={() => setStart(start - span)}>
          {view === 'week' ? t('previousWeek') : t('previousDay')}
        </button>
        <button type="button" onClick={() => setStart(hanoiMidnight(Date.now()))}>
          {view === 'week' ? t('thisWeek') : t('today')}
        </button>
        <button type="button" onClick={() => setStart(start + span)}>
          {view === 'week' ? t('nextWeek') : t('nextDay')}
        </button>
        <button type="button" class="link" aria-pressed={view === 'day'} onClick={() => setView(view === 'week' ? 'day' : 'week')}>
          {view === 'week' ? t('showDay') : t('showWeek')}
        </button>
      </div>
      <ErrorLine message={error} />
      {notice && <p role="status">{notice}</p>}
      {view === 'week' ? (
        <div class="week">
          {Array.from({ length: 7 }, (_, i) => start + i * DAY_MS).map((d) => {
            const mine = inDay(d);
            return (
              <section key={d} class="day" aria-label={day.format(new Date(d))}>
                <h2>
                  <button type="button" class="link" onClick={() => openDay(d)}>
                    {day.format(new Date(d))}
                  </button>
                </h2>
                {mine.length === 0 ? (
                  <p class="quiet">—</p>
                ) : (
                  <ul>
                    {mine.map((a) => (
                      <li key={a.occurrenceId} class={`airing priority-${a.priority} status-${a.status}`}>
                        {card(a)}
                      </li>
                    ))}
                  </ul>
                )}
              </section>
            );
          })}
        </div>
      ) : (
        <ol class="hours">
          {Array.from({ length: 24 }, (_, h) => h)
            .map((h) => ({ h, mine: inDay(start).filter((a) => Math.floor((Date.parse(a.startsAt) - start) / 3600_000) === h) }))
            .filter(({ h, mine }) => mine.length || (h >= 5 && h <= 21))
            .map(({ h, mine }) => (
              <li key={h}>
                <span class="hour">{String(h).padStart(2, '0')}:00</span>
                <ul>
                  {mine.map((a) => (
                    <li key={a.occurrenceId} class={`airing priority-${a.priority} status-${a.status}`}>
                      {card(a)}
                      {a.status === 'pending' && (
                        <div class="row">
                          <button type="button" class="link" onClick={() => cancelOne(a)}>
                            {t('cancelAiring')}
                          </button>
                          <a href={`#/schedules?edit=${a.scheduleId}`}>{t('editSchedule')}</a>
                        </div>
                      )}
                    </li>
                  ))}
                </ul>
              </li>
            ))}
        </ol>
      )}
    </section>
  );
}
