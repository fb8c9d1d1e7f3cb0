// Today's map (#18): a fresh start seeds Hanoi on the 2025 two-tier map with the 2024 tree as history,
// the 2021 limits re-expressed by unit type, and a reform imported from its conversion table (preview,
// then apply) on a server that ran on the 2024 map, with airings before and after rolling up by the map
// of their time. Real server, real SQLite, the shipped copies of the government lists.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { MERGER_2025_FILE } from '../../server/db/maps.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { api, relogin, scheduleItem, signedInAs, startTestServer, uploadApproved } from '../helpers/server.ts';

type Unit = { code: string; name: string; type: string; level: number; parentCode: string | null; mergedInto: string | null };
const units = async (server: Parameters<typeof api>[0], query: string) =>
  (await api(server, 'GET', `/units?limit=1000&${query}`)).body as { total: number; items: Unit[] };

t.test('a fresh start: Hanoi as 1 + 126 units with its 579 stations, the 2024 tree as it was', async (t) => {
  const server = await startTestServer({ env: { LP_SEED: 'hanoi-2025', LP_SEED_POLICY: 'hanoi-2021' } });
  t.teardown(() => server.stop());
  t.equal((await units(server, '')).total, 127, 'the city and its 126 units are current');
  const below = await units(server, 'parent=01');
  t.equal(below.total, 126);
  t.same(
    [below.items.filter((u) => u.type === 'Phường').length, below.items.filter((u) => u.type === 'Xã').length],
    [51, 75],
    '51 phường and 75 xã, straight under the city',
  );
  t.equal((await api(server, 'GET', '/stations?limit=1')).body.total, 579);
  const phucXa = (await api(server, 'GET', '/stations/HN-00001')).body;
  matchExact(
    t,
    phucXa,
    { name: 'Đài Phúc Xá', unitCode: '00097', unitName: 'Phường Hồng Hà', unitType: 'Phường', unitCandidates: null },
    'whole into Hồng Hà',
  );
  const congVi = (await api(server, 'GET', '/stations/HN-00007')).body;
  matchExact(
    t,
    congVi.unitCandidates,
    [
      { code: '00008', name: 'Phường Ngọc Hà', share: 'partial' },
      { code: '00025', name: 'Phường Giảng Võ', share: 'partial' },
    ],
    'a split commune’s station keeps its candidates',
  );
  t.equal(congVi.unitCode, '00008', 'placed by the rule (first listed), to be confirmed');
  t.equal(await server.db.station.count({ where: { unitCandidates: { not: null } } }), 211, 'the 211 stations of split communes');

  const then = await units(server, 'at=2025-03-01&parent=01');
  t.equal(then.total, 30, 'on 2025-03-01 the city had its 30 districts');
  const baDinh = await units(server, 'at=2025-03-01&parent=001');
  t.equal(baDinh.total, 14, 'and Ba Đình its 14 phường');
  t.match(
    baDinh.items.find((u) => u.name === 'Phường Trúc Bạch'),
    { code: '00004-2024', mergedInto: '00004' },
    'Trúc Bạch keeps its code with the map’s year: the new Phường Ba Đình took 00004',
  );
  t.equal((await units(server, 'at=2025-07-01&parent=01')).total, 126, 'from 2025-07-01 the new map');
  const history = (await api(server, 'GET', '/units/00001/history')).body.items as { kind: string; at: string; after: unknown }[];
  t.match(
    history.at(-1),
    { kind: 'merge', at: '2025-06-30T17:00:00.000Z', after: { mergedInto: '00097' } },
    'the merge is history dated 2025-07-01 (Hanoi)',
  );

  // The 2021 limits on the two-tier map.
  const policy = async (code: string) => (await api(server, 'GET', `/units/${code}/policy`)).body as { effective: Record<string, unknown> };
  t.equal((await policy('00004')).effective.emergencyOnly, true, 'Phường Ba Đình (former inner districts): emergencies only');
  t.notOk((await policy('00097')).effective.emergencyOnly, 'Hồng Hà (mostly Tây Hồ and Long Biên): not');
  const xa = below.items.find((u) => u.type === 'Xã') as Unit;
  const phuong = below.items.find((u) => u.type === 'Phường' && u.code === '00097') as Unit;
  t.notSame(
    (await policy(xa.code)).effective.windows,
    (await policy(phuong.code)).effective.windows,
    'xã and phường have their own windows',
  );
  t.equal(
    await server.db.unit.count({ where: { endedAt: null, policy: { contains: '"emergencyOnly":true' } } }),
    12,
    'twelve units carry the inner districts’ rule',
  );
  t.equal((await api(server, 'PUT', '/units/00004/policy', { emergencyOnly: false })).status, 200, 'one PUT changes it');
  t.notOk((await policy('00004')).effective.emergencyOnly);

  // An operator confirms where a split commune's station belongs.
  const operator = await signedInAs(server, 'operator.city', 'district_operator', '01');
  const moved = await api(server, 'POST', '/stations/HN-00007/unit', { unit: '00025' }, operator);
  matchExact(t, moved, {
    status: 200,
    body: { station: 'HN-00007', unit: '00025', unitName: 'Phường Giảng Võ', from: '00008', movedAirings: 0 },
  });
  t.equal((await api(server, 'GET', '/stations/HN-00007')).body.unitCandidates, null, 'confirmed: no candidates left');
  t.match(await api(server, 'POST', '/stations/HN-00007/unit', { unit: '001' }), { status: 409, body: { error: { code: 'UNIT_ENDED' } } });
});

t.test('a reform imported from the shared table on a 2024-map server: preview, apply, and reports by the map of their time', async (t) => {
  const clock = new FakeClock(new Date('2025-03-10T08:00:00+07:00').getTime());
  const server = await startTestServer({ now: clock.date });
  t.teardown(() => server.stop());
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'm.wav'), { seconds: 1 }));
  const march = await scheduleItem(server, media.id, 'HN-00001', new Date('2025-03-12T07:00:00+07:00'));
  const july = await scheduleItem(server, media.id, 'HN-00001', new Date('2025-07-15T07:00:00+07:00'));
  const scoped = await signedInAs(server, 'operator.phucxa', 'commune_operator', '00001');
  t.ok(scoped);

  const table = JSON.parse(readFileSync(MERGER_2025_FILE, 'utf8')) as { mergers: { oldProvinceCode: string }[]; asOf: string };
  const hanoi = { ...table, mergers: table.mergers.filter((r) => r.oldProvinceCode === '01') };
  const preview = await api(server, 'POST', '/units/merges/import', { table: hanoi, policy: 'hanoi-2021' });
  t.equal(preview.status, 200);
  matchExact(
    t,
    preview.body.counts,
    {
      newUnits: 126,
      endedProvinces: 0,
      endedDistricts: 30,
      endedCommunes: 579,
      recoded: 126,
      stations: 579,
      stationsOfSplitCommunes: 211,
      decisionsNeeded: 211,
      futureAirings: 1,
      usersMoved: 1,
      usersUndecided: 0,
      skipped: 0,
    },
    'the preview: what would move',
  );
  t.equal(preview.body.applied, false);
  t.equal(await server.db.unit.count({ where: { endedAt: null } }), 610, 'a preview writes nothing');
  const split = (preview.body.stations as { station: string; candidates: unknown[]; rule: string }[]).filter((s) => s.candidates.length);
  t.equal(split.length, 211, 'each split commune’s station listed with its candidates');
  t.same(
    [...new Set(split.map((s) => s.rule))].sort(),
    ['first-listed', 'full', 'kept-code', 'same-name'].filter((r) => split.some((s) => s.rule === r)).sort(),
  );

  clock.advanceTo(new Date('2025-07-01T09:00:00+07:00').getTime());
  await relogin(server);
  const applied = await api(server, 'POST', '/units/merges/import', {
    table: hanoi,
    policy: 'hanoi-2021',
    apply: true,
    decisions: { 'HN-00007': '00025' },
  });
  t.match(applied, { status: 200, body: { applied: true, counts: { decisionsNeeded: 210 } } }, 'applied, one station decided');
  t.equal(await server.db.unit.count({ where: { endedAt: null } }), 127);
  t.match((await api(server, 'GET', '/stations/HN-00007')).body, { unitCode: '00025', unitCandidates: null }, 'the decision is kept');
  t.match(await server.db.user.findUniqueOrThrow({ where: { username: 'operator.phucxa' }, include: { unit: true } }), {
    unit: { code: '00097' },
  });
  const occ = await server.db.occurrence.findMany({
    where: { id: { in: [march, july] } },
    include: { unit: true },
    orderBy: { startsAt: 'asc' },
  });
  t.same(
    occ.map((o) => o.unit?.code),
    ['00001', '00097'],
    'the March airing stays with Phúc Xá; the July one moved to Hồng Hà',
  );
  t.match(
    await api(server, 'POST', '/units/merges/import', { table: hanoi, apply: true }),
    { status: 400, body: { error: { code: 'NOTHING_TO_MERGE' } } },
    'applied once',
  );

  clock.advanceTo(new Date('2026-12-01T09:00:00+07:00').getTime());
  await relogin(server);
  await scheduleItem(server, media.id, 'HN-00001', new Date('2026-12-02T07:00:00+07:00'));
  const report = async (from: string, to: string) =>
    (await api(server, 'GET', `/compliance/report?unit=01&groupBy=unit&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`))
      .body as {
      groups: { key: string; name: string; scheduled: number }[];
    };
  const asRun = async (from: string, to: string) =>
    (
      (await api(server, 'GET', `/as-run?station=HN-00001&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`)).body.items as {
        unitCode: string;
        unitName: string;
        unitType: string;
        stationName: string;
      }[]
    ).map((r) => [r.stationName, r.unitCode, r.unitName, r.unitType]);
  matchExact(
    t,
    await asRun('2025-03-01T00:00:00+07:00', '2025-03-31T00:00:00+07:00'),
    [['Đài Phúc Xá', '00001', 'Phường Phúc Xá', 'Phường']],
    'the as-run names the unit an airing was under, by name and type: March 2025',
  );
  matchExact(
    t,
    await asRun('2026-12-01T00:00:00+07:00', '2026-12-31T00:00:00+07:00'),
    [['Đài Phúc Xá', '00097', 'Phường Hồng Hà', 'Phường']],
    'December 2026',
  );
  const inMarch = await report('2025-03-01T00:00:00+07:00', '2025-04-01T00:00:00+07:00');
  t.match(inMarch, { unitName: 'Thành phố Hà Nội' });
  matchExact(
    t,
    inMarch.groups.map((g) => [g.key, g.name, g.scheduled]),
    [['001', 'Quận Ba Đình', 1]],
    'March 2025: under its 2024 district',
  );
  const inDecember = await report('2026-12-01T00:00:00+07:00', '2027-01-01T00:00:00+07:00');
  matchExact(
    t,
    inDecember.groups.map((g) => [g.key, g.name, g.scheduled]),
    [['00097', 'Phường Hồng Hà', 1]],
    'December 2026: under its 2025 unit',
  );
});

t.test('a CSV conversion table works too, and a bad one is refused whole', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const csv = 'oldCode,newCode,newName,share\n00001,00004,Phường Ba Đình,full\n00004,00004,Phường Ba Đình,full\n';
  const post = (body: string, query = '') =>
    fetch(`${server.url}/api/v1/units/merges/import?effectiveAt=2025-07-01${query}`, {
      method: 'POST',
      headers: { ...server.auth, 'content-type': 'text/csv' },
      body,
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
  const preview = await post(csv);
  t.match(
    preview,
    { status: 200, body: { counts: { newUnits: 1, endedCommunes: 2, recoded: 1, endedDistricts: 0 } } },
    'Ba Đình keeps its other communes',
  );
  t.match(
    await post('oldCode,newCode,newName\n00001,00097,Phường Hồng Hà\n'),
    { status: 409, body: { error: { code: 'CODE_IN_USE' } } },
    'a new unit cannot take the code of a unit that goes on',
  );
  t.match(await post('oldCode,newCode\n00001,\n'), { status: 400, body: { error: { code: 'INVALID_TABLE' } } });
  t.match(await post('oldCode,newCode,newName\n99999,00097,X\n'), { status: 400, body: { error: { code: 'NOTHING_TO_MERGE' } } });
  const applied = await post(csv, '&apply=true');
  t.match(applied, { status: 200, body: { applied: true } });
  t.match((await api(server, 'GET', '/stations/HN-00001')).body, { unitCode: '00004', unitName: 'Phường Ba Đình' });
  t.match((await api(server, 'GET', '/stations/HN-00004')).body, { unitCode: '00004', unitName: 'Phường Ba Đình' });
});
