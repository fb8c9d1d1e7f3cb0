// Recurring schedules through the API, on a fake clock: expansion to the horizon, extension as time
// moves, exception dates, validity windows, and refusals.
import { join } from 'node:path';
import t from 'tap';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { approve, relogin, startTestServer, upload, uploadApproved } from '../helpers/server.ts';

const DAY = 86_400_000;
// 2026-11-23 00:00 in Hanoi, so a 06:30 rule starts later the same day.
const clock = new FakeClock(Date.parse('2026-11-22T17:00:00Z'));
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'rec.wav'), { seconds: 1 }));
const schedule = async (body: Record<string, unknown>) => {
  const res = await fetch(`${server.url}/api/v1/schedules`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ mediaId: media.id, ...body }),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & {
      error?: { code: string };
      occurrences: { startsAt: string; station: string }[];
    },
  };
};

t.test('a daily 06:30 rule fills the 7-day horizon and follows it as the days pass', async (t) => {
  const r = await schedule({ stations: ['HN-00040'], startsAt: '2026-11-23T06:30:00+07:00', rrule: 'FREQ=DAILY' });
  t.equal(r.status, 201);
  t.same(
    r.body.occurrences.map((o) => o.startsAt),
    Array.from({ length: 7 }, (_, i) => new Date(Date.parse('2026-11-22T23:30:00Z') + i * DAY).toISOString()),
  );
  clock.advance(3 * DAY);
  t.same(await server.schedules.extend(), { schedules: 1, occurrences: 3, refused: 0 });
  t.same(await server.schedules.extend(), { schedules: 0, occurrences: 0, refused: 0 }, 'extending again adds nothing');
  await relogin(server); // the admin's 12-hour session ended while three days passed
  t.equal(await server.db.occurrence.count({ where: { scheduleId: r.body.id as string } }), 10);
});

t.test('exception dates and several stations', async (t) => {
  const r = await schedule({
    stations: ['HN-00043', 'HN-00046'],
    startsAt: '2026-11-26T18:00:00+07:00',
    rrule: 'FREQ=WEEKLY;BYDAY=TH,SA;COUNT=4',
    exdates: ['2026-11-28T18:00:00+07:00'],
  });
  t.equal(r.status, 201, JSON.stringify(r.body.error));
  const forOne = r.body.occurrences.filter((o) => o.station === 'HN-00043').map((o) => o.startsAt);
  t.same(forOne, ['2026-11-26T11:00:00.000Z'], 'Saturday the 28th is excepted; Thursday 3 December lies beyond the horizon');
  t.equal(r.body.occurrences.length, 2, 'one instance on each of two stations');
  clock.advance(DAY);
  await server.schedules.extend();
  const later = await server.db.occurrence.findMany({ where: { scheduleId: r.body.id as string }, orderBy: { startsAt: 'asc' } });
  t.same(
    [...new Set(later.map((o) => o.startsAt.toISOString()))],
    ['2026-11-26T11:00:00.000Z', '2026-12-03T11:00:00.000Z'],
    'the next instance appears when the horizon reaches it',
  );
  await relogin(server);
});

t.test('an item valid for three more days recurs only while it is valid', async (t) => {
  const { body: short } = await uploadApproved(server, makeTone(join(server.dataDir, 'short.wav'), { seconds: 1, frequency: 880 }));
  // Validity can only be edited before approval, so give a new item its window first.
  const { body: draft } = await upload(server, makeTone(join(server.dataDir, 'windowed.wav'), { seconds: 1, frequency: 990 }));
  await fetch(`${server.url}/api/v1/media/${draft.id}`, {
    method: 'PATCH',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ validUntil: new Date(clock.now() + 3 * DAY).toISOString() }),
  });
  await approve(server, draft.id);
  const res = await fetch(`${server.url}/api/v1/schedules`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      mediaId: draft.id,
      stations: ['HN-00049'],
      startsAt: new Date(clock.now() + 3600_000).toISOString(),
      rrule: 'FREQ=DAILY',
    }),
  });
  const body = (await res.json()) as { occurrences: unknown[] };
  t.equal(body.occurrences.length, 3, 'instances after validUntil are not created');
  t.ok(short.id);
});

t.test('rules that cannot air are refused with their codes', async (t) => {
  const at = '2026-12-01T06:30:00+07:00';
  t.match(await schedule({ stations: ['HN-00040'], startsAt: at, rrule: 'FREQ=DAILY;UNTIL=20200101T000000Z' }), {
    status: 400,
    body: { error: { code: 'NO_OCCURRENCES' } },
  });
  t.match(await schedule({ stations: ['HN-00040'], startsAt: at, rrule: 'FREQ=HOURLY' }), {
    status: 400,
    body: { error: { code: 'UNSUPPORTED_FREQUENCY' } },
  });
  t.match(await schedule({ stations: ['HN-00040'], startsAt: at, rrule: 'FREQ=NEVER' }), {
    status: 400,
    body: { error: { code: 'INVALID_RRULE' } },
  });
  t.match(await schedule({ stations: ['HN-00040'], startsAt: '2020-01-01T06:30:00+07:00' }), {
    status: 400,
    body: { error: { code: 'SCHEDULE_IN_PAST' } },
  });
  const old = await schedule({ stations: ['HN-00052'], startsAt: '2020-01-01T06:30:00+07:00', rrule: 'FREQ=DAILY' });
  t.equal(old.status, 201, 'a rule that began in the past starts at its next instance');
  t.equal(old.body.occurrences[0]?.startsAt, '2026-11-26T23:30:00.000Z', 'the next 06:30 in Hanoi after now (17:00 UTC on the 26th)');
});
