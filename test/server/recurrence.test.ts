import t from 'tap';
import { instances, nextInstance, parseRule } from '../../server/scheduling/recurrence.ts';

const hanoi = (local: string) => new Date(`${local}+07:00`);
const iso = (ds: Date[]) => ds.map((d) => d.toISOString());

t.test('a daily rule at 06:30 Hanoi time yields 23:30 UTC the day before', async (t) => {
  const rule = parseRule('FREQ=DAILY;COUNT=3', hanoi('2026-11-23T06:30:00'));
  t.same(iso(instances(rule, hanoi('2026-11-01T00:00:00'), hanoi('2026-12-31T00:00:00'))), [
    '2026-11-22T23:30:00.000Z',
    '2026-11-23T23:30:00.000Z',
    '2026-11-24T23:30:00.000Z',
  ]);
});

t.test('the 31st of the month skips months without one; the last day uses BYMONTHDAY=-1', async (t) => {
  const on31 = parseRule('FREQ=MONTHLY;BYMONTHDAY=31;COUNT=4', hanoi('2027-01-31T17:00:00'));
  t.same(
    instances(on31, hanoi('2027-01-01T00:00:00'), hanoi('2028-01-01T00:00:00')).map((d) => d.toISOString().slice(0, 10)),
    ['2027-01-31', '2027-03-31', '2027-05-31', '2027-07-31'],
  );
  const last = parseRule('FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=3', hanoi('2028-01-31T17:00:00'));
  t.same(
    instances(last, hanoi('2028-01-01T00:00:00'), hanoi('2028-12-31T00:00:00')).map((d) => d.toISOString().slice(0, 10)),
    ['2028-01-31', '2028-02-29', '2028-03-31'],
    'February of a leap year ends on the 29th',
  );
});

t.test('29 February recurs only in leap years', async (t) => {
  const rule = parseRule('FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3', hanoi('2028-02-29T08:00:00'));
  t.same(
    instances(rule, hanoi('2028-01-01T00:00:00'), hanoi('2041-01-01T00:00:00')).map((d) => d.toISOString().slice(0, 10)),
    ['2028-02-29', '2032-02-29', '2036-02-29'],
  );
});

t.test('weekly on given days, with exception dates removed', async (t) => {
  const start = hanoi('2026-11-23T06:30:00'); // a Monday
  const rule = parseRule('FREQ=WEEKLY;BYDAY=MO,WE,FR', start);
  const all = instances(rule, start, hanoi('2026-12-05T00:00:00'));
  t.equal(all.length, 6, 'Mon 23, Wed 25, Fri 27, Mon 30, Wed 2, Fri 4');
  const without = instances(rule, start, hanoi('2026-12-05T00:00:00'), [hanoi('2026-11-25T06:30:00')]);
  t.same(
    without.map((d) => d.toISOString()),
    all.filter((d) => d.getTime() !== hanoi('2026-11-25T06:30:00').getTime()).map((d) => d.toISOString()),
  );
});

t.test('monthly by weekday: the first Monday of each month', async (t) => {
  const rule = parseRule('FREQ=MONTHLY;BYDAY=1MO;COUNT=3', hanoi('2026-12-07T07:00:00'));
  t.same(
    instances(rule, hanoi('2026-12-01T00:00:00'), hanoi('2027-04-01T00:00:00')).map((d) => d.toISOString().slice(0, 10)),
    ['2026-12-07', '2027-01-04', '2027-02-01'],
  );
});

t.test('UNTIL is an instant: UTC with Z, Hanoi local without', async (t) => {
  const start = hanoi('2026-11-23T06:30:00');
  const z = parseRule('FREQ=DAILY;UNTIL=20261124T233000Z', start);
  t.equal(instances(z, start, hanoi('2027-01-01T00:00:00')).length, 3, '23:30 UTC on the 24th is 06:30 on the 25th in Hanoi');
  const local = parseRule('FREQ=DAILY;UNTIL=20261124T063000', start);
  t.equal(instances(local, start, hanoi('2027-01-01T00:00:00')).length, 2);
});

t.test('an UNTIL in the past leaves no next instance', async (t) => {
  const rule = parseRule('FREQ=DAILY;UNTIL=20200101T000000Z', hanoi('2019-12-25T06:30:00'));
  t.equal(nextInstance(rule, hanoi('2026-11-22T00:00:00')), null);
  const live = parseRule('FREQ=DAILY', hanoi('2019-12-25T06:30:00'));
  t.equal(nextInstance(live, hanoi('2026-11-22T07:00:00'))?.toISOString(), '2026-11-22T23:30:00.000Z');
  t.equal(
    nextInstance(live, hanoi('2026-11-22T07:00:00'), [hanoi('2026-11-23T06:30:00')])?.toISOString(),
    '2026-11-23T23:30:00.000Z',
    'an excluded instance is skipped',
  );
});

t.test('malformed and sub-daily rules are refused with their codes', async (t) => {
  const start = hanoi('2026-11-23T06:30:00');
  t.throws(() => parseRule('FREQ=SOMETIMES', start), { code: 'INVALID_RRULE' });
  t.throws(() => parseRule('BYDAY=MO', start), { code: 'INVALID_RRULE' });
  t.throws(() => parseRule('FREQ=HOURLY', start), { code: 'UNSUPPORTED_FREQUENCY' });
  t.throws(() => parseRule('FREQ=MINUTELY;COUNT=1000', start), { code: 'UNSUPPORTED_FREQUENCY' });
  t.throws(() => parseRule('DTSTART:20261123T063000\nRRULE:FREQ=DAILY', start), { code: 'INVALID_RRULE' });
});
