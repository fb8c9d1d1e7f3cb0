// vectors/report-refusals.json ([P-3.2]) against the server's own rule: each case's report is a valid body,
// and the verdict the server gives it at the vector's clock is the one the vector states.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PlaybackReport } from '#protocol';
import { CLOCK_TOLERANCE_MS, PLAYED_TOLERANCE_MS, untrueProof } from '../../server/compliance/proof-rules.ts';

const vector = JSON.parse(readFileSync(join(import.meta.dirname, '../../firmware-protocol/vectors/report-refusals.json'), 'utf8')) as {
  now: string;
  clockToleranceMs: number;
  playedToleranceMs: number;
  cases: { name: string; airingStartsAt: string; report: unknown; expected: string }[];
};

t.equal(vector.clockToleranceMs, CLOCK_TOLERANCE_MS, 'the clock tolerance the server applies');
t.equal(vector.playedToleranceMs, PLAYED_TOLERANCE_MS, 'the played-time tolerance the server applies');
t.ok(vector.cases.length >= 8);
t.ok(
  ['FUTURE_AIRING', 'FUTURE_PROOF', 'ENDED_BEFORE_STARTED', 'PLAYED_EXCEEDS_ELAPSED', 'stored'].every((c) =>
    vector.cases.some((v) => v.expected === c),
  ),
  'every verdict of the rule has a case',
);
for (const v of vector.cases) {
  const report = PlaybackReport.safeParse(v.report);
  t.ok(report.success, `${v.name}: a valid [P-3.2] body`);
  if (!report.success) continue;
  const verdict = untrueProof(report.data, new Date(v.airingStartsAt), Date.parse(vector.now))?.code ?? 'stored';
  t.equal(verdict, v.expected, v.name);
}
