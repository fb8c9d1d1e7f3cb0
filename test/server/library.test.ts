// The library workflow and its rules, through the API.
import { join } from 'node:path';
import t from 'tap';
import { makeSignal, makeTone } from '../helpers/audio.ts';
import { matchExact } from '../helpers/match.ts';
import { approverAuth, startTestServer, upload } from '../helpers/server.ts';

const server = await startTestServer();
t.teardown(() => server.stop());
const json = { 'content-type': 'application/json' };
const call = async (method: string, path: string, body?: unknown, auth = server.auth) => {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { ...auth, ...(body ? json : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
};
const approver = await approverAuth(server);
await call('POST', '/users', { username: 'editor.test', password: 'editor-password-1', role: 'editor' });
const editorLogin = await call('POST', '/auth/login', { username: 'editor.test', password: 'editor-password-1' });
const editor = { authorization: `Bearer ${editorLogin.body.token}` };
let n = 0;
const newItem = async () =>
  (await upload(server, makeTone(join(server.dataDir, `lib-${n++}.wav`), { seconds: 1, frequency: 300 + n * 50 }))).body;
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();

t.test('an upload starts as a draft and cannot be scheduled', async (t) => {
  const item = await newItem();
  t.equal(item.status, 'draft');
  const r = await call('POST', '/schedules', { mediaId: item.id, stations: ['HN-00001'], startsAt: inAnHour() });
  t.match(r, { status: 409, body: { error: { code: 'MEDIA_NOT_APPROVED' } } });
});

t.test('draft → submitted → rejected (with reason) → edited → submitted → approved, never by the author', async (t) => {
  const item = await newItem();
  const id = item.id as string;
  matchExact(
    t,
    await call('PATCH', `/media/${id}`, { title: 'Phòng chống bão số 3', category: 'emergency', tags: ['bão', 'khẩn'], unitCode: '001' }),
    {
      status: 200,
      body: { title: 'Phòng chống bão số 3', category: 'emergency', tags: ['bão', 'khẩn'], unitCode: '001' },
    },
  );
  t.match(
    await call('POST', `/media/${id}/approve`, undefined, approver),
    { status: 409, body: { error: { code: 'INVALID_TRANSITION' } } },
    'a draft cannot be approved',
  );
  t.match(await call('POST', `/media/${id}/submit`), { status: 200, body: { status: 'submitted' } });
  t.match(
    await call('PATCH', `/media/${id}`, { title: 'x' }),
    { status: 409, body: { error: { code: 'NOT_EDITABLE' } } },
    'submitted items are frozen',
  );
  t.match(
    await call('POST', `/media/${id}/approve`),
    { status: 403, body: { error: { code: 'SELF_APPROVAL' } } },
    'the author cannot approve',
  );
  t.match(
    await call('POST', `/media/${id}/approve`, undefined, editor),
    { status: 403, body: { error: { code: 'NOT_APPROVER' } } },
    'an editor cannot approve',
  );
  t.match(await call('POST', `/media/${id}/reject`, {}, approver), { status: 400, body: { error: { code: 'REASON_REQUIRED' } } });
  t.match(await call('POST', `/media/${id}/reject`, { reason: 'Sai số điện thoại đường dây nóng' }, approver), {
    status: 200,
    body: { status: 'rejected', statusReason: 'Sai số điện thoại đường dây nóng' },
  });
  t.match(
    await call('PATCH', `/media/${id}`, { description: 'Đã sửa số đường dây nóng' }),
    { status: 200 },
    'a rejected item can be fixed',
  );
  t.match(await call('POST', `/media/${id}/submit`), { status: 200, body: { status: 'submitted' } });
  t.match(await call('POST', `/media/${id}/approve`, {}, approver), { status: 200, body: { status: 'approved', statusReason: null } });
  t.match(await call('POST', `/media/${id}/approve`, {}, approver), { status: 409, body: { error: { code: 'INVALID_TRANSITION' } } });
  const history = await fetch(`${server.url}/api/v1/media/${id}/history`, { headers: server.auth }).then(
    (r) => r.json() as Promise<{ from: string; to: string; by: string; at: string; reason: string | null }[]>,
  );
  t.same(
    history.map((h) => [h.from, h.to, h.by]),
    [
      ['draft', 'submitted', 'admin'],
      ['submitted', 'rejected', 'approver.test'],
      ['rejected', 'submitted', 'admin'],
      ['submitted', 'approved', 'approver.test'],
    ],
  );
  t.ok(
    history.every((h) => !Number.isNaN(Date.parse(h.at))),
    'each step has its instant',
  );
  t.match(
    await call('POST', '/schedules', { mediaId: id, stations: ['HN-00001'], startsAt: inAnHour() }),
    { status: 201 },
    'approved: schedulable',
  );
});

t.test('search finds Vietnamese text with or without diacritics, and filters', async (t) => {
  const search = async (qs: string) => (await call('GET', `/media?${qs}`)).body as { total: number; items: { title: string }[] };
  for (const q of ['phong chong bao', 'phòng chống bão', 'PHONG CHONG', 'khan']) {
    const r = await search(`q=${encodeURIComponent(q)}`);
    t.equal(r.total, 1, `"${q}"`);
    t.equal(r.items[0]?.title, 'Phòng chống bão số 3');
  }
  t.equal((await search('q=phong%20chong%20lut')).total, 0, 'every word must match');
  t.equal((await search('status=approved&category=emergency&unit=001')).total, 1);
  t.equal((await search('status=approved&category=music')).total, 0);
  t.ok((await search('status=draft')).total >= 1);
});

t.test('the validity window decides when an item may air; an expired item cannot be scheduled', async (t) => {
  const item = await newItem();
  const id = item.id as string;
  const from = new Date(Date.now() + 2 * 3600_000);
  const until = new Date(Date.now() + 5 * 3600_000);
  t.match(await call('PATCH', `/media/${id}`, { validFrom: until.toISOString(), validUntil: from.toISOString() }), {
    status: 400,
    body: { error: { code: 'INVALID_VALIDITY' } },
  });
  await call('PATCH', `/media/${id}`, { validFrom: from.toISOString(), validUntil: until.toISOString() });
  await call('POST', `/media/${id}/submit`);
  await call('POST', `/media/${id}/approve`, {}, approver);
  const at = (ms: number) => new Date(Date.now() + ms).toISOString();
  t.match(await call('POST', '/schedules', { mediaId: id, stations: ['HN-00001'], startsAt: at(3600_000) }), {
    status: 409,
    body: { error: { code: 'MEDIA_NOT_VALID', message: /valid from/ } },
  });
  t.match(await call('POST', '/schedules', { mediaId: id, stations: ['HN-00001'], startsAt: at(6 * 3600_000) }), {
    status: 409,
    body: { error: { code: 'MEDIA_NOT_VALID', message: /valid until/ } },
  });
  const ok = await call('POST', '/schedules', { mediaId: id, stations: ['HN-00004'], startsAt: at(3 * 3600_000) });
  t.equal(ok.status, 201);
  const station = await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00004' } });
  const [{ manifest }] = await server.dispatch.compile(station.id);
  t.equal(manifest.entries[0]?.validUntil, until.toISOString(), 'the gateway is told when the item expires');
});

t.test('archiving an approved item withdraws it from every station plan', async (t) => {
  const item = await newItem();
  const id = item.id as string;
  await call('POST', `/media/${id}/submit`);
  await call('POST', `/media/${id}/approve`, {}, approver);
  await call('POST', '/schedules', { mediaId: id, stations: ['HN-00007'], startsAt: inAnHour() });
  const station = await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00007' } });
  t.ok((await server.dispatch.compile(station.id))[0].manifest.entries.some((e) => e.media.sha256 === item.sha256));
  const versionBefore = (await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00007' } })).manifestVersion;
  t.match(await call('POST', `/media/${id}/archive`), { status: 200, body: { status: 'archived' } });
  const after = await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00007' } });
  t.ok(after.manifestVersion > versionBefore, 'a new manifest was published at once');
  t.notOk(
    (await server.dispatch.compile(station.id))[0].manifest.entries.some((e) => e.media.sha256 === item.sha256),
    'and it no longer carries the item',
  );
});

t.test('only a province administrator creates users', async (t) => {
  t.match(await call('POST', '/users', { username: 'someone', password: 'long-enough-pass', role: 'editor' }, editor), {
    status: 403,
    body: { error: { code: 'FORBIDDEN' } },
  });
  t.match(await call('POST', '/users', { username: 'editor.test', password: 'long-enough-pass', role: 'editor' }), {
    status: 409,
    body: { error: { code: 'USERNAME_TAKEN' } },
  });
});

t.test('an item has a level strip: loud, quiet and loud again where the audio is; older items get theirs on request', async (t) => {
  // 3 s of a 440 Hz tone, 40 dB down in the middle second.
  const file = makeSignal(join(server.dataDir, 'levels.wav'), 'if(between(t\\,1\\,2)\\,0.005\\,0.5)*sin(2*PI*440*t)', 3);
  const item = (await upload(server, file)).body;
  const r = await call('GET', `/media/${item.id}/levels`);
  t.equal(r.status, 200);
  const { sliceMs, rmsDbfs, peakDbfs } = r.body as { sliceMs: number; rmsDbfs: number[]; peakDbfs: number[] };
  t.equal(sliceMs, 100, 'a 3 s item in 100 ms slices');
  t.equal(rmsDbfs.length, 30);
  t.equal(peakDbfs.length, 30);
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const loud = mean([...rmsDbfs.slice(2, 9), ...rmsDbfs.slice(22, 29)]);
  const quiet = mean(rmsDbfs.slice(12, 19));
  t.ok(loud - quiet > 30, `loud parts at ${loud.toFixed(1)} dBFS, the quiet one at ${quiet.toFixed(1)} dBFS`);
  t.ok(
    peakDbfs.every((p, i) => p >= rmsDbfs[i]),
    'peaks are at or above the RMS',
  );

  // An item stored before strips existed is measured on its first request, then kept.
  await server.db.media.update({ where: { id: item.id as string }, data: { levels: null } });
  t.same((await call('GET', `/media/${item.id}/levels`)).body, r.body);
  t.ok((await server.db.media.findUniqueOrThrow({ where: { id: item.id as string } })).levels, 'stored again');
  t.match(await call('GET', '/media/nope/levels'), { status: 404, body: { error: { code: 'UNKNOWN_MEDIA' } } });
  // The strip is not part of item lists (they stay small).
  const list = await call('GET', '/media?limit=5');
  t.notOk('levels' in (list.body.items as object[])[0]);
});
