// Rates over time (aired in full, on time, on time ±2 s) as the report's series gives them: by Hanoi day up to
// 62 days, by month beyond. Drawn by uPlot on a canvas; the same figures stay readable as a table for screen
// readers and for anyone who prefers numbers.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { hanoiDate, lang, pct, t } from '../i18n.ts';

export interface SeriesPoint {
  period: string;
  bucket: 'day' | 'month';
  due: number;
  complianceRate: number | null;
  onTimeRate: number | null;
  coverageRate: number | null;
}

const DAY_S = 86_400;
/** The Hanoi midnight a period starts at, in seconds (uPlot's unit). */
const startOf = (period: string) => Date.parse(`${period.length === 7 ? `${period}-01` : period}T00:00:00+07:00`) / 1000;

export function RateChart({ series }: { series: SeriesPoint[] }) {
  const box = useRef<HTMLDivElement>(null);
  const language = lang.get();
  // biome-ignore lint/correctness/useExhaustiveDependencies: the legend's labels are drawn anew when the language changes
  useEffect(() => {
    const el = box.current;
    if (!el || series.length === 0) return;
    const xs = series.map((p) => startOf(p.period));
    const monthly = series[0]?.bucket === 'month';
    const pad = (monthly ? 15 : 0.5) * DAY_S;
    const rate = (k: 'complianceRate' | 'onTimeRate' | 'coverageRate') =>
      series.map((p) => (p[k] === null ? null : (p[k] as number) * 100));
    const plot = new uPlot(
      {
        width: Math.max(280, el.clientWidth),
        height: 220,
        // Axis dates in Hanoi time, whatever the browser's zone.
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Asia/Ho_Chi_Minh'),
        // Half a period either side, so one day or one month is drawn in its place rather than over years.
        scales: { x: { time: true, auto: false, range: [(xs[0] ?? 0) - pad, (xs.at(-1) ?? 0) + pad] }, y: { range: [0, 100] } },
        // Ticks on whole days (or months), labelled with the Hanoi date as the periods are named.
        axes: [
          {
            incrs: monthly ? [30 * DAY_S, 91 * DAY_S, 182 * DAY_S] : [DAY_S, 2 * DAY_S, 7 * DAY_S, 14 * DAY_S, 30 * DAY_S],
            values: (_u, ticks) => ticks.map((ts) => hanoiDate(ts * 1000).slice(monthly ? 0 : 5, monthly ? 7 : 10)),
          },
          { values: (_u, ticks) => ticks.map((v) => `${v} %`) },
        ],
        series: [
          { label: t('period') },
          { label: t('complianceRate'), stroke: '#2e7d32', width: 2, points: { show: series.length < 40 } },
          { label: t('onTimeRate'), stroke: '#1565c0', width: 1.5, points: { show: series.length < 40 } },
          { label: t('coverageRate'), stroke: '#8e24aa', width: 1.5, dash: [5, 4], points: { show: series.length < 40 } },
        ],
      },
      [xs, rate('complianceRate'), rate('onTimeRate'), rate('coverageRate')],
      el,
    );
    const resize = () => plot.setSize({ width: Math.max(280, el.clientWidth), height: 220 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [series, language]);
  if (series.length === 0) return null;
  const bucket = series[0]?.bucket === 'month' ? t('byMonth') : t('byDay');
  return (
    <figure class="rate-chart">
      <figcaption>
        {t('ratesOverTime')} ({bucket})
      </figcaption>
      <div
        ref={box}
        role="img"
        aria-label={`${t('ratesOverTime')}: ${series.map((p) => `${p.period} ${pct(p.complianceRate)}`).join(', ')}`}
      />
      <details>
        <summary>{t('chartAsTable')}</summary>
        <table class="series">
          <thead>
            <tr>
              <th scope="col">{t('period')}</th>
              <th scope="col">{t('dueCount')}</th>
              <th scope="col">{t('complianceRate')}</th>
              <th scope="col">{t('onTimeRate')}</th>
              <th scope="col">{t('coverageRate')}</th>
            </tr>
          </thead>
          <tbody>
            {series.map((p) => (
              <tr key={p.period} data-period={p.period}>
                <td>{p.period}</td>
                <td>{p.due}</td>
                <td>{pct(p.complianceRate)}</td>
                <td>{pct(p.onTimeRate)}</td>
                <td>{pct(p.coverageRate)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
