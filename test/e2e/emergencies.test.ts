// Emergency alerts end to end (issue 22): real agents, broker, server, ffmpeg and espeak-ng. A commune
// operator alerts their commune only; an actual district alert waits for a second person (and lapses);
// confirmed, it preempts what plays, repeats, is tracked per station and ends with one cancel; a gateway
// offline during an exercise airs it late when it returns, and exercises never count as real; a template
// is on the gateways before it is used, and its "end of alert" airs at the cancel.
import { join } from 'node:path';
import t from 'tap';
import { groupAiringId } from '#protocol';
import { makeAgent, mediaRef, onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { api, signedInAs, startTestServer, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const root = t;

// Two stations (communes) of one district and one of another, from the seeded 2024 map.
const stations = await server.db.station.findMany({ include: { unit: { include: { parent: true } } }, orderBy: { code: 'asc' } });
const first = stations[0] as (typeof stations)[number];
const district = first.unit.parent?.code as string;
const [stA, stB] = stations.filter((s) => s.unit.parent?.code === district);
const elsewhere = stations.find((s) => s.unit.parent?.code !== district) as (typeof stations)[number];
if (!stA || !stB) throw new Error('the seed has no district with two stations');
const inDistrict = stations.filter((s) => s.unit.parent?.code === district).length;

// Where they stand: the two of the district 1.5 km apart, the other 40 km away.
const place = { [stA.code]: [21.0, 105.8], [stB.code]: [21.01, 105.81], [elsewhere.code]: [21.3, 105.5] };
for (const [code, [latitude, longitude]] of Object.entries(place))
  await server.db.station.update({ where: { code }, data: { latitude, longitude } });

const [a, b0, c] = await Promise.all([stA, stB, elsewhere].map((s) => onlineAgent(t, { station: s.code, server, clock })));
if (!a || !b0 || !c) throw new Error('agents did not start');
let b = b0;
for (const gw of [a, b, c]) await gw.waitFor('manifest');

const communeOp = await signedInAs(server, 'em.commune', 'commune_operator', stA.unit.code);
const districtOp = await signedInAs(server, 'em.district1', 'district_operator', district);
const secondOp = await signedInAs(server, 'em.district2', 'district_operator', district);
const { body: siren } = await uploadApproved(server, makeTone(join(server.dataDir, 'em-siren.wav'), { seconds: 1, frequency: 1400 }));
const { body: talk } = await uploadApproved(server, makeTone(join(server.dataDir, 'em-talk.wav'), { seconds: 30, frequency: 300 }));

type Gw = typeof a;
interface StationRow {
  station: string;
  state: string;
  reason: string | null;
  startedAt: string | null;
  late: boolean;
  lateMs: number | null;
}
type Counts = Record<'stations' | 'received' | 'playing' | 'completed' | 'failed' | 'notReached', number>;
interface Alert {
  id: string;
  airing: string;
  state: string;
  text: string;
  confirmBy: string | null;
  counts: Counts;
  stations: StationRow[];
  error?: { code: string };
}
/** An /emergencies call, its answer read as an alert (or an error). */
async function alertApi(method: string, path: string, body?: unknown, token?: string) {
  const r = await api(server, method, path, body, token);
  return { status: r.status, body: r.body as unknown as Alert };
}
/** A preview of an area. */
async function areaApi(area: unknown, token: string) {
  const r = await api(server, 'POST', '/emergencies/area', area, token);
  return { status: r.status, body: r.body as unknown as { stations: { code: string }[]; groups: string[]; confirmationNeeded: boolean } };
}
const airedAs = (gw: Gw, airing: string) => groupAiringId(airing, gw.agent.identity().station);

/** Re-reads the alert each time one of the gateways has had a proof receipted, until `check` holds. */
async function alertUntil(id: string, gws: Gw[], check: (alert: Alert) => boolean): Promise<Alert> {
  for (;;) {
    const marks = gws.map((gw) => gw.events.length);
    const alert = (await alertApi('GET', `/emergencies/${id}`)).body;
    if (check(alert)) return alert;
    await Promise.race(gws.map((gw, i) => gw.waitFor('delivered', (e) => gw.events.indexOf(e) >= (marks[i] as number))));
  }
}
const row = (alert: Alert, station: string) => alert.stations.find((s) => s.station === station);

t.test('a commune operator alerts their own commune only, and such an alert needs no second person', async (t) => {
  const outside = await alertApi(
    'POST',
    '/emergencies',
    {
      status: 'actual',
      headline: 'Cháy',
      area: { units: [stB.unit.code] },
      content: { mediaId: siren.id },
    },
    communeOp,
  );
  t.equal(outside.status, 403);
  t.equal(outside.body.error?.code, 'OUT_OF_SCOPE');
  const circle = await areaApi({ circle: { lat: 21.0, lon: 105.8, radiusM: 50_000 } }, communeOp);
  t.equal(circle.status, 403, 'a shape reaching past the commune is refused too');
  const near = await areaApi({ circle: { lat: 21.0, lon: 105.8, radiusM: 500 } }, communeOp);
  t.match(near.body, { stations: [{ code: stA.code }], groups: [stA.unit.code], confirmationNeeded: false }, 'a circle inside it is not');
  const shape = await areaApi(
    {
      polygon: [
        [20.99, 105.79],
        [20.99, 105.82],
        [21.02, 105.82],
        [21.02, 105.79],
      ],
    },
    districtOp,
  );
  t.same(
    shape.body.stations.map((s) => s.code),
    [stA.code, stB.code],
    'a polygon reaches the stations inside it',
  );
  t.same(shape.body.groups, [stA.unit.code, stB.unit.code].sort(), 'one group topic per commune it holds whole');
  t.equal(shape.body.confirmationNeeded, true, 'two communes: an actual alert needs a second person');

  const own = await alertApi(
    'POST',
    '/emergencies',
    {
      status: 'actual',
      headline: 'Cháy chợ',
      area: { units: [stA.unit.code] },
      content: { mediaId: siren.id },
    },
    communeOp,
  );
  t.equal(own.status, 201);
  t.match(own.body, { state: 'active', status: 'actual', counts: { stations: 1 } });
  const started = await a.waitFor('started', (e) => e.occurrenceId === airedAs(a, own.body.airing));
  t.ok(started);
  const done = await alertUntil(own.body.id, [a], (x) => x.counts.completed === 1);
  t.match(row(done, stA.code), { state: 'completed', late: false }, 'proven by the gateway’s signed report');
  t.notOk(
    b.events.some((e) => e.type === 'started' && e.occurrenceId === airedAs(b, own.body.airing)),
    'the next commune never hears it',
  );
});

t.test('an actual district alert waits for a second person, who cannot be its author, and lapses unconfirmed', async (t) => {
  const raised = await alertApi(
    'POST',
    '/emergencies',
    {
      status: 'actual',
      headline: 'Lũ quét',
      area: { units: [district] },
      content: { mediaId: siren.id },
    },
    districtOp,
  );
  t.equal(raised.status, 201);
  t.match(raised.body, { state: 'pending', counts: { stations: inDistrict } });
  t.ok(raised.body.confirmBy, 'with a time limit');
  const self = await alertApi('POST', `/emergencies/${raised.body.id}/confirm`, undefined, districtOp);
  t.equal(self.body.error?.code, 'SAME_PERSON');
  clock.advanceTo(clock.now() + 11 * 60_000);
  const late = await alertApi('POST', `/emergencies/${raised.body.id}/confirm`, undefined, secondOp);
  t.equal(late.body.error?.code, 'CONFIRMATION_LAPSED');
  t.equal((await alertApi('GET', `/emergencies/${raised.body.id}`)).body.state, 'lapsed');
  t.notOk(
    a.events.some((e) => e.type === 'started' && e.occurrenceId === airedAs(a, raised.body.airing)),
    'nothing aired',
  );
});

t.test(
  'confirmed, a district alert preempts what plays, repeats on every gateway of the district, is tracked, and one cancel ends it',
  async (t) => {
    const play = await server.commands.send(stA.code, {
      action: 'play-now',
      occurrenceId: 'em-talk',
      priority: 'priority',
      media: mediaRef(talk),
    });
    t.equal(play.ok, true);
    await a.waitFor('started', (e) => e.occurrenceId === 'em-talk');
    const raised = await alertApi(
      'POST',
      '/emergencies',
      {
        status: 'actual',
        headline: 'Bão số 3',
        area: { units: [district] },
        content: { mediaId: siren.id },
        repeat: { until: new Date(clock.now() + 30 * 60_000).toISOString() },
      },
      districtOp,
    );
    t.equal(raised.body.state, 'pending');
    const confirmed = await alertApi('POST', `/emergencies/${raised.body.id}/confirm`, undefined, secondOp);
    t.match(confirmed.body, { state: 'active', confirmedBy: 'em.district2', createdBy: 'em.district1', groups: [district] });
    const cut = await a.waitFor('finished', (e) => e.occurrenceId === 'em-talk');
    t.match(cut.report, { reason: 'PREEMPTED' }, 'what played is cut and says why');
    for (const gw of [a, b]) {
      const id = airedAs(gw, confirmed.body.airing);
      await gw.waitFor('finished', (e) => e.occurrenceId === id && e.report.kind === 'playback.completed' && !e.report.reason);
      const second = gw.events.filter((e) => e.type === 'started' && e.occurrenceId === id).length;
      if (second < 2)
        await gw.waitFor(
          'started',
          (e) => e.occurrenceId === id && gw.events.filter((x) => x.type === 'started' && x.occurrenceId === id).length >= 2,
        );
    }
    t.notOk(
      c.events.some((e) => e.type === 'started' && e.occurrenceId === airedAs(c, confirmed.body.airing)),
      'another district never hears it',
    );
    const tracked = await alertUntil(
      confirmed.body.id,
      [a, b],
      (x) => x.counts.received >= 2 && x.counts.playing + x.counts.completed >= 2,
    );
    t.equal(tracked.counts.stations, inDistrict);
    t.equal(tracked.counts.notReached, inDistrict - 2, 'the district’s stations without a gateway here are listed as not reached');
    t.ok(
      tracked.stations.filter((s) => s.state === 'not-reached').every((s) => s.reason === 'offline'),
      'and why',
    );
    const cancelled = await alertApi('POST', `/emergencies/${confirmed.body.id}/cancel`, undefined, secondOp);
    t.match(cancelled.body, { state: 'cancelled', cancelledBy: 'em.district2' });
    for (const gw of [a, b]) {
      const end = await gw.waitFor(
        'finished',
        (e) => e.occurrenceId === airedAs(gw, confirmed.body.airing) && e.report.reason === 'CANCELLED',
      );
      t.ok(end, `${gw.agent.identity().station} stops at the cancel`);
    }
    const csv = await fetch(`${server.url}/api/v1/emergencies/${confirmed.body.id}/report.csv`, { headers: server.auth });
    const text = await csv.text();
    t.match(text, new RegExp(`${stA.code},[^\\n]*,(completed|playing|failed)`), 'the report lists each station');
    t.equal(text.split('\n').filter((l) => l.startsWith('HN-')).length, inDistrict);
  },
);

t.test('a gateway offline during an exercise airs it late when it returns, and an exercise never counts as real', async (t) => {
  const dataDir = b.dataDir;
  await b.agent.stop();
  const raised = await alertApi(
    'POST',
    '/emergencies',
    {
      status: 'exercise',
      headline: 'Diễn tập phòng cháy',
      area: { stations: [stA.code, stB.code] },
      content: { text: 'Mời bà con ra khỏi nhà.' },
    },
    districtOp,
  );
  t.equal(raised.status, 201, JSON.stringify(raised.body.error ?? ''));
  t.equal(raised.body.state, 'active', 'an exercise needs no second person');
  t.match(raised.body.text, /^Đây là tin diễn tập/, 'and says what it is before its words');
  await a.waitFor('started', (e) => e.occurrenceId === airedAs(a, raised.body.airing));
  clock.advanceTo(clock.now() + 5 * 60_000);
  const back = await makeAgent({ station: stB.code, server, clock, dataDir });
  await back.agent.start();
  // Running to the end of the file (the next test uses it), stopped then.
  root.teardown(() => back.agent.stop());
  b = back;

  await b.waitFor('on-air', (e) => e.occurrenceId === airedAs(b, raised.body.airing));
  // The fake clock stands still while the speech plays: moved past its end, so the proof's elapsed time holds its played time.
  clock.advanceTo(clock.now() + 30_000);
  const tracked = await alertUntil(raised.body.id, [a, b], (x) => Boolean(row(x, stB.code)?.startedAt && row(x, stB.code)?.late));
  t.ok((row(tracked, stB.code)?.lateMs ?? 0) >= 5 * 60_000, 'reported as late');
  const occurrences = await server.db.occurrence.findMany({ where: { id: { startsWith: `${raised.body.airing}@` } } });
  t.equal(occurrences.length, 2);
  t.ok(
    occurrences.every((o) => o.day === null),
    'outside the days the compliance reports count',
  );
  const actual = await server.db.occurrence.count({ where: { priority: 'emergency', day: { not: null } } });
  const counted = await server.db.reportDay.aggregate({ where: { emergency: true }, _sum: { n: true } });
  t.equal(counted._sum.n ?? 0, actual, 'the compliance counts hold the actual alerts’ airings only');
  await alertApi('POST', `/emergencies/${raised.body.id}/cancel`, undefined, districtOp);
});

t.test('a template is on the gateways below its unit before it is used; its end of alert airs at the cancel', async (t) => {
  const { body: bell } = await uploadApproved(server, makeTone(join(server.dataDir, 'em-bell.wav'), { seconds: 1, frequency: 900 }));
  const { body: end } = await uploadApproved(server, makeTone(join(server.dataDir, 'em-end.wav'), { seconds: 1, frequency: 600 }));
  const versions = [a, b].map((gw) => gw.agent.inspect().ctx.state.manifest?.version ?? 0);
  const made = await api(
    server,
    'POST',
    '/emergency-templates',
    { code: 'bao', title: 'Bão', unit: district, mediaId: bell.id, endMediaId: end.id },
    districtOp,
  );
  t.equal(made.status, 201, JSON.stringify(made.body.error ?? ''));
  for (const [i, gw] of [a, b].entries()) {
    await gw.waitFor('manifest', (e) => e.version > (versions[i] as number));
    // Both files of the template, in whatever order the gateway fetches them.
    await gw.waitFor('cached', (e) => e.sha256 === bell.sha256);
    await gw.waitFor('cached', (e) => e.sha256 === end.sha256);
  }
  t.notOk(
    c.agent.inspect().ctx.state.manifest?.prefetch?.some((m) => m.sha256 === bell.sha256),
    'not on a gateway of another district',
  );
  const fetchesBefore = a.events.filter((e) => e.type === 'cached').length;
  const raised = await alertApi(
    'POST',
    '/emergencies',
    {
      status: 'actual',
      headline: 'Bão vào',
      area: { units: [stA.unit.code] },
      content: { template: 'bao' },
      repeat: { count: 50 },
    },
    districtOp,
  );
  t.equal(raised.body.state, 'active', 'one commune: no second person');
  await a.waitFor('started', (e) => e.occurrenceId === airedAs(a, raised.body.airing));
  t.equal(a.events.filter((e) => e.type === 'cached').length, fetchesBefore, 'aired from the cache, no download');
  await alertApi('POST', `/emergencies/${raised.body.id}/cancel`, undefined, districtOp);
  await a.waitFor('finished', (e) => e.occurrenceId === airedAs(a, raised.body.airing) && e.report.reason === 'CANCELLED');
  const endStarted = await a.waitFor(
    'on-air',
    (e) => a.agent.inspect().rooms.onAir.current?.entry?.media.sha256 === end.sha256 && e.at > 0,
  );
  t.ok(endStarted, 'the end of alert airs');

  // A test from the same template says what it is first: the announcement spoken before the recording.
  const drill = await alertApi(
    'POST',
    '/emergencies',
    { status: 'test', headline: 'Thử còi', area: { units: [stA.unit.code] }, content: { template: 'bao' } },
    districtOp,
  );
  t.equal(drill.status, 201, JSON.stringify(drill.body.error ?? ''));
  const media = (drill.body as unknown as { media: { sha256: string; durationMs: number } }).media;
  t.not(media.sha256, bell.sha256, 'a new item, not the template’s recording alone');
  t.ok(media.durationMs > (bell.durationMs as number) + 1000, `the announcement comes first (${media.durationMs} ms)`);
  t.match(drill.body.text, /^Đây là tin thử nghiệm/);
  await a.waitFor('started', (e) => e.occurrenceId === airedAs(a, drill.body.airing));
  await alertApi('POST', `/emergencies/${drill.body.id}/cancel`, undefined, districtOp);
});
