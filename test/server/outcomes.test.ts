// What a previewed airing does where it meets another: each resolution from each side, the worst one shown.
import t from 'tap';
import { airingRows, outcomeOf } from '../../server/scheduling/outcomes.ts';

t.test('each side and resolution has its own outcome', async (t) => {
  t.same(
    (['preempt', 'queue', 'skip'] as const).map((r) => [outcomeOf('new', r), outcomeOf('existing', r)]),
    [
      ['preempts', 'cut'],
      ['waits', 'delays'],
      ['skipped', 'displaces'],
    ],
  );
});

t.test('one row per station and airing; a refusal outranks a meeting, the worst meeting outranks the others', async (t) => {
  const at = (h: number) => new Date(Date.UTC(2026, 11, 3, h));
  const plan = [0, 1, 2].map((h) => ({ startsAt: at(h), endsAt: at(h + 0.5), title: 'Tin sáng' }));
  const other = (title: string) => ({ startsAt: at(0), title, priority: 'normal' });
  const rows = airingRows(
    ['A', 'B'],
    plan,
    [{ rule: 'quietHours', unit: '01', station: 'A', startsAt: at(0).toISOString(), message: 'quiet' }],
    [
      { station: 'A', startsAt: at(0), due: 'new', resolution: 'skip', existing: other('x') },
      { station: 'A', startsAt: at(1), due: 'existing', resolution: 'queue', existing: other('delayed') },
      { station: 'A', startsAt: at(1), due: 'existing', resolution: 'preempt', existing: other('cutter') },
    ],
  );
  t.same(
    rows.map((r) => [r.station, r.startsAt.getUTCHours(), r.outcome, r.rule ?? r.other?.title ?? '']),
    [
      ['A', 0, 'refused', 'quietHours'],
      ['A', 1, 'cut', 'cutter'],
      ['A', 2, 'airs', ''],
      ['B', 0, 'airs', ''],
      ['B', 1, 'airs', ''],
      ['B', 2, 'airs', ''],
    ],
  );
});
