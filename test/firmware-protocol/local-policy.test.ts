// [P-3.1.3] local rules at an instant: Hanoi wall-clock ranges, crossing midnight, volume ceilings.
import t from 'tap';
import { inTimeRange, quietRangeAt, volumeCeilingAt } from '#protocol';

const hanoi = (local: string) => Date.parse(`${local}+07:00`);
const policy = {
  timeZone: 'Asia/Ho_Chi_Minh' as const,
  quietHours: [{ start: '21:30', end: '05:00' }],
  maxVolume: [
    { start: '05:00', end: '06:30', level: 60 },
    { start: '05:30', end: '06:00', level: 40 },
  ],
};

t.test('a quiet range crossing midnight covers both sides of it, end excluded', async (t) => {
  t.ok(quietRangeAt(policy, hanoi('2026-11-23T03:15:00')), '03:15, the Nghệ An relay');
  t.ok(quietRangeAt(policy, hanoi('2026-11-23T21:30:00')));
  t.notOk(quietRangeAt(policy, hanoi('2026-11-23T05:00:00')));
  t.notOk(quietRangeAt(policy, hanoi('2026-11-23T12:00:00')));
  t.notOk(quietRangeAt(undefined, hanoi('2026-11-23T03:15:00')), 'no policy, no quiet hours');
  t.ok(inTimeRange(6 * 60, { start: '06:00', end: '08:00' }));
  t.notOk(inTimeRange(8 * 60, { start: '06:00', end: '08:00' }));
});

t.test('the volume ceiling is the lowest range that applies, else 100', async (t) => {
  t.equal(volumeCeilingAt(policy, hanoi('2026-11-23T05:10:00')), 60);
  t.equal(volumeCeilingAt(policy, hanoi('2026-11-23T05:45:00')), 40);
  t.equal(volumeCeilingAt(policy, hanoi('2026-11-23T09:00:00')), 100);
});
