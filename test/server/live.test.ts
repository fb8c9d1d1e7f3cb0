// The live view's data: station coordinates imported by CSV (all rows checked, nothing written when one is
// wrong), and the event stream: a snapshot of the user's stations, then each change a real gateway causes
// (online, playing, back to online, offline), scoped to the user's units, one stream per session.
import { join } from 'node:path';
import t from 'tap';
import { liveState } from '../../server/services/live-service.ts';
import { makeAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { api, scheduleItem, signedInAs, startTestServer, uploadApproved } from '../helpers/server.ts';
import { liveItems, openEventStream } from '../helpers/sse.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const district = await signedInAs(server, 'truc.badinh', 'district_operator', '001');
const commune = await signedInAs(server, 'truc.phucxa', 'commune_operator', '00001');

const csv = (token: string, body: string) =>
  fetch(`${server.url}/api/v1/stations/import`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    body,
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { code: string; details: { rows: object[] } } } }));

t.test('coordinates come from a CSV; a wrong row, an unknown station or one outside the unit writes nothing', async (t) => {
  const rows = 'code,latitude,longitude,address\nHN-00001,21.0437,105.8466,Số 1 Phúc Xá\nHN-00004,21.0410,105.8420,\n';
  const bad = `${rows}HN-00007,91,105.8,\nHN-NOPE,21,105,\nHN-00031,21.1,\nHN-00001,21,105,\n`;
  const refused = await csv(district, bad);
  t.equal(refused.status, 400);
  t.equal(refused.body.error?.code, 'INVALID_IMPORT');
  t.match(refused.body.error?.details.rows, [
    { row: 3, code: 'HN-00007', message: /latitude/ },
    { row: 5, code: 'HN-00031', message: /go together/ },
    { row: 4, code: 'HN-NOPE', message: /unknown station/ },
    { row: 6, code: 'HN-00001', message: /more than once/ },
  ]);
  const socSon = (await server.db.station.findFirstOrThrow({ where: { unit: { parent: { code: '016' } } } })).code;
  t.match(await csv(district, `code,latitude,longitude\n${socSon},21.25,105.85\n`), {
    status: 400,
    body: { error: { details: { rows: [{ row: 1, message: /outside your unit/ }] } } },
  });
  t.equal(await server.db.station.count({ where: { latitude: { not: null } } }), 0, 'nothing written');

  t.match(await csv(district, rows), { status: 200, body: { updated: 2, unchanged: 0 } });
  t.match(await csv(district, rows), { status: 200, body: { updated: 0, unchanged: 2 } }, 'the same file again changes nothing');
  t.match(await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00001' } }), {
    latitude: 21.0437,
    longitude: 105.8466,
    address: 'Số 1 Phúc Xá',
  });
  t.match(await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00004' } }), { latitude: 21.041, address: null });
  t.match(await csv(commune, rows), { status: 403 }, 'a commune operator does not manage stations');
});

t.test('the state a station shows: offline, then playing, then an open alert, else online', async (t) => {
  t.equal(liveState({ online: false, playing: {}, alerts: 2 }), 'offline');
  t.equal(liveState({ online: true, playing: {}, alerts: 2 }), 'playing');
  t.equal(liveState({ online: true, playing: null, alerts: 1 }), 'alert');
  t.equal(liveState({ online: true, playing: null, alerts: 0 }), 'online');
});

t.test('the stream: a snapshot of your stations, then each change a real gateway causes, scoped', async (t) => {
  const url = `${server.url}/api/v1/live`;
  const all = await openEventStream(url, server.auth);
  t.teardown(() => all.close());
  const mine = await openEventStream(url, { authorization: `Bearer ${commune}` });
  t.teardown(() => mine.close());
  t.match(all.contentType, /^text\/event-stream/);
  const snapshot = liveItems(await all.next((e) => e.event === 'snapshot'));
  t.equal(snapshot.length, await server.db.station.count(), 'the whole tree for the administrator');
  t.ok(
    snapshot.every((s) => s.state === 'offline'),
    'no gateway is online yet',
  );
  const phucXa = liveItems(await mine.next((e) => e.event === 'snapshot'));
  t.same(
    phucXa.map((s) => s.code),
    ['HN-00001'],
    'the commune operator sees only the station of Phúc Xá',
  );
  t.match(phucXa[0], { latitude: 21.0437, longitude: 105.8466, unitName: 'Phường Phúc Xá' });

  // A gateway at Trúc Bạch (outside Phúc Xá) comes online, plays an airing and goes away.
  const station = 'HN-00004';
  const from = all.events.length;
  const gw = await makeAgent({ station, server, clock });
  await gw.agent.start();
  t.teardown(() => gw.agent.stop());
  const online = await all.next((e) => e.event === 'station' && liveItems(e).some((s) => s.code === station && s.online), { from });
  t.match(
    liveItems(online).find((s) => s.code === station),
    { state: 'online', playing: null },
  );

  const up = await uploadApproved(server, makeTone(join(server.dataDir, 'live.wav'), { seconds: 2 }), { title: 'Bản tin trực tiếp' });
  const startsAt = clock.now() + 5 * 60_000;
  const occurrenceId = await scheduleItem(server, up.body.id, station, startsAt);
  await gw.waitFor('cached', (e) => e.sha256 === up.body.sha256);
  clock.advanceTo(startsAt);
  const playing = await all.next((e) => e.event === 'station' && liveItems(e).some((s) => s.code === station && s.state === 'playing'), {
    from,
  });
  t.match(
    liveItems(playing).find((s) => s.code === station),
    { playing: { occurrenceId, title: 'Bản tin trực tiếp', priority: 'normal' } },
  );
  const after = all.events.indexOf(playing) + 1;
  await gw.waitFor('finished', (e) => e.occurrenceId === occurrenceId);
  await all.next((e) => e.event === 'station' && liveItems(e).some((s) => s.code === station && s.state === 'online'), { from: after });
  t.pass('back to online once the airing ended');

  await gw.agent.stop();
  await all.next((e) => e.event === 'station' && liveItems(e).some((s) => s.code === station && s.state === 'offline'), { from: after });
  t.pass('offline once the gateway went away');
  await server.live.idle();
  t.notOk(
    mine.events.some((e) => e.event === 'station'),
    'the commune operator was told nothing about another commune',
  );
  t.match(await api(server, 'GET', '/live/stations', undefined, commune), { status: 200, body: { items: [{ code: 'HN-00001' }] } });
});

t.test('one stream per session: a second one ends the first; no session, no stream', async (t) => {
  const url = `${server.url}/api/v1/live`;
  const first = await openEventStream(url, { authorization: `Bearer ${district}` });
  await first.next((e) => e.event === 'snapshot');
  t.equal(server.live.size(), 1);
  const second = await openEventStream(url, { authorization: `Bearer ${district}` });
  t.teardown(() => second.close());
  await second.next((e) => e.event === 'snapshot');
  await first.done;
  t.pass('the first stream ended');
  t.equal(server.live.size(), 1);
  const anonymous = await fetch(url);
  t.equal(anonymous.status, 401);
});
