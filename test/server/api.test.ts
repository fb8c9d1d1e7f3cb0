// The HTTP API against the real server: real SQLite, real ffmpeg, real broker.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import t from 'tap';
import { publicKeyHex, reportTopic } from '#protocol';
import { type Runner, spawnRunner } from '../../server/media/process-runner.ts';
import { makeSilence, makeTone } from '../helpers/audio.ts';
import { matchExact } from '../helpers/match.ts';
import { deviceClient, onPostgres, provisionDevice, startTestServer, upload, uploadApproved } from '../helpers/server.ts';

const server = await startTestServer();
t.teardown(() => server.stop());
const api = (path: string, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, { ...init, headers: { ...server.auth, ...init.headers } });
const post = (path: string, body: unknown) =>
  api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const tmpFiles = () => ['tmp', 'uploads'].flatMap((d) => (existsSync(join(server.dataDir, d)) ? readdirSync(join(server.dataDir, d)) : []));

t.test('first start seeds Hanoi: 30 districts, 579 communes, one station each', async (t) => {
  t.same(server.seed, {
    seeded: true,
    units: 610,
    stations: 579,
    admin: { username: 'admin', password: 'correct-horse-battery', passwordFile: join(server.dataDir, 'first-admin-password.txt') },
  });
  t.equal(statSync(join(server.dataDir, 'first-admin-password.txt')).mode & 0o777, 0o600, 'the password file is for the server user only');
  const districts = (await (await api('/api/v1/units?parent=01&limit=1000')).json()) as { total: number };
  t.equal(districts.total, 30);
  const stations = (await (await api('/api/v1/stations?limit=1')).json()) as { total: number };
  t.equal(stations.total, 579);
  const baDinh = (await (await api('/api/v1/stations?unit=001&limit=1000')).json()) as { total: number; items: { code: string }[] };
  t.equal(baDinh.total, 14, 'Quận Ba Đình has 14 wards');
  t.ok(baDinh.items.every((s) => s.code.startsWith('HN-')));
});

t.test('the API refuses requests without a valid token', async (t) => {
  const res = await fetch(`${server.url}/api/v1/stations`);
  t.equal(res.status, 401);
  t.match(await res.json(), { error: { code: 'UNAUTHORIZED' } });
  const bad = await fetch(`${server.url}/api/v1/stations`, { headers: { authorization: 'Bearer nope' } });
  t.equal(bad.status, 401);
  const login = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'wrong-password' }),
  });
  t.equal(login.status, 401);
  t.match(await login.json(), { error: { code: 'BAD_CREDENTIALS' } });
});

t.test('WAV, MP3 and OGG uploads become mono 48 kHz Opus stored by sha256', async (t) => {
  for (const ext of ['wav', 'mp3', 'ogg']) {
    const file = makeTone(join(server.dataDir, `tone.${ext}`), { seconds: 1, frequency: ext === 'wav' ? 300 : ext === 'mp3' ? 500 : 700 });
    const { status, body } = await upload(server, file);
    t.equal(status, 201, `${ext} accepted`);
    matchExact(t, body, { codec: 'opus', sampleRate: 48000, channels: 1, sha256: /^[0-9a-f]{64}$/ });
    t.ok(existsSync(join(server.dataDir, 'blobs', `${body.sha256}.ogg`)), `${ext} stored under its hash`);
  }
  t.same(tmpFiles(), [], 'no temporary files left behind');
});

t.test('uploading the same audio twice returns the existing item', async (t) => {
  const file = makeTone(join(server.dataDir, 'twice.wav'), { seconds: 1, frequency: 900 });
  const first = await upload(server, file);
  const second = await upload(server, file);
  t.equal(first.status, 201);
  t.equal(second.status, 200);
  t.equal(second.body.id, first.body.id);
});

t.test('bad uploads get a stable error code and leave no file and no row', async (t) => {
  const before = (await (await api('/api/v1/media')).json()) as { total: number };
  const blobsBefore = readdirSync(join(server.dataDir, 'blobs')).length;

  const text = join(server.dataDir, 'notes.mp3');
  writeFileSync(text, 'this is not audio at all, just a text file named like one\n'.repeat(50));
  const notAudio = await upload(server, text);
  t.equal(notAudio.status, 400);
  t.equal(notAudio.body.error?.code, 'NOT_AUDIO');

  const png = join(server.dataDir, 'picture.wav');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=red:s=32x32:d=1', '-frames:v', '1', '-f', 'image2', png]);
  const image = await upload(server, png);
  t.equal(image.status, 400, 'an image named .wav is rejected');
  t.equal(image.body.error?.code, 'NOT_AUDIO');

  const empty = join(server.dataDir, 'empty.wav');
  writeFileSync(empty, '');
  t.equal((await upload(server, empty)).body.error?.code, 'NOT_AUDIO');

  const res = await api('/api/v1/media', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  t.equal(res.status, 400);
  t.match(await res.json(), { error: { code: 'NOT_MULTIPART' } });

  const after = (await (await api('/api/v1/media')).json()) as { total: number };
  t.equal(after.total, before.total, 'no media row was written');
  t.equal(readdirSync(join(server.dataDir, 'blobs')).length, blobsBefore, 'no blob was written');
  t.same(tmpFiles(), [], 'no temporary files left behind');
});

t.test('an upload over the size limit is refused with 413 and leaves nothing', async (t) => {
  const small = await startTestServer({ env: { LP_MAX_UPLOAD_BYTES: '20000' } });
  t.teardown(() => small.stop());
  const big = makeTone(join(small.dataDir, 'big.wav'), { seconds: 2 });
  const r = await upload(small, big);
  t.equal(r.status, 413);
  t.equal(r.body.error?.code, 'TOO_LARGE');
  t.same(readdirSync(join(small.dataDir, 'blobs')), []);
  t.same(readdirSync(join(small.dataDir, 'tmp')), []);
  t.same(readdirSync(join(small.dataDir, 'uploads')), []);
});

t.test('audio longer than the configured maximum is refused', async (t) => {
  const short = await startTestServer({ env: { LP_MAX_DURATION_S: '1' } });
  t.teardown(() => short.stop());
  const r = await upload(short, makeSilence(join(short.dataDir, 'long.wav'), 3));
  t.equal(r.status, 400);
  t.equal(r.body.error?.code, 'TOO_LONG');
});

t.test('schedules are validated before anything is written', async (t) => {
  const file = makeTone(join(server.dataDir, 'sched.wav'), { seconds: 1, frequency: 1200 });
  const { body: media } = await uploadApproved(server, file);
  const future = new Date(Date.now() + 3600_000).toISOString();
  const unknown = await post('/api/v1/schedules', { mediaId: media.id, stations: ['HN-00001', 'HN-99999'], startsAt: future });
  t.equal(unknown.status, 404);
  t.match(await unknown.json(), { error: { code: 'UNKNOWN_STATION', message: /HN-99999/ } });
  const past = await post('/api/v1/schedules', { mediaId: media.id, stations: ['HN-00001'], startsAt: '2020-01-01T00:00:00+07:00' });
  t.match(await past.json(), { error: { code: 'SCHEDULE_IN_PAST' } });
  const noMedia = await post('/api/v1/schedules', { mediaId: 'nope', stations: ['HN-00001'], startsAt: future });
  t.match(await noMedia.json(), { error: { code: 'UNKNOWN_MEDIA' } });
  const badTime = await post('/api/v1/schedules', { mediaId: media.id, stations: ['HN-00001'], startsAt: 'tomorrow at six' });
  t.equal(badTime.status, 400);
  t.match(await badTime.json(), { error: { code: 'VALIDATION_FAILED' } });
  const occurrences = (await (await api('/api/v1/occurrences?station=HN-00001')).json()) as { total: number };
  t.equal(occurrences.total, 0, 'no occurrence was created');

  const ok = await post('/api/v1/schedules', {
    mediaId: media.id,
    stations: ['HN-00001', 'HN-00004'],
    startsAt: '2099-01-01T06:30:00+07:00',
    priority: 'priority',
  });
  t.equal(ok.status, 201);
  const created = (await ok.json()) as { startsAt: string; occurrences: { station: string; status: string }[] };
  t.equal(created.startsAt, '2098-12-31T23:30:00.000Z', 'a Hanoi local time is stored as the UTC instant');
  t.same(created.occurrences.map((o) => o.station).sort(), ['HN-00001', 'HN-00004']);
});

t.test('malformed JSON and oversized bodies get clear errors', async (t) => {
  const broken = await api('/api/v1/schedules', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"mediaId":' });
  t.equal(broken.status, 400);
  const huge = await post('/api/v1/schedules', { mediaId: 'x', stations: ['A'], startsAt: 'x', pad: 'x'.repeat(2 * 1024 * 1024) });
  t.equal(huge.status, 413);
  t.match(await huge.json(), { error: { code: 'TOO_LARGE' } });
  const unknownRoute = await api('/api/v1/nothing-here');
  t.equal(unknownRoute.status, 404);
});

t.test('health reports the database, the broker and ffmpeg', async (t) => {
  const res = await fetch(`${server.url}/health`);
  t.equal(res.status, 200);
  t.match(await res.json(), { status: 'ok', database: { ok: true }, broker: { ok: true }, ffmpeg: { ok: true, detail: /ffmpeg version/ } });
});

t.test('health degrades when ffmpeg is missing', async (t) => {
  const broken = await startTestServer({ env: { LP_FFMPEG: '/nonexistent/ffmpeg' } });
  t.teardown(() => broken.stop());
  const res = await fetch(`${broken.url}/health`);
  t.equal(res.status, 503);
  t.match(await res.json(), { status: 'degraded', ffmpeg: { ok: false } });
});

t.test('health is cheap: ffmpeg is probed once at start, never per call (anyone may call /health)', async (t) => {
  const started: string[] = [];
  const counting: Runner = (command, opts) => {
    started.push(command.cmd);
    return spawnRunner(command, opts);
  };
  const probed = await startTestServer({ run: counting });
  t.teardown(() => probed.stop());
  const atStart = started.length;
  t.ok(atStart >= 1, 'probed at start');
  const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(`${probed.url}/health`).then((r) => r.status)));
  t.same([...new Set(answers)], [200]);
  t.equal(started.length, atStart, '50 calls started no program');
});

t.test('an unexpected failure answers a generic message and the request id, never the internals', async (t) => {
  const failing = await startTestServer();
  t.teardown(() => failing.stop());
  // A real fault under a route: the database's tables are gone from under the server.
  await failing.db.$executeRawUnsafe(`DROP TABLE "Playlist"${onPostgres ? ' CASCADE' : ''}`);
  const res = await fetch(`${failing.url}/api/v1/playlists`, { headers: failing.auth });
  t.equal(res.status, 500);
  const body = (await res.json()) as { error: { code: string; message: string; requestId?: string } };
  t.equal(body.error.code, 'INTERNAL');
  t.equal(body.error.message, 'internal server error');
  t.match(body.error.requestId, /^[0-9a-f-]{36}$/, 'the id to find the cause in the log');
  t.notMatch(JSON.stringify(body), /Playlist|sqlite|\/tmp|no such table/i, 'no table, engine or path in the answer');
});

t.test('metrics are served in the Prometheus text format', async (t) => {
  const res = await fetch(`${server.url}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /text\/plain/);
  const text = await res.text();
  t.match(text, /# TYPE loaphuong_uploads_total counter/);
  t.match(text, /loaphuong_uploads_total\{result="created"\} \d+/);
  t.match(text, /loaphuong_mqtt_clients \d+/);
  matchExact(t, text, /loaphuong_ingest_seconds_count [1-9]\d*/, 'ingest durations are recorded');
});

t.test('OpenAPI is generated from the route schemas; every route has tags', async (t) => {
  const res = await fetch(`${server.url}/docs/json`);
  t.equal(res.status, 200);
  const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { tags?: string[] }>> };
  t.match(doc.openapi, /^3\./);
  for (const path of ['/api/v1/media', '/api/v1/schedules', '/api/v1/occurrences', '/health', '/metrics', '/blobs/{sha256}']) {
    t.ok(doc.paths[path], `${path} documented`);
  }
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) t.ok(op.tags?.length, `${method.toUpperCase()} ${path} has tags`);
  }
  const ui = await fetch(`${server.url}/docs`, { redirect: 'follow' });
  t.equal(ui.status, 200);
});

t.test('audio is served by hash with Range support, cached as immutable ([P-6.1])', async (t) => {
  const { body } = await upload(server, makeTone(join(server.dataDir, 'range.wav'), { seconds: 1, frequency: 1500 }));
  const full = await fetch(`${server.url}/blobs/${body.sha256}`);
  t.equal(full.status, 200);
  t.equal(Number(full.headers.get('content-length')), body.sizeBytes);
  t.equal(full.headers.get('cache-control'), 'public, max-age=31536000, immutable', 'a hash names one content forever');
  await full.arrayBuffer();
  const part = await fetch(`${server.url}/blobs/${body.sha256}`, { headers: { range: 'bytes=10-19' } });
  t.equal(part.status, 206);
  t.equal((await part.arrayBuffer()).byteLength, 10);
  t.equal(part.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  const missing = await fetch(`${server.url}/blobs/${'0'.repeat(64)}`);
  t.equal(missing.status, 404);
  const invalid = await fetch(`${server.url}/blobs/..%2F..%2Fkeys`);
  t.equal(invalid.status, 400);
});

t.test('the console page is Vietnamese first, its script a file of this origin', async (t) => {
  const res = await fetch(`${server.url}/`);
  t.equal(res.status, 200);
  t.equal(res.headers.get('cache-control'), 'no-cache', 'the page is re-read; its hashed files are cached');
  const html = await res.text();
  t.match(html, /lang="vi"/);
  t.match(html, /Truyền thanh cơ sở/);
  const script = html.match(/<script type="module" crossorigin src="(\/assets\/[^"]+\.js)"/)?.[1];
  t.ok(script, 'one module script, by URL (no inline script)');
  const js = await fetch(`${server.url}${script}`);
  t.match(js.headers.get('content-type'), /javascript/);
  t.match(js.headers.get('cache-control'), /immutable/);
});

t.test('the embedded broker also speaks MQTT over WebSocket on the HTTP port', async (t) => {
  const client = await connectAsync(`${server.url.replace(/^http/, 'ws')}/mqtt`, { protocolVersion: 4 });
  t.ok(client.connected);
  await client.endAsync();
});

t.test('a malformed or forged report over MQTT is counted and rejected, never stored', async (t) => {
  const device = generateKeyPairSync('ed25519');
  const token = await provisionDevice(server, 'HN-00001');
  const enroll = (body: object) =>
    fetch(`${server.url}/api/v1/gateway/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const request = { token, publicKeyHex: publicKeyHex(device.publicKey), agentVersion: 'test', protocolVersions: [1] };
  const reg = await enroll(request);
  t.equal(reg.status, 200);
  const enrolled = (await reg.json()) as { mqtt: { password: string } };
  matchExact(t, enrolled, {
    device: 'HN-00001',
    station: 'HN-00001',
    mqtt: { username: 'HN-00001', password: /.{40,}/ },
    groups: ['00001', '001', '01'],
  });
  const again = await enroll({ ...request, publicKeyHex: publicKeyHex(generateKeyPairSync('ed25519').publicKey) });
  t.equal(again.status, 401, 'a spent token cannot enroll another key');
  t.match(await again.json(), { error: { code: 'INVALID_ENROLLMENT_TOKEN' } });
  // The enrolled gateway itself sends garbage on its own report topic: the broker lets it through, the server refuses it.
  const client = await deviceClient(server, 'HN-00001', enrolled.mqtt.password);
  const outcomes: string[] = [];
  const onHandled = (outcome: string, kind: string) => outcomes.push(`${outcome}:${kind}`);
  server.reports.events.on('handled', onHandled);
  for (const payload of ['not json', '{"v":1}', JSON.stringify({ v: 1, type: 'report' })]) {
    await client.publishAsync(reportTopic('HN-00001'), payload, { qos: 1 });
  }
  await client.endAsync();
  while (outcomes.length < 3) await once(server.reports.events, 'handled');
  server.reports.events.off('handled', onHandled);
  t.same(outcomes.sort(), ['rejected:MALFORMED', 'rejected:MALFORMED', 'rejected:MALFORMED']);
  t.equal(await server.db.playbackReport.count(), 0);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /loaphuong_reports_total\{result="MALFORMED"\} 3/);
});

t.test('the gateway time endpoint answers with the server clock for offset measurement', async (t) => {
  const res = await fetch(`${server.url}/api/v1/gateway/time`);
  t.equal(res.status, 200);
  const body = (await res.json()) as { receivedAt: string; sentAt: string };
  t.ok(Date.parse(body.sentAt) >= Date.parse(body.receivedAt));
  t.ok(Math.abs(Date.parse(body.receivedAt) - Date.now()) < 60_000);
});
