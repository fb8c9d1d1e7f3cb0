// The administrative tree through the API: export and import (CSV and JSON), rename, and a 2025-style
// merge that moves stations and what is still to air while past airings keep their unit. Devices:
// provisioning, one-time enrollment, MQTT logins and revocation.
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { connectAsync } from 'mqtt';
import t from 'tap';
import { publicKeyHex } from '#protocol';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { provisionDevice, startTestServer, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.parse('2026-11-22T17:00:00Z'));
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'units.wav'), { seconds: 1 }));

const call = async (method: string, path: string, body?: unknown, type = 'application/json') => {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { ...server.auth, ...(body === undefined ? {} : { 'content-type': type }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: API answers are checked field by field with t.match below
  return { status: res.status, text, body: (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, any> };
};

t.test('units export as CSV and JSON and import back; a bad file writes nothing', async (t) => {
  const csv = await call('GET', '/units/export?format=csv');
  t.equal(csv.status, 200);
  const rows = parse(csv.text, { columns: true }) as Record<string, string>[];
  t.equal(rows.length, 610);
  t.same(rows[0], {
    code: '01',
    name: 'Thành phố Hà Nội',
    type: 'Thành phố Trung ương',
    level: '1',
    parentCode: '',
    stationCode: '',
    endedAt: '',
    mergedInto: '',
  });
  t.match(
    rows.find((r) => r.code === '00004'),
    { name: 'Phường Trúc Bạch', parentCode: '001', stationCode: 'HN-00004', level: '3' },
  );
  const json = await call('GET', '/units/export');
  t.equal(json.body.units.length, 610);

  const same = await call('POST', '/units/import', csv.text, 'text/csv');
  t.same(same.body, { created: 0, updated: 0, unchanged: 610, stationsCreated: 0 }, 'the export imports back unchanged');

  const changed = `code,name,type,parentCode,stationCode\n00004,Phường Trúc Bạch Mới,Phường,001,\n99990,Thôn Thử,Thôn,00004,HN-99990\n`;
  t.same((await call('POST', '/units/import', changed, 'text/csv')).body, { created: 1, updated: 1, unchanged: 0, stationsCreated: 1 });
  t.match(await call('GET', '/stations/HN-99990'), { status: 200, body: { unitCode: '99990' } });
  matchExact(t, await call('GET', '/units?parent=00004'), { body: { total: 1, items: [{ code: '99990', level: 4 }] } });
  matchExact(t, await call('GET', '/units/00004/history'), {
    body: { items: [{ kind: 'rename', before: { name: 'Phường Trúc Bạch' }, after: { name: 'Phường Trúc Bạch Mới' } }] },
  });

  const bad = await call('POST', '/units/import', {
    units: [
      { code: '99991', name: 'A', type: 'Xã', parentCode: 'nowhere' },
      { code: '99992', name: '', type: 'Xã' },
    ],
  });
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'INVALID_IMPORT');
  t.equal(bad.body.error.details.total, 2);
  t.match(bad.body.error.message, /unknown parent nowhere/);
  const cycle = await call('POST', '/units/import', {
    units: [
      { code: '99993', name: 'A', type: 'X', parentCode: '99994' },
      { code: '99994', name: 'B', type: 'X', parentCode: '99993' },
    ],
  });
  t.match(cycle, { status: 400, body: { error: { code: 'INVALID_IMPORT', message: /cycle/ } } });
  t.match(await call('POST', '/units/import', 'code,name\n"unterminated', 'text/csv'), {
    status: 400,
    body: { error: { code: 'INVALID_CSV' } },
  });
  t.notOk(await server.db.unit.findUnique({ where: { code: '99991' } }), 'nothing written');
});

t.test('a 2025-style merge: stations and future airings move, past airings keep their unit', async (t) => {
  const soon = new Date(clock.now() + 3600_000);
  const later = new Date(clock.now() + 3 * 86_400_000);
  for (const startsAt of [soon, later]) {
    const r = await call('POST', '/schedules', { mediaId: media.id, stations: ['HN-00004', 'HN-00006'], startsAt: startsAt.toISOString() });
    t.equal(r.status, 201);
  }
  clock.advance(2 * 3600_000); // the first airing is now past
  const trucBach = await server.db.unit.findUniqueOrThrow({ where: { code: '00004' } });

  const merged = await call('POST', '/units/merge', {
    sources: ['00001', '00004', '00006'],
    into: { code: '30001', name: 'Phường Ba Đình', type: 'Phường', parentCode: '01' },
  });
  t.equal(merged.status, 200);
  t.same(merged.body, { into: '30001', ended: ['00001', '00004', '00006'], stations: 3, movedOccurrences: 2 });

  t.match(await call('GET', '/stations?unit=30001'), { body: { total: 4 } }, 'three communes, and the village station below Trúc Bạch');
  t.match(await call('GET', '/stations/HN-00004'), { body: { unitCode: '30001' } });
  const byUnit = async (code: string) =>
    (await server.db.occurrence.findMany({ where: { unit: { code } }, select: { startsAt: true } }))
      .map((o) => o.startsAt.toISOString())
      .sort();
  t.same(await byUnit('00004'), [soon.toISOString()], 'what aired under Trúc Bạch stays Trúc Bạch');
  t.same(await byUnit('30001'), [later.toISOString(), later.toISOString()], 'what is still to air moved with the stations');
  t.equal((await server.db.unit.findUniqueOrThrow({ where: { id: trucBach.id } })).endedAt?.toISOString(), clock.date().toISOString());

  matchExact(t, await call('GET', '/units/00004/history'), {
    body: { items: [{ kind: 'rename' }, { kind: 'merge', after: { mergedInto: '30001' } }] },
  });
  matchExact(t, await call('GET', '/units/30001/history'), {
    body: { items: [{ kind: 'create' }, { kind: 'merge', after: { from: ['00001', '00004', '00006'], stations: 3 } }] },
  });
  const current = (await call('GET', '/units?parent=001')).body.items as { code: string }[];
  t.ok(current.length > 0, `${current.length} units still below 001`);
  t.same(
    current.filter((u) => ['00001', '00004', '00006'].includes(u.code)),
    [],
    'ended units are hidden by default',
  );
  const listed = await call('GET', '/units?parent=001&includeEnded=true');
  t.match(
    listed.body.items.find((u: { code: string }) => u.code === '00004'),
    { mergedInto: '30001' },
  );
  matchExact(t, await call('GET', '/units?parent=30001'), { body: { items: [{ code: '99990' }] } }, 'child units follow');

  t.match(await call('POST', '/schedules', { mediaId: media.id, targets: { units: ['00004'] }, startsAt: later.toISOString() }), {
    status: 409,
    body: { error: { code: 'UNIT_ENDED', message: /merged into 30001/ } },
  });
  t.match(await call('POST', '/units/merge', { sources: ['00004'], into: { code: '30001' } }), {
    status: 409,
    body: { error: { code: 'UNIT_ENDED' } },
  });
  t.match(await call('POST', '/units/merge', { sources: ['00007'], into: { code: '30002' } }), {
    status: 400,
    body: { error: { code: 'MERGE_TARGET_INCOMPLETE' } },
  });
  t.match(await call('PATCH', '/units/30001', { name: 'Phường Ba Đình (mới)' }), { status: 200 });
});

t.test('provisioning: a one-time token enrolls a gateway once; MQTT takes only its credentials; revocation locks it out', async (t) => {
  const created = await call('POST', '/stations/HN-00007/devices', {
    name: 'Cổng chính',
    zones: [
      { code: 'z1', name: 'Chợ' },
      { code: 'z2', name: 'Trường' },
    ],
  });
  t.equal(created.status, 201);
  matchExact(t, created.body, {
    code: 'HN-00007',
    station: 'HN-00007',
    enrolled: false,
    zones: [{ code: 'z1' }, { code: 'z2' }],
    enrollToken: /^[\w-]{43}$/,
  });
  t.match(await call('POST', '/stations/HN-00007/devices', {}), { status: 201, body: { code: 'HN-00007-2' } });
  t.match(await call('POST', '/stations/HN-99999/devices', {}), { status: 404, body: { error: { code: 'UNKNOWN_STATION' } } });

  const key = generateKeyPairSync('ed25519');
  const enroll = (token: string) =>
    fetch(`${server.url}/api/v1/gateway/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, publicKeyHex: publicKeyHex(key.publicKey), agentVersion: 't', protocolVersions: [1] }),
    });
  const ok = await enroll(created.body.enrollToken);
  t.equal(ok.status, 200);
  const enrolled = (await ok.json()) as { mqtt: { username: string; password: string; clientId: string } };
  t.equal((await enroll(created.body.enrollToken)).status, 401, 'spent');
  t.equal((await enroll('x'.repeat(43))).status, 401, 'unknown');
  const stale = await provisionDevice(server, 'HN-00010');
  clock.advance(8 * 86_400_000);
  t.equal((await enroll(stale)).status, 401, 'expired after 7 days');
  await (await import('../helpers/server.ts')).relogin(server);

  const login = (opts: object) => connectAsync(server.mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  const client = await login(enrolled.mqtt);
  t.ok(client.connected, 'the issued credentials log in');
  await client.endAsync();
  await t.rejects(
    login({ ...enrolled.mqtt, password: 'wrong' }),
    /Bad username or password|Not authorized/i,
    'a wrong password is refused',
  );
  await t.rejects(
    login({ ...enrolled.mqtt, clientId: 'someone-else' }),
    /Bad username or password|Not authorized/i,
    'the client id must be the device',
  );

  t.match(
    await call('POST', '/schedules', {
      mediaId: media.id,
      targets: { zones: ['HN-00007:z2'] },
      startsAt: new Date(clock.now() + 3600_000).toISOString(),
    }),
    { status: 201 },
  );
  const station = await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00007' } });
  const manifests = await server.dispatch.compile(station.id);
  t.same(
    manifests.map((m) => [m.device, m.manifest.entries.map((e) => e.zones)]),
    [
      ['HN-00007', [['z2']]],
      ['HN-00007-2', []],
    ],
    'a zone target reaches only that device, on that output',
  );
  t.match(
    await call('POST', '/schedules/preview', {
      mediaId: media.id,
      targets: { zones: ['HN-00007:z9'] },
      startsAt: new Date(clock.now() + 3600_000).toISOString(),
    }),
    {
      status: 404,
      body: { error: { code: 'UNKNOWN_ZONE' } },
    },
  );

  const live = await login(enrolled.mqtt);
  const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));
  t.equal((await call('POST', '/devices/HN-00007/revoke')).status, 204);
  await closed;
  t.pass('its live session is closed at once');
  await live.endAsync(true);
  await t.rejects(login(enrolled.mqtt), /Bad username or password|Not authorized/i, 'a revoked device cannot log in');
  matchExact(t, await call('GET', '/stations/HN-00007/devices'), {
    body: { items: [{ code: 'HN-00007', enrolled: false, revokedAt: String }, { code: 'HN-00007-2' }] },
  });
  t.match(await call('POST', '/devices/HN-00007/enrollment-token'), { status: 404 }, 'a revoked device gets no new token');

  const meta = await call('PATCH', '/stations/HN-00007', {
    address: '1 Phố Huế',
    latitude: 21.01,
    longitude: 105.85,
    speakerPoints: 24,
    powerW: 600,
    connectivity: '4g',
    installedAt: '2021-05-01',
  });
  t.match(meta, { status: 200, body: { speakerPoints: 24, connectivity: '4g', installedAt: '2021-04-30T17:00:00.000Z' } });
  t.match(await call('PATCH', '/stations/HN-00007', { connectivity: 'pigeon' }), { status: 400 });
  t.match(await call('GET', '/stations/HN-00007'), { body: { address: '1 Phố Huế', powerW: 600, latitude: 21.01 } });
});
