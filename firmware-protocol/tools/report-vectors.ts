// `vectors/report-refusals.json`: how the server judges the instants of an authentic report ([P-3.2]), so a
// device's clock handling and counting can be checked against the receipt it would get: each case is a
// report body, the server's clock and the airing's scheduled start, and the verdict (`stored`, or the code
// the receipt's `refused` names). The edges sit exactly on the tolerances (120 s ahead of the server's
// clock, 2 s more played than elapsed), which are still stored. Checked against the server's rule by
// test/server/report-refusal-vectors.test.ts.

const NOW = '2026-11-22T23:40:00.000Z';
const at = (offsetMs: number) => new Date(Date.parse(NOW) + offsetMs).toISOString();
const AIRING = at(-600_000);

const base = {
  station: 'HN-00004',
  occurrenceId: 'occ-0001',
  sha256: '8c'.repeat(32),
  scheduledAt: AIRING,
  expectedMs: 60_000,
};

/** A start report at `startedAt`. */
const started = (startedAt: string, scheduledAt = AIRING) => ({ kind: 'playback.started', ...base, scheduledAt, startedAt });

/** An end report of `elapsedMs` wall time from `startedAt`, with `playedMs` counted. */
const completed = (startedAt: string, elapsedMs: number, playedMs: number) => ({
  kind: 'playback.completed',
  ...base,
  startedAt,
  endedAt: new Date(Date.parse(startedAt) + elapsedMs).toISOString(),
  playedMs,
  level: { rmsDbfs: -18.6, peakDbfs: -1.25 },
});

export const REPORT_REFUSAL_CASES = [
  { name: 'an airing proven in full', airingStartsAt: AIRING, report: completed(AIRING, 60_000, 60_000), expected: 'stored' },
  {
    name: 'an airing that begins more than 120 s after the server clock',
    airingStartsAt: at(120_001),
    report: started(at(120_001), at(120_001)),
    expected: 'FUTURE_AIRING',
  },
  {
    name: 'an airing that begins exactly 120 s after the server clock (the tolerance holds it)',
    airingStartsAt: at(120_000),
    report: started(at(120_000), at(120_000)),
    expected: 'stored',
  },
  {
    name: 'a start more than 120 s ahead of the server clock',
    airingStartsAt: AIRING,
    report: started(at(120_001)),
    expected: 'FUTURE_PROOF',
  },
  {
    name: 'an end more than 120 s ahead of the server clock',
    airingStartsAt: AIRING,
    report: completed(at(-60_000), 181_000, 60_000),
    expected: 'FUTURE_PROOF',
  },
  { name: 'an end before its start', airingStartsAt: AIRING, report: completed(AIRING, -1, 0), expected: 'ENDED_BEFORE_STARTED' },
  {
    name: 'more than 2 s more audio played than time elapsed',
    airingStartsAt: AIRING,
    report: completed(AIRING, 60_000, 62_001),
    expected: 'PLAYED_EXCEEDS_ELAPSED',
  },
  {
    name: 'exactly 2 s more audio played than time elapsed (a device clock running slow)',
    airingStartsAt: AIRING,
    report: completed(AIRING, 60_000, 62_000),
    expected: 'stored',
  },
];

export function reportVectorFiles(): Record<string, string> {
  const vector = {
    description:
      "[P-3.2] The server's verdict on the instants of an authentic report, as its storage receipt ([P-3.8]) says it: `stored`, or the code in `refused`. `now` is the server's clock; `airingStartsAt` the airing's scheduled start as the server holds it.",
    now: NOW,
    clockToleranceMs: 120_000,
    playedToleranceMs: 2_000,
    cases: REPORT_REFUSAL_CASES,
  };
  return { 'report-refusals.json': `${JSON.stringify(vector, null, 2)}\n` };
}
