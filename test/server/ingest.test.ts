// Every shape operators bring, made inside the test with ffmpeg, sox and espeak-ng, through the
// real upload path; each gets the right verdict, and what is accepted comes out at the target.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { analysisCommand, parseAnalysis } from '../../server/media/loudness.ts';
import { spawnRunner } from '../../server/media/process-runner.ts';
import { makeSilence, makeSpeech } from '../helpers/audio.ts';
import { matchExact } from '../helpers/match.ts';
import { api, startTestServer, upload } from '../helpers/server.ts';

const server = await startTestServer();
t.teardown(() => server.stop());
const dir = server.dataDir;
const ff = (...args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);
/** A quiet tone (-29 LUFS or so) so normalisation has to raise it. */
const quietTone = (seconds: number, hz = 440) => `aevalsrc=0.05*sin(2*PI*${hz}*t):s=44100:d=${seconds}`;
const measure = async (sha256: unknown) => {
  const r = await spawnRunner(analysisCommand('ffmpeg', join(dir, 'blobs', `${sha256}.ogg`)));
  return parseAnalysis(r.stderr, r.stdout);
};
const rows = async () => server.db.media.count();

t.test('a stereo 44.1 kHz MP3 becomes mono 48 kHz Opus at -16 LUFS, re-measured within 1 LU', async (t) => {
  const file = join(dir, 'stereo.mp3');
  ff(
    '-f',
    'lavfi',
    '-i',
    quietTone(6, 500),
    '-f',
    'lavfi',
    '-i',
    quietTone(6, 700),
    '-filter_complex',
    '[0][1]amerge=inputs=2',
    '-ar',
    '44100',
    '-ac',
    '2',
    file,
  );
  const { status, body } = await upload(server, file);
  t.equal(status, 201);
  t.match(body, { codec: 'opus', channels: 1, sampleRate: 48000, sourceFormat: 'mp3', limited: false });
  t.ok((body.loudnessBeforeLufs as number) < -25, `source measured at ${body.loudnessBeforeLufs} LUFS`);
  const after = await measure(body.sha256);
  t.ok(Math.abs(after.integratedLufs + 16) <= 1, `re-measured ${after.integratedLufs} LUFS`);
  t.ok(after.truePeakDbtp <= -1, `true peak ${after.truePeakDbtp} dBTP`);
  t.equal(body.loudnessAfterLufs, after.integratedLufs, 'the stored measurement is the re-measured one');
});

t.test('speech with a loud peak is normalised under the true-peak ceiling with a limiter', async (t) => {
  const wav = makeSpeech(
    join(dir, 'speech.wav'),
    'Thông báo khẩn: đề nghị bà con chủ động phòng chống bão, không ra ngoài khi có gió mạnh.',
  );
  const { status, body } = await upload(server, wav);
  t.equal(status, 201);
  const after = await measure(body.sha256);
  t.ok(Math.abs(after.integratedLufs + 16) <= 2, `re-measured ${after.integratedLufs} LUFS (limited: ${body.limited})`);
  t.ok(after.truePeakDbtp <= -0.5, `true peak ${after.truePeakDbtp} dBTP`);
});

t.test('leading and trailing silence is trimmed, keeping 100 ms of air', async (t) => {
  const file = join(dir, 'padded.wav');
  ff(
    '-f',
    'lavfi',
    '-i',
    'anullsrc=r=44100:cl=mono:d=2',
    '-f',
    'lavfi',
    '-i',
    quietTone(3),
    '-f',
    'lavfi',
    '-i',
    'anullsrc=r=44100:cl=mono:d=2',
    '-filter_complex',
    '[0][1][2]concat=n=3:v=0:a=1',
    '-t',
    '7',
    file,
  );
  const { body } = await upload(server, file);
  t.ok(Math.abs((body.trimStartMs as number) - 1900) < 60, `trimmed ${body.trimStartMs} ms at the start`);
  t.ok(Math.abs((body.trimEndMs as number) - 1900) < 60, `trimmed ${body.trimEndMs} ms at the end`);
  t.ok(Math.abs((body.durationMs as number) - 3200) < 80, `kept ${body.durationMs} ms`);
});

t.test('phone AMR, M4A, FLAC, WMA, Ogg and a video with an audio track are all accepted', async (t) => {
  const src = join(dir, 'src.wav');
  ff('-f', 'lavfi', '-i', quietTone(3, 600), src);
  const amr = join(dir, 'phone.amr');
  execFileSync('sox', [src, '-r', '8000', '-c', '1', '-t', 'amr-nb', amr]);
  const files: Record<string, string> = { amr };
  for (const [ext, args] of [
    ['m4a', ['-c:a', 'aac']],
    ['flac', []],
    ['wma', ['-c:a', 'wmav2']],
    ['ogg', ['-c:a', 'libopus']],
  ] as const) {
    files[ext] = join(dir, `clip.${ext}`);
    ff('-i', src, ...args, files[ext]);
  }
  files.mp4 = join(dir, 'video.mp4');
  ff('-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10:duration=3', '-f', 'lavfi', '-i', quietTone(3, 800), '-shortest', files.mp4);
  for (const [kind, file] of Object.entries(files)) {
    const { status, body } = await upload(server, file);
    t.equal(status, 201, `${kind} accepted`);
    t.match(body, { codec: 'opus', channels: 1 }, `${kind} became mono Opus`);
    t.ok(Math.abs((body.durationMs as number) - 3000) < 200, `${kind}: ${body.durationMs} ms`);
  }
});

t.test(
  'a phone clip with silences (AMR comfort-noise frames ffmpeg cannot decode) and a video longer than its audio are accepted',
  async (t) => {
    // Tone, two seconds of silence (the phone writes SID frames there), tone.
    const speech = join(dir, 'speech-gap.wav');
    execFileSync('sox', [
      '-n',
      '-r',
      '8000',
      '-c',
      '1',
      speech,
      'synth',
      '2',
      'sine',
      '500',
      'pad',
      '0',
      '2',
      ':',
      'synth',
      '2',
      'sine',
      '700',
    ]);
    const amr = join(dir, 'phone-dtx.amr');
    execFileSync('sox', [speech, '-t', 'amr-nb', amr]);
    const amrUp = await upload(server, amr);
    t.equal(amrUp.status, 201, `accepted: ${JSON.stringify(amrUp.body.error ?? '')}`);
    t.ok(Math.abs((amrUp.body.durationMs as number) - 6000) < 200, `the whole clip, silence included: ${amrUp.body.durationMs} ms`);
    t.equal(amrUp.body.sourceFormat, 'amr');

    const mp4 = join(dir, 'long-video.mp4');
    ff('-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10:duration=6', '-f', 'lavfi', '-i', quietTone(3, 850), mp4);
    const video = await upload(server, mp4);
    t.equal(video.status, 201, `a 6 s video with 3 s of audio: ${JSON.stringify(video.body.error ?? '')}`);
    t.ok(Math.abs((video.body.durationMs as number) - 3000) < 200, `its audio: ${video.body.durationMs} ms`);
  },
);

t.test('Opus keeps to its bitrate on tonal audio too (a music bed: unconstrained VBR spent 1.5-2x)', async (t) => {
  const tone = join(dir, 'bed.wav');
  ff('-f', 'lavfi', '-i', 'sine=f=440:d=60', '-af', 'volume=-12dB', tone);
  const { status, body } = await upload(server, tone);
  t.equal(status, 201);
  const kbps = ((body.sizeBytes as number) * 8) / (body.durationMs as number);
  t.ok(kbps <= 32 * 1.1, `${kbps.toFixed(1)} kbit/s for a 32 kbit/s target`);
});

t.test('an upload whose processing outlasts the wait answers 202 with its job, which then finishes', async (t) => {
  const quick = await startTestServer({ env: { LP_UPLOAD_WAIT_MS: '0' } });
  t.teardown(() => quick.stop());
  const file = join(dir, 'long-wait.wav');
  ff('-f', 'lavfi', '-i', quietTone(20, 650), file);
  const { status, body } = await upload(quick, file);
  t.equal(status, 202, 'not held on the request');
  t.match(body, { id: String, status: /queued|running/ });
  const done = await quick.jobs.result(body.id as string);
  t.match(done, { mediaId: String, created: true });
  t.match((await api(quick, 'GET', `/jobs/${body.id}`)).body, { status: 'succeeded', mediaId: done.mediaId });
});

t.test('each bad file gets its code, and nothing is left behind', async (t) => {
  const before = await rows();
  const blobs = readdirSync(join(dir, 'blobs')).length;
  const png = join(dir, 'photo.mp3');
  ff('-f', 'lavfi', '-i', 'color=c=blue:s=64x64:d=1', '-frames:v', '1', '-f', 'image2', '-c:v', 'png', png);
  t.match(await upload(server, png), { status: 400, body: { error: { code: 'NOT_AUDIO' } } }, 'a PNG renamed .mp3');

  const full = join(dir, 'long.mp3');
  ff('-f', 'lavfi', '-i', quietTone(20), '-b:a', '64k', full);
  const truncated = join(dir, 'truncated.mp3');
  const bytes = readFileSync(full);
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  t.match(
    await upload(server, truncated),
    { status: 400, body: { error: { code: 'CORRUPT_AUDIO', message: /truncated/ } } },
    'an MP3 cut in half',
  );

  const garbled = join(dir, 'garbled.mp3');
  const g = Buffer.from(bytes);
  for (let i = 20_000; i < 30_000; i++) g[i] = (i * 7919) & 0xff;
  writeFileSync(garbled, g);
  t.match(await upload(server, garbled), { status: 400, body: { error: { code: 'CORRUPT_AUDIO' } } }, 'an MP3 with garbage inside');

  t.match(
    await upload(server, makeSilence(join(dir, 'silence.wav'), 30)),
    { status: 400, body: { error: { code: 'SILENT' } } },
    '30 s of silence',
  );

  t.equal(await rows(), before, 'no row');
  t.equal(readdirSync(join(dir, 'blobs')).length, blobs, 'no blob');
  t.same(readdirSync(join(dir, 'tmp')), [], 'no temporary file');
});

t.test('an MP3 rendition is made in the same encode pass when configured, and served by its hash', async (t) => {
  const legacy = await startTestServer({ env: { LP_MP3_RENDITION_KBPS: '64' } });
  t.teardown(() => legacy.stop());
  const { status, body } = await upload(legacy, makeSpeech(join(legacy.dataDir, 'legacy.wav'), 'Xin chào bà con.'));
  t.equal(status, 201);
  matchExact(t, body, { mp3Sha256: /^[0-9a-f]{64}$/ });
  const res = await fetch(`${legacy.url}/blobs/${body.mp3Sha256}`);
  t.equal(res.headers.get('content-type'), 'audio/mpeg');
  t.equal((await res.arrayBuffer()).byteLength, body.mp3SizeBytes);
  t.equal(body.mp3Sha256 === body.sha256, false);
});

t.test('a WebM recorded as a stream (a browser MediaRecorder: no duration in the file) is measured by decoding', async (t) => {
  const file = join(dir, 'recorded.webm');
  // Written to a pipe, the muxer cannot go back to write the duration: exactly what a browser's recorder gives.
  writeFileSync(
    file,
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', quietTone(3), '-c:a', 'libopus', '-f', 'webm', 'pipe:1']),
  );
  const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_format', '-of', 'json', file]).toString());
  t.equal(probe.format.duration, undefined, 'the file declares no duration');
  const r = await upload(server, file);
  t.equal(r.status, 201);
  t.ok(Math.abs((r.body.durationMs as number) - 3000) <= 100, `${r.body.durationMs} ms`);
  t.equal(r.body.sourceFormat, 'matroska,webm');
});
