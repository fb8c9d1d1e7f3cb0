// Roles scoped to a unit subtree: each denial the issue names, answered 403 before anything is written.
// Ba Đình (001) holds Phúc Xá (00001, station HN-00001) and Trúc Bạch (00004, HN-00004); Sóc Sơn (016) is elsewhere.
import { join } from 'node:path';
import t from 'tap';
import { makeTone } from '../helpers/audio.ts';
import { api, signedInAs, startTestServer, uploadApproved } from '../helpers/server.ts';

const server = await startTestServer();
t.teardown(() => server.stop());
const call = (method: string, path: string, body: object | undefined, token: string) => api(server, method, path, body, token);
const userWith = (username: string, role: string, unit?: string) => signedInAs(server, username, role, unit);
const commune = await userWith('commune.phucxa', 'commune_operator', '00001');
const district = await userWith('district.badinh', 'district_operator', '001');
const auditor = await userWith('auditor.badinh', 'auditor', '001');
const editor = await userWith('editor.badinh', 'editor', '001');
const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'scope.wav'), { seconds: 1 }));
const at = new Date(Date.now() + 3600_000).toISOString();
const schedule = (token: string, target: object, path = '/schedules') =>
  call('POST', path, { mediaId: media.id, startsAt: at, ...target }, token);
const OUT = { status: 403, body: { error: { code: 'OUT_OF_SCOPE' } } };
const ROLE = { status: 403, body: { error: { code: 'FORBIDDEN' } } };

t.test('a commune operator schedules its own station only', async (t) => {
  const before = await server.db.schedule.count();
  t.equal((await schedule(commune, { stations: ['HN-00001'] })).status, 201);
  t.match(await schedule(commune, { stations: ['HN-00004'] }), OUT, "another commune's station");
  t.match(await schedule(commune, { stations: ['HN-00001', 'HN-00004'] }), OUT, 'one foreign station refuses the whole schedule');
  t.match(await schedule(commune, { targets: { units: ['001'] } }), OUT, 'its whole district');
  t.match(await schedule(commune, { stations: ['HN-00004'] }, '/schedules/preview'), OUT, 'not even a preview');
  t.equal(await server.db.schedule.count(), before + 1, 'nothing written by the refusals');
});

t.test("a district operator schedules within its district, not another district's", async (t) => {
  t.equal((await schedule(district, { targets: { units: ['001'] } })).status, 201);
  t.match(await schedule(district, { stations: ['HN-00376'] }), OUT);
  t.match(await schedule(district, { targets: { units: ['016'] } }), OUT);
});

t.test('roles without the capability are refused whatever the place', async (t) => {
  t.match(await schedule(auditor, { stations: ['HN-00001'] }), ROLE, 'an auditor reads, never schedules');
  t.match(await schedule(editor, { stations: ['HN-00001'] }), ROLE, 'an editor writes bulletins, never schedules');
  t.match(await call('POST', '/stations/HN-00001/commands', { action: 'self-test' }, editor), ROLE);
  t.match(await call('POST', '/stations/HN-00001/commands', { action: 'self-test' }, auditor), ROLE);
});

t.test("a command to another commune's gateway is refused before it is looked at", async (t) => {
  t.match(await call('POST', '/stations/HN-00004/commands', { action: 'stop' }, commune), OUT);
  t.match(
    await call('POST', '/stations/HN-00001/commands', { action: 'stop' }, commune),
    {
      status: 409,
      body: { error: { code: 'DEVICE_NOT_ENROLLED' } },
    },
    'its own station gets past the scope check (no gateway enrolled there)',
  );
  t.match(await call('POST', '/stations/HN-99999/commands', { action: 'stop' }, commune), { status: 404 });
});

t.test('reports, the as-run log, health, alerts and proofs of another district cannot be read', async (t) => {
  const range = `from=${encodeURIComponent(new Date(Date.now() - 86_400_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 86_400_000).toISOString())}`;
  t.match(await call('GET', `/compliance/report?${range}&unit=016`, undefined, district), OUT);
  t.match(await call('GET', `/compliance/report?${range}&unit=01`, undefined, auditor), OUT, 'nor the whole city');
  t.match(await call('GET', `/as-run?${range}&station=HN-00376`, undefined, auditor), OUT);
  t.match(await call('GET', '/stations/HN-00376/health', undefined, commune), OUT);
  t.match(await call('GET', '/alerts?unit=016', undefined, district), OUT);
  t.match(await call('GET', '/stations/HN-00376/proofs/2026-11-22/verify', undefined, auditor), OUT);
  const own = await call('GET', `/compliance/report?${range}`, undefined, auditor);
  t.match(own, { status: 200, body: { unit: '001' } }, 'without a unit the report covers the reader’s own');
  t.match(await call('GET', `/compliance/report?${range}&unit=00001`, undefined, auditor), { status: 200, body: { unit: '00001' } });
  const log = await call('GET', `/as-run?${range}`, undefined, commune);
  t.same(
    (log.body.items as { station: string }[]).map((i) => i.station),
    ['HN-00001', 'HN-00001'],
    "its own station's airings only (its schedule and the district's), none of Trúc Bạch's",
  );
  t.match(
    await call('GET', `/compliance/report?${range}&unit=01`, undefined, server.token),
    { status: 200 },
    'a whole-tree administrator reads all',
  );
});

t.test('a user scoped to an unknown unit cannot be created', async (t) => {
  t.match(
    await call('POST', '/users', { username: 'nobody.x', password: 'a-long-password-1', role: 'auditor', unit: 'nope' }, server.token),
    {
      status: 404,
      body: { error: { code: 'UNKNOWN_UNIT' } },
    },
  );
  t.match(await call('POST', '/users', { username: 'sneaky.x', password: 'a-long-password-1', role: 'province_admin' }, district), ROLE);
});
