// Broadcast policy through the API with the Hanoi 2021 seed: each refusal names its rule, the unit that
// sets it, the station and the occurrence; emergencies are exempt; unit overrides inherit the rest; the
// preview shows overlaps and what happens at airtime.
import { join } from 'node:path';
import t from 'tap';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { startTestServer, uploadApproved } from '../helpers/server.ts';

// Monday 2026-11-23 00:00 in Hanoi.
const clock = new FakeClock(Date.parse('2026-11-22T17:00:00Z'));
const server = await startTestServer({ now: clock.date, env: { LP_SEED_POLICY: 'hanoi-2021' } });
t.teardown(() => server.stop());
const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'policy.wav'), { seconds: 2 }));

const INNER = 'HN-00001'; // Phúc Xá, Quận Ba Đình (001): emergencies only
const URBAN = 'HN-00157'; // Cầu Giấy (005): weekdays, 06:00–08:00 and 16:30–18:30, 2 sessions of 15 min
const RURAL = 'HN-00376'; // Sóc Sơn (016): 45-minute sessions, three windows

type Violation = { rule: string; unit: string; station: string; startsAt: string; message: string };
type Answer = {
  status: number;
  body: {
    error?: { code: string; message: string; details?: { total: number; violations: Violation[] } };
    occurrences?: { id: string }[];
    overlaps?: { total: number; items: { resolution: string; due: string }[] };
    violations?: { total: number; items: Violation[] };
    airings?: { total: number; items: { outcome: string; rule?: string; stationName: string; startsAtLocal: string }[] };
  };
};
const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { ...server.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
};
const schedule = (body: Record<string, unknown>) => call('POST', '/schedules', { mediaId: media.id, ...body });
const at = (local: string) => `${local}+07:00`;
const utc = (local: string) => new Date(at(local)).toISOString();

t.test('the four inner districts take emergencies only', async (t) => {
  const r = await schedule({ stations: [INNER], startsAt: at('2026-11-23T06:30:00') });
  t.equal(r.status, 422);
  t.equal(r.body.error?.code, 'POLICY_VIOLATION');
  matchExact(t, r.body.error?.message, /HN-00001 at 2026-11-23 06:30: only emergencies may air here \[rule emergencyOnly of unit 001\]/);
  t.same(r.body.error?.details?.violations, [
    {
      rule: 'emergencyOnly',
      unit: '001',
      station: INNER,
      startsAt: utc('2026-11-23T06:30:00'),
      message: 'HN-00001 at 2026-11-23 06:30: only emergencies may air here',
    },
  ]);
  t.equal(await server.db.schedule.count(), 0, 'nothing was saved');
  const emergency = await schedule({ stations: [INNER], startsAt: at('2026-11-23T03:00:00'), priority: 'emergency' });
  t.equal(emergency.status, 201, 'an emergency airs anywhere, any time, quiet hours included');
});

t.test('urban districts: weekdays, two windows, two sessions of at most 15 minutes', async (t) => {
  const saturday = await schedule({ stations: [URBAN], startsAt: at('2026-11-28T06:30:00') });
  matchExact(t, saturday.body.error?.details?.violations, [
    { rule: 'weekdays', unit: '005', station: URBAN, startsAt: utc('2026-11-28T06:30:00') },
  ]);
  const noon = await schedule({ stations: [URBAN], startsAt: at('2026-11-24T12:00:00') });
  matchExact(t, noon.body.error?.details?.violations, [{ rule: 'windows', unit: '005', message: /06:00–08:00, 16:30–18:30/ }]);
  const edge = await schedule({ stations: [URBAN], startsAt: at('2026-11-24T07:59:59') });
  matchExact(t, edge.body.error?.details?.violations, [{ rule: 'windows' }], 'an item must end inside the window too');

  t.equal((await schedule({ stations: [URBAN], startsAt: at('2026-11-24T06:00:00') })).status, 201);
  t.equal(
    (await schedule({ stations: [URBAN], startsAt: at('2026-11-24T06:03:00') })).status,
    201,
    'a gap under 5 minutes: the same session',
  );
  t.equal((await schedule({ stations: [URBAN], startsAt: at('2026-11-24T07:00:00') })).status, 201, 'a second session');
  const third = await schedule({ stations: [URBAN], startsAt: at('2026-11-24T17:00:00') });
  t.equal(third.status, 422);
  matchExact(t, third.body.error?.details?.violations, [
    {
      rule: 'maxSessionsPerDay',
      unit: '005',
      station: URBAN,
      startsAt: utc('2026-11-24T17:00:00'),
      message: /session 3 of the day, over the limit of 2/,
    },
  ]);
  t.equal((await schedule({ stations: [URBAN], startsAt: at('2026-11-25T17:00:00') })).status, 201, 'another day counts afresh');
});

t.test('a session longer than the limit is refused, a playlist counting as one session', async (t) => {
  // Four 2-second items with 4-minute gaps: one session of 16 min 8 s.
  const res = await fetch(`${server.url}/api/v1/playlists`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      title: 'long session',
      items: [0, 1, 2, 3, 4].map((i) => ({ mediaId: media.id, gapAfterMs: i < 4 ? 240_000 : 0 })),
    }),
  });
  const playlist = (await res.json()) as { id: string };
  const r = await call('POST', '/schedules', { playlistId: playlist.id, stations: [URBAN], startsAt: at('2026-11-26T06:10:00') });
  t.equal(r.status, 422);
  matchExact(t, r.body.error?.details?.violations, [
    { rule: 'maxSessionMinutes', unit: '005', message: /16\.\d minutes, over the limit of 15/ },
  ]);
  const rural = await call('POST', '/schedules', { playlistId: playlist.id, stations: [RURAL], startsAt: at('2026-11-26T06:10:00') });
  t.equal(rural.status, 201, 'rural districts allow 45 minutes');
});

t.test('quiet hours come from the city and are named with the unit that sets them', async (t) => {
  const r = await schedule({ stations: [RURAL], startsAt: at('2026-11-24T22:00:00') });
  matchExact(t, r.body.error?.details?.violations, [
    { rule: 'windows', unit: '016' },
    { rule: 'quietHours', unit: '01', message: /quiet hours 21:30–05:00/ },
  ]);
});

t.test('a recurring schedule is refused at the first occurrence that breaks a rule', async (t) => {
  const r = await schedule({ stations: [URBAN], startsAt: at('2026-11-27T06:40:00'), rrule: 'FREQ=DAILY' });
  t.equal(r.status, 422);
  t.match(r.body.error?.message, /HN-00157 at 2026-11-28 06:40: broadcasting is not allowed on this weekday/);
  t.equal(r.body.error?.details?.total, 2, 'Saturday and Sunday in the horizon');
  const weekdays = await schedule({ stations: [URBAN], startsAt: at('2026-11-27T06:40:00'), rrule: 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR' });
  t.equal(weekdays.status, 201);
});

t.test('targets: a unit means every station below it, and the policy is checked at each', async (t) => {
  const preview = await call('POST', '/schedules/preview', {
    mediaId: media.id,
    targets: { units: ['01'] },
    startsAt: at('2026-11-30T06:45:00'),
  });
  t.equal(preview.status, 200);
  t.match(preview.body, { stations: 579, occurrences: 579 });
  // Ba Đình 14 + Hoàn Kiếm 18 + Đống Đa 21 + Hai Bà Trưng 18 communes are emergency-only.
  t.equal(preview.body.violations?.total, 14 + 18 + 21 + 18);
  t.ok(preview.body.violations?.items.every((v) => v.rule === 'emergencyOnly'));
  // Every airing is listed with what happens to it, named by station.
  const rows = preview.body.airings as {
    total: number;
    items: { outcome: string; rule?: string; stationName: string; startsAtLocal: string }[];
  };
  t.equal(rows.total, 579);
  t.equal(rows.items.length, 579);
  t.equal(rows.items.filter((r) => r.outcome === 'refused' && r.rule === 'emergencyOnly').length, 14 + 18 + 21 + 18);
  t.equal(rows.items.filter((r) => r.outcome === 'airs').length, 579 - (14 + 18 + 21 + 18));
  t.ok(rows.items.every((r) => r.stationName && r.startsAtLocal === '2026-11-30T06:45:00+07:00'));
  const unknown = await call('POST', '/schedules/preview', {
    mediaId: media.id,
    targets: { units: ['nope'] },
    startsAt: at('2026-11-30T06:45:00'),
  });
  t.match(unknown, { status: 404, body: { error: { code: 'UNKNOWN_UNIT' } } });
  const none = await call('POST', '/schedules/preview', { mediaId: media.id, targets: {}, startsAt: at('2026-11-30T06:45:00') });
  t.match(none, { status: 400, body: { error: { code: 'NO_TARGETS' } } });
});

t.test('a commune overrides one rule and inherits the others', async (t) => {
  const put = await call('PUT', '/units/00001/policy', { emergencyOnly: false });
  t.equal(put.status, 200);
  t.match(put.body, {
    own: { emergencyOnly: false },
    effective: { emergencyOnly: false, maxSessionMinutes: 15 },
    source: { emergencyOnly: '00001', windows: '001', quietHours: '01' },
  });
  t.equal((await schedule({ stations: [INNER], startsAt: at('2026-11-24T06:30:00') })).status, 201);
  const late = await schedule({ stations: [INNER], startsAt: at('2026-11-24T20:00:00') });
  matchExact(t, late.body.error?.details?.violations, [{ rule: 'windows', unit: '001' }], 'the district windows still apply');
  t.match(await call('PUT', '/units/00001/policy', { windows: [{ start: '09:00', end: '08:00' }] }), {
    status: 400,
    body: { error: { code: 'VALIDATION_FAILED' } },
  });
  t.match(await call('PUT', '/units/00001/policy', { loudness: 3 }), { status: 400 });
  const history = await call('GET', '/units/00001/history');
  matchExact(t, history.body, { items: [{ kind: 'policy', after: { emergencyOnly: false } }] });
});

t.test('the preview shows overlaps and what happens at airtime; nothing is saved', async (t) => {
  const first = await schedule({ stations: [RURAL], startsAt: at('2026-11-27T11:00:00') });
  t.equal(first.status, 201);
  const body = { mediaId: media.id, stations: [RURAL], startsAt: at('2026-11-27T11:00:01') };
  const before = await server.db.schedule.count();
  const hard = await call('POST', '/schedules/preview', { ...body, startWindowMinutes: 0 });
  matchExact(t, hard.body, {
    skipped: 1,
    warning: /1 of the new airings would be skipped/,
    stations: 1,
    occurrences: 1,
    violations: { total: 0 },
    overlaps: { total: 1, items: [{ due: 'new', resolution: 'skip' }] },
    airings: {
      total: 1,
      items: [{ station: RURAL, outcome: 'skipped', other: { title: media.title, startsAtLocal: '2026-11-27T11:00:00+07:00' } }],
    },
  });
  const byDefault = await call('POST', '/schedules/preview', body);
  matchExact(
    t,
    byDefault.body,
    { skipped: 0, overlaps: { items: [{ resolution: 'queue' }] }, airings: { items: [{ outcome: 'waits' }] } },
    'queued with the default 15-minute window, not silently skipped',
  );
  const windowed = await call('POST', '/schedules/preview', { ...body, startWindowMinutes: 5 });
  matchExact(t, windowed.body.overlaps?.items, [{ resolution: 'queue' }], 'with a start window it waits for the other to end');
  const preempt = await call('POST', '/schedules/preview', { ...body, conflict: 'preempt' });
  matchExact(t, preempt.body.overlaps?.items, [{ resolution: 'preempt' }]);
  matchExact(t, preempt.body.airings, { items: [{ outcome: 'preempts' }] });
  const urgent = await call('POST', '/schedules/preview', { ...body, priority: 'priority', conflict: 'skip' });
  matchExact(t, urgent.body.overlaps?.items, [{ resolution: 'preempt' }], 'a higher class always preempts');
  const earlier = await call('POST', '/schedules/preview', { ...body, startsAt: at('2026-11-27T10:59:59') });
  matchExact(
    t,
    earlier.body.overlaps?.items,
    [{ due: 'existing', resolution: 'queue' }],
    'the existing item, due second, meets the new one playing: it was made with the default window, so it waits',
  );
  matchExact(t, earlier.body.airings, { items: [{ outcome: 'delays' }] }, "from the new airing's side: it delays the other");
  t.equal(await server.db.schedule.count(), before);
  const saved = await schedule({ ...body, startWindowMinutes: 5 });
  matchExact(t, saved.body.overlaps, { total: 1, items: [{ resolution: 'queue' }] }, 'the created schedule reports its overlaps too');
  const night = await call('PATCH', `/schedules/${(saved.body as { id?: string }).id}`, { startsAt: '2026-11-27T23:00' });
  matchExact(t, night, { status: 422, body: { error: { code: 'POLICY_VIOLATION' } } }, 'a change is re-checked against policy');
  const same = await call('PATCH', `/schedules/${(saved.body as { id?: string }).id}`, { startWindowMinutes: 5, conflict: 'queue' });
  t.equal(same.status, 200, 'its own airings do not count against it (the rural one-session limit is not hit by itself)');
});

t.test('the manifest carries the local rules and each entry its conflict rule', async (t) => {
  const station = await server.db.station.findUniqueOrThrow({ where: { code: RURAL } });
  const [{ manifest }] = await server.dispatch.compile(station.id);
  t.same(manifest.policy?.quietHours, [{ start: '21:30', end: '05:00' }]);
  t.ok(manifest.policy?.maxVolume.length);
  const queued = manifest.entries.find((e) => e.startsAt === utc('2026-11-27T11:00:01'));
  t.match(queued, { conflict: 'queue', latestStartAt: utc('2026-11-27T11:05:01') });
});
