// A week of airings in the user's units, day by day in Hanoi time, coloured by priority and marked by
// status (from the as-run: what is to come, what aired, what was missed or skipped).
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { lang, type MessageKey, t } from '../i18n.ts';

interface Airing {
  occurrenceId: string;
  station: string;
  stationName: string;
  title: string;
  priority: string;
  startsAt: string;
  status: string;
}

const DAY_MS = 86_400_000;
const HANOI_MS = 7 * 3600_000;
/** Midnight in Hanoi of the day holding `at`, as a UTC instant. */
const hanoiMidnight = (at: number) => Math.floor((at + HANOI_MS) / DAY_MS) * DAY_MS - HANOI_MS;
const fmt = (opts: Intl.DateTimeFormatOptions) =>
  new Intl.DateTimeFormat(lang.get() === 'vi' ? 'vi-VN' : 'en-GB', { timeZone: 'Asia/Ho_Chi_Minh', ...opts });

export function Calendar(_: { me: Me }) {
  const [start, setStart] = useState(() => hanoiMidnight(Date.now()));
  const [airings, setAirings] = useState<Airing[]>([]);
  const [error, setError] = useState('');
  const load = useCallback(
    () =>
      api<{ items: Airing[] }>(
        'GET',
        `/as-run?from=${encodeURIComponent(new Date(start).toISOString())}&to=${encodeURIComponent(new Date(start + 7 * DAY_MS).toISOString())}&limit=5000`,
      ).then(
        (r) => setAirings(r.items),
        (err: Error) => setError(err.message),
      ),
    [start],
  );
  useEffect(() => {
    void load();
  }, [load]);
  const days = Array.from({ length: 7 }, (_, i) => start + i * DAY_MS);
  const day = fmt({ weekday: 'long', day: 'numeric', month: 'numeric' });
  const time = fmt({ hour: '2-digit', minute: '2-digit', hour12: false });
  return (
    <section>
      <h1>{t('calendar')}</h1>
      <div class="row">
        <button type="button" onClick={() => setStart(start - 7 * DAY_MS)}>
          {t('previousWeek')}
        </button>
        <button type="button" onClick={() => setStart(hanoiMidnight(Date.now()))}>
          {t('thisWeek')}
        </button>
        <button type="button" onClick={() => setStart(start + 7 * DAY_MS)}>
          {t('nextWeek')}
        </button>
      </div>
      {error && (
        <p role="alert" class="error">
          {t('error', { message: error })}
        </p>
      )}
      <div class="week">
        {days.map((d) => {
          const mine = airings.filter((a) => {
            const at = Date.parse(a.startsAt);
            return at >= d && at < d + DAY_MS;
          });
          return (
            <section key={d} class="day" aria-label={day.format(new Date(d))}>
              <h2>{day.format(new Date(d))}</h2>
              {mine.length === 0 ? (
                <p class="quiet">—</p>
              ) : (
                <ul>
                  {mine.map((a) => (
                    <li key={a.occurrenceId} class={`airing priority-${a.priority} status-${a.status}`}>
                      <strong>{time.format(new Date(a.startsAt))}</strong> {a.title}
                      <br />
                      <small>
                        {a.stationName} · {t(`airing.${a.status}` as MessageKey)} · {t(`priority.${a.priority}` as MessageKey)}
                      </small>
                    </li>
                  ))}
                </ul>
              )}
            </section>
          );
        })}
      </div>
    </section>
  );
}
