// Scope on the rest of the API: stations and gateways, the administrative tree, user accounts, library
// items and playlists owned by units, schedules and jobs. Ba Đình (001) holds Phúc Xá (00001, HN-00001)
// and Trúc Bạch (00004, HN-00004); Sóc Sơn (016) is another district (HN-00376 lies in it).
import { join } from 'node:path';
import t from 'tap';
import { makeTone } from '../helpers/audio.ts';
import { matchExact } from '../helpers/match.ts';
import { api, provisionDevice, signedInAs, startTestServer, upload } from '../helpers/server.ts';

const server = await startTestServer();
t.teardown(() => server.stop());
const OUT = { status: 403, body: { error: { code: 'OUT_OF_SCOPE' } } };
const ROLE = { status: 403, body: { error: { code: 'FORBIDDEN' } } };
const district = await signedInAs(server, 'district.badinh', 'district_operator', '001');
const commune = await signedInAs(server, 'commune.phucxa', 'commune_operator', '00001');
const editorPhucXa = await signedInAs(server, 'editor.phucxa', 'editor', '00001');
const editorTrucBach = await signedInAs(server, 'editor.trucbach', 'editor', '00004');
const approverBaDinh = await signedInAs(server, 'approver.badinh', 'approver', '001');
const approverSocSon = await signedInAs(server, 'approver.socson', 'approver', '016');
const auditor = await signedInAs(server, 'auditor.badinh', 'auditor', '001');
const adminBaDinh = await signedInAs(server, 'admin.badinh', 'province_admin', '001');
const tone = (name: string, frequency: number) => makeTone(join(server.dataDir, name), { seconds: 1, frequency });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('stations: lists hold the own district only; a foreign station is refused', async (t) => {
  const list = await api(server, 'GET', '/stations?limit=1000', undefined, district);
  const codes = (list.body.items as { code: string }[]).map((s) => s.code);
  const expected = await server.db.station.count({ where: { unit: { OR: [{ code: '001' }, { parent: { code: '001' } }] } } });
  t.equal(list.body.total, expected, 'every Ba Đình station and nothing else');
  t.ok(codes.includes('HN-00001') && !codes.includes('HN-00376'));
  t.match(await api(server, 'GET', '/stations/HN-00376', undefined, district), OUT);
  t.match(await api(server, 'GET', '/stations/HN-00001', undefined, commune), { status: 200 });
  t.match(await api(server, 'GET', '/stations/HN-00004', undefined, commune), OUT, 'the neighbouring commune');
  t.match(await api(server, 'PATCH', '/stations/HN-00376', { address: 'x' }, district), OUT);
  t.match(await api(server, 'PATCH', '/stations/HN-00001', { address: '1 Phúc Xá' }, district), { status: 200 });
  t.match(await api(server, 'PATCH', '/stations/HN-00001', { address: 'y' }, commune), ROLE, 'a commune operator does not edit stations');
  t.equal((await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00376' } })).address, null, 'nothing written');
});

t.test('gateways: provisioning, new tokens and revocation stay inside the district', async (t) => {
  const before = await server.db.device.count();
  t.match(await api(server, 'POST', '/stations/HN-00376/devices', {}, district), OUT);
  t.match(await api(server, 'POST', '/devices/provision', { unit: '016' }, district), OUT);
  t.match(
    await api(server, 'POST', '/devices/provision', { stations: ['HN-00001', 'HN-00376'] }, district),
    OUT,
    'one foreign station refuses all',
  );
  t.equal(await server.db.device.count(), before, 'no device created by the refusals');
  t.match(await api(server, 'GET', '/stations/HN-00376/devices', undefined, district), OUT);
  await provisionDevice(server, 'HN-00376');
  const foreign = 'HN-00376'; // a station's first gateway takes its code
  t.match(await api(server, 'POST', `/devices/${foreign}/enrollment-token`, undefined, district), OUT);
  t.match(await api(server, 'POST', `/devices/${foreign}/revoke`, undefined, district), OUT);
  t.equal((await server.db.device.findUniqueOrThrow({ where: { code: foreign } })).revokedAt, null, 'still not revoked');
  matchExact(t, await api(server, 'POST', '/devices/provision', { unit: '00001' }, district), {
    status: 200,
    body: { created: [{ station: 'HN-00001' }] },
  });
  t.match(await api(server, 'POST', '/devices/HN-00001/revoke', undefined, district), { status: 204 }, 'its own gateway');
});

t.test('a scoped administrator changes the tree and users within its unit only', async (t) => {
  t.match(await api(server, 'PUT', '/units/016/policy', { maxSessionsPerDay: 2 }, adminBaDinh), OUT);
  t.match(await api(server, 'PUT', '/units/00001/policy', { maxSessionsPerDay: 3 }, adminBaDinh), { status: 200 });
  t.match(await api(server, 'PATCH', '/units/016', { name: 'Sóc Sơn mới' }, adminBaDinh), OUT);
  t.match(await api(server, 'POST', '/units/merge', { sources: ['00001', '00376'], into: { code: '00001' } }, adminBaDinh), OUT);
  t.match(
    await api(server, 'POST', '/units/merge', { sources: ['00001'], into: { code: 'NEW-1', name: 'Mới' } }, adminBaDinh),
    OUT,
    'a new root',
  );
  t.match(await api(server, 'POST', '/units/import', { units: [] }, adminBaDinh), OUT, 'imports are for a whole-tree administrator');
  t.equal((await server.db.unit.findUniqueOrThrow({ where: { code: '016' } })).policy, null, 'Sóc Sơn untouched');
  t.match(await api(server, 'PUT', '/units/001/policy', {}, district), ROLE, 'operators do not set policy');
  const user = { password: 'a-long-password-1', role: 'auditor' };
  t.match(await api(server, 'POST', '/users', { ...user, username: 'aud.socson', unit: '016' }, adminBaDinh), OUT);
  t.match(
    await api(server, 'POST', '/users', { ...user, username: 'aud.badinh2' }, adminBaDinh),
    { status: 201, body: { unit: '001' } },
    "without a unit the new user gets the creator's, never the whole tree",
  );
  t.match(await api(server, 'POST', '/users', { ...user, username: 'aud.x' }, district), ROLE);
});

t.test('library items belong to the uploader’s unit and are seen and changed by scope', async (t) => {
  const mine = await upload(server, tone('phucxa.wav', 500), { auth: bearer(editorPhucXa) });
  t.match(mine, { status: 201, body: { unitCode: '00001' } }, 'owned by the uploader’s commune');
  const id = mine.body.id as string;
  const UNKNOWN = { status: 404, body: { error: { code: 'UNKNOWN_MEDIA' } } };
  t.match(await api(server, 'GET', `/media/${id}`, undefined, editorTrucBach), UNKNOWN, 'another commune does not see it');
  t.match(await api(server, 'GET', `/media/${id}/history`, undefined, editorTrucBach), UNKNOWN);
  t.match(await api(server, 'PATCH', `/media/${id}`, { title: 'x' }, editorTrucBach), UNKNOWN);
  t.match(await api(server, 'POST', `/media/${id}/submit`, undefined, editorTrucBach), UNKNOWN);
  const listed = await api(server, 'GET', '/media?limit=500', undefined, editorTrucBach);
  t.notOk(
    (listed.body.items as { id: string }[]).some((m) => m.id === id),
    'nor lists it',
  );
  t.match(await api(server, 'GET', `/media/${id}`, undefined, district), { status: 200 }, 'its district does');
  t.match(await api(server, 'PATCH', `/media/${id}`, { unitCode: '016' }, editorPhucXa), OUT, 'cannot hand it out of scope');
  t.match(await api(server, 'PATCH', `/media/${id}`, { unitCode: null }, editorPhucXa), OUT, 'nor to the province');
  t.match(await api(server, 'POST', `/media/${id}/submit`, undefined, editorPhucXa), { status: 200 });
  t.match(await api(server, 'POST', `/media/${id}/approve`, undefined, approverSocSon), UNKNOWN, "another district's approver");
  t.match(await api(server, 'POST', `/media/${id}/approve`, undefined, approverBaDinh), { status: 200, body: { status: 'approved' } });

  const province = await upload(server, tone('province.wav', 700));
  t.match(province, { status: 201, body: { unitCode: null } }, "a whole-tree user's upload is the province's");
  t.match(await api(server, 'GET', `/media/${province.body.id}`, undefined, editorTrucBach), { status: 200 }, 'seen by every commune');
  t.match(await api(server, 'PATCH', `/media/${province.body.id}`, { title: 'x' }, editorTrucBach), OUT, 'changed by none');
  t.match(await upload(server, tone('auditor.wav', 900), { auth: bearer(auditor) }), ROLE, 'an auditor does not upload');

  const job = await api(
    server,
    'GET',
    `/jobs/${(await server.db.job.findFirstOrThrow({ where: { mediaId: id } })).id}`,
    undefined,
    editorTrucBach,
  );
  t.match(job, { status: 404, body: { error: { code: 'UNKNOWN_JOB' } } }, "another user's upload job");

  const at = new Date(Date.now() + 3600_000).toISOString();
  const trucBachOperator = await signedInAs(server, 'commune.trucbach', 'commune_operator', '00004');
  t.match(
    await api(server, 'POST', '/schedules', { mediaId: id, startsAt: at, stations: ['HN-00004'] }, trucBachOperator),
    UNKNOWN,
    "a commune cannot air another commune's bulletin",
  );
  const own = await api(server, 'POST', '/schedules', { mediaId: id, startsAt: at, stations: ['HN-00001'] }, commune);
  t.equal(own.status, 201);
  t.match(await api(server, 'GET', `/schedules/${own.body.id}`, undefined, trucBachOperator), OUT, 'nor read a schedule airing elsewhere');
  const wide = await api(server, 'POST', '/schedules', { mediaId: id, startsAt: at, targets: { units: ['001'] } }, district);
  const seen = await api(server, 'GET', `/schedules/${wide.body.id}`, undefined, commune);
  t.same(
    [...new Set((seen.body.occurrences as { station: string }[]).map((o) => o.station))],
    ['HN-00001'],
    "a district schedule shows a commune its own station's airings only",
  );

  const UNKNOWN_PL = { status: 404, body: { error: { code: 'UNKNOWN_PLAYLIST' } } };
  t.match(
    await api(server, 'POST', '/playlists', { title: 'x', items: [{ mediaId: id }] }, editorTrucBach),
    UNKNOWN,
    'no playlist of unseen items',
  );
  const playlist = await api(server, 'POST', '/playlists', { title: 'Phúc Xá', items: [{ mediaId: id }] }, editorPhucXa);
  t.equal(playlist.status, 201);
  t.match(await api(server, 'GET', `/playlists/${playlist.body.id}`, undefined, editorTrucBach), UNKNOWN_PL);
  t.match(await api(server, 'PUT', `/playlists/${playlist.body.id}/items`, [{ mediaId: province.body.id }], editorTrucBach), UNKNOWN_PL);
  const lists = await api(server, 'GET', '/playlists', undefined, editorTrucBach);
  t.same(lists.body.items, [], 'its list is empty');
  t.match(await api(server, 'GET', `/playlists/${playlist.body.id}`, undefined, district), { status: 200 });
  t.match(await api(server, 'POST', '/playlists', { title: 'y', items: [{ mediaId: id }] }, auditor), ROLE);
});

t.test('occurrences and deliveries lists hold the own stations only', async (t) => {
  const occ = await api(server, 'GET', '/occurrences?limit=1000', undefined, commune);
  t.ok((occ.body.items as unknown[]).length > 0);
  t.ok((occ.body.items as { station: string }[]).every((o) => o.station === 'HN-00001'));
  const deliveries = await api(server, 'GET', '/deliveries?limit=1000', undefined, commune);
  t.ok((deliveries.body.items as { station: string }[]).every((d) => d.station === 'HN-00001'));
  const someOther = await server.db.occurrence.findFirstOrThrow({ where: { station: { code: { not: 'HN-00001' } } } });
  t.match(await api(server, 'GET', `/occurrences/${someOther.id}`, undefined, commune), OUT);
});

t.test("an approver's queue (reach=edit) holds what the approver may approve: their units' items, not the province's", async (t) => {
  const phucXa = await upload(server, tone('queue-phucxa.wav', 1100), { auth: bearer(editorPhucXa) });
  const province = await upload(server, tone('queue-province.wav', 1300));
  for (const [item, auth] of [
    [phucXa, editorPhucXa],
    [province, server.token],
  ] as const)
    t.match(await api(server, 'POST', `/media/${item.body.id}/submit`, undefined, auth), { status: 200 });
  const ids = async (token: string, reach: string) =>
    ((await api(server, 'GET', `/media?status=submitted&reach=${reach}&limit=500`, undefined, token)).body.items as { id: string }[]).map(
      (m) => m.id,
    );
  const seen = await ids(approverBaDinh, 'use');
  t.ok(seen.includes(phucXa.body.id as string) && seen.includes(province.body.id as string), 'both are in sight');
  const queue = await ids(approverBaDinh, 'edit');
  t.ok(queue.includes(phucXa.body.id as string), 'its commune’s item is in the queue');
  t.notOk(queue.includes(province.body.id as string), 'the province’s item is not (it could not approve it)');
  t.notOk((await ids(approverSocSon, 'edit')).includes(phucXa.body.id as string), "nor another district's");
  t.ok((await ids(server.token, 'edit')).includes(province.body.id as string), 'a whole-tree approver has everything');
});
