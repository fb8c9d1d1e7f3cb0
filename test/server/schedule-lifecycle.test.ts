// After a schedule is made (#19 part): list, pause, resume, cancel, cancel one airing, and archiving an
// item cancels its airings to come. Each change re-plans exactly the stations it touches, and a real
// agent's manifest reflects it; held and cancelled airings are skipped (cancelled), never missed.
import { join } from 'node:path';
import t from 'tap';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { api, signedInAs, startTestServer, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const station = 'HN-00040';
const other = 'HN-00043';
const gw = await onlineAgent(t, { station, server, clock });
const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'daily.wav'), { seconds: 1 }));

/** The next manifest the agent applies after `version`, once it carries `entries` entries. */
const manifest = (entries: number, after: number) => gw.waitFor('manifest', (e) => e.version > after && e.entries === entries, 30_000);
const versionNow = async () => (await server.db.station.findUniqueOrThrow({ where: { code: station } })).manifestVersion;
const otherVersion = async () => (await server.db.station.findUniqueOrThrow({ where: { code: other } })).manifestVersion;

const start = new Date(clock.now() + 3600_000);
const created = await api(server, 'POST', '/schedules', {
  mediaId: media.id,
  stations: [station],
  startsAt: start.toISOString(),
  rrule: 'FREQ=DAILY;COUNT=5',
});
const id = created.body.id as string;
await api(server, 'POST', '/schedules', { mediaId: media.id, stations: [other], startsAt: start.toISOString() });

t.test('the list shows the schedule with its airings to come', async (t) => {
  await manifest(5, 0);
  const list = await api(server, 'GET', `/schedules?media=${media.id}`);
  t.equal(list.status, 200);
  t.match(
    (list.body.items as { id: string }[]).find((s) => s.id === id),
    { status: 'active', upcoming: 5, held: 0, stations: [station] },
  );
  const unit = await api(server, 'GET', '/schedules?unit=016');
  t.equal(unit.body.total, 0, 'nothing of it airs in Sóc Sơn');
});

t.test('pause holds every airing to come: the gateway’s plan is empty; resume puts them back', async (t) => {
  const v = await versionNow();
  const untouched = await otherVersion();
  matchExact(t, await api(server, 'POST', `/schedules/${id}/pause`), {
    status: 200,
    body: { id, status: 'paused', airings: 5, stations: 1 },
  });
  await manifest(0, v);
  t.equal(await otherVersion(), untouched, 'the other station got no new plan');
  const held = await server.db.occurrence.findMany({ where: { scheduleId: id } });
  t.same(
    [...new Set(held.map((o) => `${o.status}/${o.asRun}/${o.discrepancy}`))],
    ['paused/skipped/cancelled'],
    'held: skipped, reason cancelled',
  );
  t.match(await api(server, 'POST', `/schedules/${id}/pause`), { status: 409, body: { error: { code: 'INVALID_TRANSITION' } } });
  const v2 = await versionNow();
  matchExact(t, await api(server, 'POST', `/schedules/${id}/resume`), {
    status: 200,
    body: { id, status: 'active', airings: 5, stations: 1 },
  });
  await manifest(5, v2);
  t.same(
    [...new Set((await server.db.occurrence.findMany({ where: { scheduleId: id } })).map((o) => `${o.status}/${o.asRun}`))],
    ['scheduled/null'],
  );
});

t.test('one airing cancelled leaves the others', async (t) => {
  const first = await server.db.occurrence.findFirstOrThrow({ where: { scheduleId: id }, orderBy: { startsAt: 'asc' } });
  const v = await versionNow();
  matchExact(t, await api(server, 'POST', `/occurrences/${first.id}/cancel`), {
    status: 200,
    body: { id: first.id, status: 'cancelled', stations: Number },
  });
  await manifest(4, v);
  t.match(await api(server, 'POST', `/occurrences/${first.id}/cancel`), { status: 409, body: { error: { code: 'NOT_UPCOMING' } } });
});

t.test('times may be Hanoi wall-clock times without an offset; answers carry both', async (t) => {
  const local = new Date(clock.now() + 2 * 86_400_000 + 7 * 3600_000).toISOString().slice(0, 10);
  const r = await api(server, 'POST', '/schedules', { mediaId: media.id, stations: [other], startsAt: `${local}T06:30` });
  t.equal(r.status, 201);
  t.equal(r.body.startsAt, new Date(`${local}T06:30:00+07:00`).toISOString(), '06:30 in Hanoi is 23:30 UTC the day before');
  t.equal(r.body.startsAtLocal, `${local}T06:30:00+07:00`);
  t.equal(r.body.startWindowMs, 15 * 60_000, 'a queued item gets the default 15-minute start window');
  t.match(await api(server, 'POST', '/schedules', { mediaId: media.id, stations: [other], startsAt: `${local} 06:30` }), { status: 400 });
});

t.test('an operator outside the schedule’s stations cannot change it', async (t) => {
  const stranger = await signedInAs(server, 'operator.socson', 'district_operator', '016');
  t.match(await api(server, 'POST', `/schedules/${id}/cancel`, undefined, stranger), {
    status: 403,
    body: { error: { code: 'OUT_OF_SCOPE' } },
  });
  const refused = await fetch(`${server.url}/api/v1/schedules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stranger}`, 'content-type': 'application/json', 'accept-language': 'vi-VN,vi;q=0.9' },
    body: JSON.stringify({ mediaId: media.id, stations: [station], startsAt: start.toISOString() }),
  });
  matchExact(
    t,
    { status: refused.status, body: await refused.json() },
    {
      status: 403,
      body: { error: { code: 'OUT_OF_SCOPE', message: `Nằm ngoài đơn vị của bạn (station ${station} is outside your unit)` } },
    },
    'the refusal names the station, in Vietnamese when asked, its code unchanged',
  );
  const reader = await signedInAs(server, 'auditor.lifecycle', 'auditor');
  t.match(await api(server, 'POST', `/schedules/${id}/cancel`, undefined, reader), { status: 403, body: { error: { code: 'FORBIDDEN' } } });
});

t.test('cancel ends it for good; archiving an item cancels its airings to come and says how many', async (t) => {
  const v = await versionNow();
  matchExact(t, await api(server, 'POST', `/schedules/${id}/cancel`), {
    status: 200,
    body: { id, status: 'cancelled', airings: 4, stations: 1 },
  });
  await manifest(0, v);
  t.match(await api(server, 'POST', `/schedules/${id}/resume`), { status: 409 }, 'a cancelled schedule does not come back');
  t.equal((await server.schedules.extend()).occurrences, 0, 'and makes no new airings as the horizon moves');

  const again = await api(server, 'POST', '/schedules', {
    mediaId: media.id,
    stations: [station],
    startsAt: start.toISOString(),
    rrule: 'FREQ=DAILY;COUNT=3',
  });
  t.equal(again.status, 201);
  await manifest(3, v);
  const v2 = await versionNow();
  const archived = await api(server, 'POST', `/media/${media.id}/archive`);
  t.match(archived, { status: 200, body: { status: 'archived', cancelledAirings: 5 } }, 'the three daily ones and the other station’s two');
  await manifest(0, v2);
  const asRun = await server.db.occurrence.count({ where: { mediaId: media.id as string, status: 'scheduled' } });
  t.equal(asRun, 0, 'nothing of it is left to air');
});

t.test('a schedule changed: its airings to come laid out again, the stations it left and reaches re-planned', async (t) => {
  const { body: item } = await uploadApproved(server, makeTone(join(server.dataDir, 'patched.wav'), { seconds: 1, frequency: 620 }));
  const at = new Date(clock.now() + 2 * 3600_000);
  const v = await versionNow();
  const made = await api(server, 'POST', '/schedules', {
    mediaId: item.id,
    stations: [station],
    startsAt: at.toISOString(),
    rrule: 'FREQ=DAILY;COUNT=3',
  });
  t.equal(made.status, 201);
  const sid = made.body.id as string;
  await manifest(3, v);
  const later = new Date(at.getTime() + 30 * 60_000);
  const moved = await api(server, 'PATCH', `/schedules/${sid}`, { startsAt: later.toISOString() });
  t.equal(moved.status, 200);
  const times = (await server.db.occurrence.findMany({ where: { scheduleId: sid }, orderBy: { startsAt: 'asc' } })).map((o) =>
    o.startsAt.getTime(),
  );
  t.same(
    times,
    [0, 1, 2].map((d) => later.getTime() + d * 86_400_000),
    'three airings, each half an hour later',
  );
  const v2 = await versionNow();
  const otherBefore = await otherVersion();
  matchExact(t, await api(server, 'PATCH', `/schedules/${sid}`, { stations: [other] }), { status: 200, body: { stationCodes: [other] } });
  await manifest(0, v2);
  t.ok((await otherVersion()) > otherBefore, 'the station it reaches now got a new plan too');
  matchExact(t, await api(server, 'PATCH', `/schedules/${sid}`, { rrule: null }), { status: 200, body: { rrule: null } }, 'a one-off now');
  t.equal(await server.db.occurrence.count({ where: { scheduleId: sid } }), 1);
  await api(server, 'POST', `/schedules/${sid}/pause`);
  t.match(await api(server, 'PATCH', `/schedules/${sid}`, { priority: 'priority' }), {
    status: 409,
    body: { error: { code: 'NOT_ACTIVE' } },
  });
  t.match(await api(server, 'PATCH', `/schedules/${sid}`, { mediaId: 'x' }), { status: 400 }, 'what airs is not changed here');
});
