// The audit log: an operator flow leaves one entry per state-changing request, with who, what, from
// where and the outcome; secrets never stored; the table refuses edits; auditors read it, others cannot.
import { join } from 'node:path';
import t from 'tap';
import { makeTone } from '../helpers/audio.ts';
import { matchExact } from '../helpers/match.ts';
import { provisionDevice, scheduleItem, startTestServer, TEST_APPROVER, uploadApproved } from '../helpers/server.ts';

const server = await startTestServer();
t.teardown(() => server.stop());
const get = async (path: string, token = server.token) => {
  const res = await fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
};
type Entry = { action: string; username: string | null; status: number; ip: string; request: string | null; response: string | null };
const entries = async (query = '') => (JSON.parse((await get(`/audit?limit=5000${query}`)).text) as { items: Entry[] }).items;

t.test('upload, submit, approve and schedule each leave an entry: who, what, from where, the outcome', async (t) => {
  const before = (await entries()).length;
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'audit.wav'), { seconds: 1 }));
  await scheduleItem(server, media.id, 'HN-00001', Date.now() + 3600_000);
  const all = (await entries()).slice(before);
  t.equal(all[0]?.action, 'GET /api/v1/audit', 'reading the log is itself on record');
  const flow = all.filter((e) => e.action !== 'GET /api/v1/audit');
  // The approval is another person's (the helper creates an approver and signs in as them).
  t.same(
    flow.map((e) => `${e.username ?? '-'} ${e.action} ${e.status}`),
    [
      'admin POST /api/v1/media 201',
      'admin POST /api/v1/media/:id/:action 200',
      'admin POST /api/v1/users 201',
      'approver.test POST /api/v1/auth/login 200',
      `${TEST_APPROVER.username} POST /api/v1/media/:id/:action 200`,
      'admin POST /api/v1/schedules 201',
    ],
  );
  t.same(
    flow.filter((e) => e.action.includes(':action')).map((e) => JSON.parse((e as Entry & { params: string }).params).action),
    ['submit', 'approve'],
  );
  for (const e of flow) t.match(e.ip, /127\.0\.0\.1/);
  const scheduled = flow.at(-1);
  matchExact(t, JSON.parse(scheduled?.request ?? '{}'), { mediaId: media.id, stations: ['HN-00001'] }, 'what was asked');
  matchExact(t, JSON.parse(scheduled?.response ?? '{}'), { occurrences: [{ station: 'HN-00001' }] }, 'what came of it');
  t.match(JSON.parse(flow[1]?.response ?? '{}'), { status: 'submitted' });
});

t.test('changes record what they changed: before and after', async (t) => {
  const patch = (path: string, method: string, body: object) =>
    fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: { ...server.auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  t.equal((await patch('/stations/HN-00007', 'PATCH', { address: '12 Hàng Bông', speakerPoints: 24 })).status, 200);
  t.equal((await patch('/units/016/policy', 'PUT', { maxSessionsPerDay: 2 })).status, 200);
  t.equal((await patch('/units/016/policy', 'PUT', { maxSessionsPerDay: 3 })).status, 200);
  const rows = (await entries()).filter((e) => /stations\/:code|policy/.test(e.action)).slice(-3) as (Entry & {
    before: string;
    after: string;
  })[];
  t.same(
    rows.map((e) => [JSON.parse(e.before), JSON.parse(e.after)]),
    [
      [
        { address: null, speakerPoints: null },
        { address: '12 Hàng Bông', speakerPoints: 24 },
      ],
      [{}, { maxSessionsPerDay: 2 }],
      [{ maxSessionsPerDay: 2 }, { maxSessionsPerDay: 3 }],
    ],
  );
});

t.test('secrets never reach the log: passwords, session tokens, enrollment tokens, MQTT secrets', async (t) => {
  await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'wrong-password-zz' }),
  });
  await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'correct-horse-battery' }),
  });
  const token = await provisionDevice(server, 'HN-00004');
  const all = await get('/audit?limit=5000');
  t.notMatch(all.text, 'wrong-password-zz');
  t.notMatch(all.text, token);
  t.notMatch(all.text, server.token);
  const login = (await entries('&route=auth/login')).at(-1);
  t.match(login, { status: 200, username: 'admin' }, 'a good login is on record under who signed in');
  t.match(JSON.parse(login?.request ?? '{}'), { username: 'admin', password: '[redacted]' }, 'without its password');
});

t.test('the log is append-only in the database itself', async (t) => {
  await t.rejects(server.db.auditEvent.updateMany({ data: { status: 200 } }), /append-only/);
  await t.rejects(server.db.auditEvent.deleteMany({}), /append-only/);
});

t.test('auditors read and export it; an operator cannot', async (t) => {
  const create = (username: string, role: string) =>
    fetch(`${server.url}/api/v1/users`, {
      method: 'POST',
      headers: { ...server.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: 'a-long-password-1', role }),
    });
  const login = async (username: string) =>
    (
      (await (
        await fetch(`${server.url}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username, password: 'a-long-password-1' }),
        })
      ).json()) as { token: string }
    ).token;
  await create('auditor.audit', 'auditor');
  await create('operator.audit', 'commune_operator');
  const csv = await get('/audit?format=csv&route=schedules', await login('auditor.audit'));
  t.equal(csv.status, 200);
  t.match(csv.type, /text\/csv/);
  t.match(csv.text, /POST \/api\/v1\/schedules/);
  t.match(await get('/audit', await login('operator.audit')), { status: 403 });
});
