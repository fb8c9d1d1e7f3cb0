// Typed bulletins through espeak-ng (real) and through an HTTP TTS service (a local fake).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { espeakCommand, withChimeCommand } from '../../server/media/tts.ts';
import { makeTone } from '../helpers/audio.ts';
import { matchExact } from '../helpers/match.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const TEXT = 'Ủy ban nhân dân phường thông báo: ngày mai, từ bảy giờ sáng, tiêm chủng mở rộng cho trẻ em tại trạm y tế.';
const speak = async (server: TestServer, body: Record<string, unknown>) => {
  const res = await fetch(`${server.url}/api/v1/media/tts`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
};

t.test('the commands are pure data', async (t) => {
  t.same(espeakCommand('espeak-ng', { voice: 'vi', speed: 140, pitch: 40 }, '/t.txt', '/o.wav').args, [
    '-v',
    'vi',
    '-s',
    '140',
    '-p',
    '40',
    '-w',
    '/o.wav',
    '-f',
    '/t.txt',
  ]);
  const c = withChimeCommand('ffmpeg', '/s.wav', '/c.ogg', 'both', '/o.wav').args.join(' ');
  matchExact(t, c, /-i \/c\.ogg -i \/s\.wav -i \/c\.ogg -filter_complex .*concat=n=3:v=0:a=1\[out\] -map \[out\] \/o\.wav$/);
});

t.test('espeak-ng speaks Vietnamese text into a normalised item; a chime makes it longer', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const plain = await speak(server, { title: 'Tiêm chủng', text: TEXT });
  t.equal(plain.status, 201);
  t.match(plain.body, { title: 'Tiêm chủng', codec: 'opus', sourceName: 'espeak-ng.wav' });
  t.ok((plain.body.durationMs as number) > 4000, `${plain.body.durationMs} ms of speech`);
  t.ok(Math.abs((plain.body.loudnessAfterLufs as number) + 16) <= 2, `at ${plain.body.loudnessAfterLufs} LUFS`);
  const chimed = await speak(server, { title: 'Tiêm chủng', text: TEXT, chime: 'both', speed: 150 });
  t.equal(chimed.status, 201);
  t.ok((chimed.body.durationMs as number) > (plain.body.durationMs as number) + 2000, 'two chimes added');
  const slower = await speak(server, { title: 'Chậm', text: TEXT, speed: 100 });
  t.ok((slower.body.durationMs as number) > (plain.body.durationMs as number) * 1.2, 'speed is honoured');
  t.match(await speak(server, { title: 'x', text: '   ' }), { status: 400, body: { error: { code: 'EMPTY_TEXT' } } });
  t.match(await speak(server, { title: 'x', text: 'a'.repeat(20_001) }), { status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
  t.match(await speak(server, { title: 'x', text: 'xin chào', voice: '-x --evil' }), { status: 400 }, 'a voice cannot smuggle options');
});

t.test('an HTTP TTS service is called with the text and options, and its audio goes through the pipeline', async (t) => {
  const wav = readFileSync(makeTone(join(process.env.TMPDIR ?? '/tmp', `lp-tts-fake-${process.pid}.wav`), { seconds: 2, amplitude: 0.1 }));
  const received: unknown[] = [];
  let fail = false;
  const fake = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      received.push({ auth: req.headers.authorization, body: JSON.parse(body) });
      if (fail) return res.writeHead(500).end('engine down');
      res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav);
    });
  }).listen(0, '127.0.0.1');
  t.teardown(() => fake.close());
  await new Promise((r) => fake.once('listening', r));
  const { port } = fake.address() as { port: number };
  const server = await startTestServer({
    env: { LP_TTS_ENGINE: 'http', LP_TTS_HTTP_URL: `http://127.0.0.1:${port}/speak`, LP_TTS_HTTP_TOKEN: 'secret-token' },
  });
  t.teardown(() => server.stop());

  const r = await speak(server, { title: 'Giọng tốt hơn', text: TEXT, voice: 'vi', speed: 160, pitch: 45 });
  t.equal(r.status, 201);
  t.match(r.body, { sourceName: 'http.wav', codec: 'opus' });
  t.same(received[0], { auth: 'Bearer secret-token', body: { text: TEXT, voice: 'vi', speed: 160, pitch: 45 } });

  fail = true;
  const before = await server.db.media.count();
  t.match(await speak(server, { title: 'x', text: 'xin chào' }), { status: 502, body: { error: { code: 'TTS_FAILED' } } });
  t.equal(await server.db.media.count(), before, 'nothing stored when the engine fails');
});

t.test('a text can be listened to before saving: Ogg Opus back, nothing stored, nothing left behind', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const before = await server.db.media.count();
  const res = await fetch(`${server.url}/api/v1/media/tts/preview`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ text: TEXT, chime: 'intro' }),
  });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'audio/ogg');
  t.equal(res.headers.get('cache-control'), 'no-store');
  const file = join(server.dataDir, 'preview.ogg');
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  const probe = JSON.parse(
    execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,channels:format=duration', '-of', 'json', file]).toString(),
  );
  t.match(probe, { streams: [{ codec_name: 'opus', channels: 1 }] });
  t.ok(Number(probe.format.duration) > 4, `${probe.format.duration} s of speech and chime`);
  t.equal(await server.db.media.count(), before, 'nothing stored');
  t.same(
    readdirSync(join(server.dataDir, 'tmp')).filter((f) => /preview|tts|chime/.test(f)),
    [],
    'no temporary file left',
  );
  const empty = await fetch(`${server.url}/api/v1/media/tts/preview`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ text: '  ' }),
  });
  t.match({ status: empty.status, body: await empty.json() }, { status: 400, body: { error: { code: 'EMPTY_TEXT' } } });
});
