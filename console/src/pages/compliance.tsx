// Compliance for the provincial office and each unit: what aired where, in full, on time, and why not.
// Province → unit → station → airing, over a chosen range in Hanoi days; every airing that did not air shows
// its reason, and a station's day of proofs can be verified (signatures and hash chain) on the spot. Each view
// exports as CSV, XLSX, PDF or a print-ready page from the same API; ranges reach a year, with the rates over time.
import { useEffect, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { RateChart, type SeriesPoint } from '../components/rate-chart.tsx';
import { loadUnits, type Unit } from '../components/target-picker.tsx';
import { hanoiDate, hanoiTime, type MessageKey, pct, t } from '../i18n.ts';

interface Tally {
  scheduled: number;
  aired: number;
  late: number;
  partial: number;
  missed: number;
  skipped: number;
  pending: number;
  stations: number;
  complianceRate: number | null;
  onTimeRate: number | null;
  coverageRate: number | null;
  uptimeRate: number | null;
}
interface Report {
  total: Tally;
  groups: (Tally & { key: string; name: string })[];
  series: SeriesPoint[];
}
interface Airing {
  occurrenceId: string;
  station: string;
  title: string;
  priority: string;
  startsAt: string;
  status: string;
  reason?: string;
  lateMs?: number;
}
interface Verified {
  ok: boolean;
  proofs: number;
  problems: unknown[];
}

const DAY_MS = 86_400_000;
/** Today's date in Hanoi (YYYY-MM-DD). */
const hanoiToday = () => hanoiDate(Date.now());
const shift = (day: string, days: number) => new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);

type Level = { kind: 'unit'; code: string; name: string } | { kind: 'station'; code: string; name: string };

export function Compliance({ me }: { me: Me }) {
  const [units, setUnits] = useState<Unit[]>([]);
  const [range, setRange] = useState(() => ({ from: shift(hanoiToday(), -7), to: hanoiToday() }));
  const [path, setPath] = useState<Level[]>([]);
  const [report, setReport] = useState<Report | null>(null);
  const [airings, setAirings] = useState<Airing[] | null>(null);
  const [verified, setVerified] = useState<Record<string, Verified>>({});
  const [error, setError] = useState('');
  useEffect(() => {
    void loadUnits().then((all) => {
      setUnits(all);
      const root = me.unit ?? all.find((u) => u.parentCode === null);
      if (root) setPath([{ kind: 'unit', code: root.code, name: root.name }]);
    });
  }, [me]);
  const here = path.at(-1);
  const leaf = here?.kind === 'unit' && !units.some((u) => u.parentCode === here.code);
  // Ranges are whole Hanoi days: from the first day's midnight to the midnight after the last.
  const query = here ? `from=${range.from}&to=${shift(range.to, 1)}&${here.kind}=${encodeURIComponent(here.code)}` : '';
  const groupBy = leaf ? 'station' : 'unit';
  useEffect(() => {
    if (!here) return;
    setError('');
    setReport(null);
    setAirings(null);
    // A range or level left before its answers came: they are dropped, not shown under the new one.
    let current = true;
    const fail = (err: Error) => current && setError(err.message);
    if (here.kind === 'station')
      void api<{ items: Airing[] }>('GET', `/as-run?${query}&limit=5000`).then((r) => current && setAirings(r.items), fail);
    void api<Report>('GET', `/compliance/report?${query}&groupBy=${groupBy}`).then((r) => current && setReport(r), fail);
    return () => {
      current = false;
    };
  }, [here, query, groupBy]);

  const open = (g: { key: string; name: string }) =>
    setPath([
      ...path,
      groupBy === 'station' ? { kind: 'station', code: g.key, name: g.name } : { kind: 'unit', code: g.key, name: g.name },
    ]);
  /** A station's Hanoi day of proofs, re-checked by the server; kept by "station day". */
  const verify = async (station: string, day: string) => {
    try {
      const r = await api<Verified>('GET', `/stations/${station}/proofs/${day}/verify`);
      setVerified((all) => ({ ...all, [`${station} ${day}`]: r }));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const base = `/api/v1/compliance/report?${query}&groupBy=${groupBy}`;
  const rates = (x: Tally) => [
    <td key="c" data-label={t('complianceRate')}>
      <span class="bar" style={{ width: `${Math.round((x.complianceRate ?? 0) * 100)}%` }} />
      {pct(x.complianceRate)}
    </td>,
    <td key="o" data-label={t('onTimeRate')}>
      {pct(x.onTimeRate)}
    </td>,
    <td key="v" data-label={t('coverageRate')}>
      {pct(x.coverageRate)}
    </td>,
    <td key="u" data-label={t('uptimeRate')}>
      {pct(x.uptimeRate)}
    </td>,
  ];
  const counts = (x: Tally) => (
    <td data-label={t('airingsCount')}>
      {t('tallyLine', { scheduled: x.scheduled, aired: x.aired, late: x.late, partial: x.partial, missed: x.missed, skipped: x.skipped })}
    </td>
  );

  return (
    <section>
      <h1>{t('compliance')}</h1>
      <div class="row">
        <label>
          {t('fromDay')}
          <input type="date" value={range.from} max={range.to} onInput={(e) => setRange({ ...range, from: e.currentTarget.value })} />
        </label>
        <label>
          {t('toDay')}
          <input type="date" value={range.to} min={range.from} onInput={(e) => setRange({ ...range, to: e.currentTarget.value })} />
        </label>
        <button type="button" class="link" onClick={() => setRange({ from: shift(hanoiToday(), -1), to: shift(hanoiToday(), -1) })}>
          {t('yesterday')}
        </button>
        <button type="button" class="link" onClick={() => setRange({ from: shift(hanoiToday(), -7), to: hanoiToday() })}>
          {t('last7Days')}
        </button>
        <button type="button" class="link" onClick={() => setRange({ from: shift(hanoiToday(), -30), to: shift(hanoiToday(), -1) })}>
          {t('last30Days')}
        </button>
        <button type="button" class="link" onClick={() => setRange({ from: shift(hanoiToday(), -365), to: shift(hanoiToday(), -1) })}>
          {t('last12Months')}
        </button>
      </div>
      <nav aria-label={t('drillPath')} class="crumbs">
        {path.map((p, i) => (
          <span key={p.code}>
            {i > 0 && ' › '}
            {i < path.length - 1 ? (
              <button type="button" class="link" onClick={() => setPath(path.slice(0, i + 1))}>
                {p.name}
              </button>
            ) : (
              <strong aria-current="page">{p.name}</strong>
            )}
          </span>
        ))}
      </nav>
      <ErrorLine message={error} />
      {here && (
        <p class="row">
          {t('export')}: <a href={`${base}&format=pdf`}>PDF</a> <a href={`${base}&format=csv`}>CSV</a>{' '}
          <a href={`${base}&format=xlsx`}>XLSX</a>{' '}
          <a href={`${base}&format=html`} target="_blank" rel="noopener">
            {t('printable')}
          </a>{' '}
          <a href={`/api/v1/as-run?${query}&format=csv`}>{t('asRunCsv')}</a>
        </p>
      )}
      {report && <RateChart series={report.series} />}
      {report && here?.kind === 'unit' && (
        <table class="report">
          <thead>
            <tr>
              <th scope="col">{groupBy === 'station' ? t('station') : t('unit')}</th>
              <th scope="col">{t('airingsCount')}</th>
              <th scope="col">{t('complianceRate')}</th>
              <th scope="col">{t('onTimeRate')}</th>
              <th scope="col">{t('coverageRate')}</th>
              <th scope="col">{t('uptimeRate')}</th>
            </tr>
          </thead>
          <tbody>
            {report.groups.map((g) => (
              <tr key={g.key}>
                <td data-label={groupBy === 'station' ? t('station') : t('unit')}>
                  <button type="button" class="link" onClick={() => open(g)}>
                    {g.name || g.key}
                  </button>
                </td>
                {counts(g)}
                {rates(g)}
              </tr>
            ))}
            <tr class="total">
              <td>{t('total')}</td>
              {counts(report.total)}
              {rates(report.total)}
            </tr>
          </tbody>
        </table>
      )}
      {report && here?.kind === 'unit' && report.groups.length === 0 && <p>{t('noAirings')}</p>}
      {here?.kind === 'station' &&
        airings &&
        (airings.length === 0 ? (
          <p>{t('noAirings')}</p>
        ) : (
          <table class="airings">
            <thead>
              <tr>
                <th scope="col">{t('when')}</th>
                <th scope="col">{t('item')}</th>
                <th scope="col">{t('status')}</th>
                <th scope="col">{t('reasonGiven')}</th>
                <th scope="col">{t('proof')}</th>
              </tr>
            </thead>
            <tbody>
              {airings.map((a) => {
                const day = hanoiDate(a.startsAt);
                const v = verified[`${a.station} ${day}`];
                return (
                  <tr key={a.occurrenceId} class={`status-${a.status}`}>
                    <td data-label={t('when')}>{hanoiTime(a.startsAt)}</td>
                    <td data-label={t('item')}>
                      {a.title} <small>({t(`priority.${a.priority}` as MessageKey)})</small>
                    </td>
                    <td data-label={t('status')}>
                      {t(`airing.${a.status}` as MessageKey)}
                      {a.lateMs && a.status === 'late' ? ` (+${Math.round(a.lateMs / 1000)} s)` : ''}
                    </td>
                    <td data-label={t('reasonGiven')}>{a.reason ? t(`reason.${a.reason}` as MessageKey) : ''}</td>
                    <td data-label={t('proof')}>
                      {v ? (
                        <span class={v.ok ? 'ok' : 'error'}>
                          {v.ok ? t('proofOk', { n: v.proofs }) : t('proofBad', { n: v.problems.length })}
                        </span>
                      ) : (
                        <button type="button" class="link" onClick={() => verify(a.station, day)}>
                          {t('verifyProof')}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        ))}
    </section>
  );
}
