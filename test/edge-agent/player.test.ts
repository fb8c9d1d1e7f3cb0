import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createFfmpegPlayer, LevelMeter, playbackCommand, resolveZones } from '../../edge-agent/player.ts';
import { makeSilence, makeTone } from '../helpers/audio.ts';
import { matchExact } from '../helpers/match.ts';

const dir = mkdtempSync(join(tmpdir(), 'lp-player-'));

const NULL = { kind: 'null' } as const;

t.test('the playback command decodes once in real time and feeds each zone its own volume, sink and meter', async (t) => {
  const nul = playbackCommand('ffmpeg', '/a.ogg', { z1: NULL });
  t.ok(nul.args.includes('-re'), 'real time');
  t.notOk(nul.args.includes('-nostdin'), 'stdin carries volume commands');
  t.same(nul.args.slice(-5), ['-map', '[o0]', '-f', 'null', '-']);
  matchExact(t, nul.args.join(' '), /volume@z0=1\.000,asplit=2\[o0\]\[m0\]/);
  t.match(
    nul.args.join(' '),
    /astats=metadata=1:reset=1:measure_perchannel=none:measure_overall=Number_of_samples\+RMS_level\+Peak_level,ametadata=mode=print:direct=1:file='pipe\\:3',anullsink/,
  );
  const two = playbackCommand(
    'ffmpeg',
    '/a.ogg',
    { z1: NULL, z2: { kind: 'alsa', device: 'hw:1,0' }, z3: NULL },
    { zones: { z2: 40, z1: 100 } },
  );
  t.same(two.zones, ['z2', 'z1'], 'only the zones asked for, in that order');
  matchExact(t, two.args.join(' '), /asplit=2\[a0\]\[a1\]/);
  t.match(two.args.join(' '), /volume@z0=0\.400/);
  matchExact(t, two.args.join(' '), /-map \[o0\] -f alsa hw:1,0 -map \[o1\] -f null -/);
  t.throws(() => playbackCommand('ffmpeg', '/a.ogg', { z1: NULL }, { zones: { z9: 100 } }), /no zone/);
});

t.test('zones resolve from the config, else one zone on the detected sink', async (t) => {
  t.same(resolveZones({ z1: 'hw:0,0', z2: 'null' }, undefined), { z1: { kind: 'alsa', device: 'hw:0,0' }, z2: NULL });
  t.same(resolveZones(undefined, 'hw:2,0'), { z1: { kind: 'alsa', device: 'hw:2,0' } });
});

t.test('the level meter sums samples and averages power across frames', async (t) => {
  const m = new LevelMeter();
  t.equal(m.levels, undefined, 'no audio, no levels');
  for (const [rms, peak, n] of [
    [-20, -6, 48000],
    [-20, -3, 24000],
  ]) {
    m.line(`lavfi.astats.Overall.Peak_level=${peak}`);
    m.line(`lavfi.astats.Overall.RMS_level=${rms}`);
    m.line(`lavfi.astats.Overall.Number_of_samples=${n}`);
    m.line('frame:1 pts:48000 pts_time:1');
  }
  t.equal(m.playedMs, 1500);
  t.same(m.levels, { rmsDbfs: -20, peakDbfs: -3 });
  const silent = new LevelMeter();
  silent.line('lavfi.astats.Overall.RMS_level=-inf');
  silent.line('lavfi.astats.Overall.Peak_level=-inf');
  silent.line('lavfi.astats.Overall.Number_of_samples=48000');
  t.same(silent.levels, { rmsDbfs: -200, peakDbfs: -200 }, 'digital silence is reported, not hidden');
});

t.test('the null sink plays a real file in real time and measures it', async (t) => {
  const tone = makeTone(join(dir, 'tone.ogg'), { seconds: 1.5, amplitude: 0.5, extraArgs: ['-c:a', 'libopus', '-ar', '48000'] });
  const player = createFfmpegPlayer({ ffmpegPath: 'ffmpeg', zones: { z1: NULL } });
  const result = await player.play(tone).done;
  t.equal(result.completed, true);
  t.ok(Math.abs(result.playedMs - 1500) < 60, `played ${result.playedMs} ms`);
  // A sine of amplitude 0.5 has RMS 0.354 (-9.0 dBFS) and peak 0.5 (-6.0 dBFS).
  t.ok(Math.abs((result.level?.rmsDbfs ?? 0) + 9) < 1.5, `rms ${result.level?.rmsDbfs}`);
  t.ok(Math.abs((result.level?.peakDbfs ?? 0) + 6) < 1.5, `peak ${result.level?.peakDbfs}`);

  const silence = makeSilence(join(dir, 'silence.wav'), 1);
  const quiet = await player.play(silence).done;
  t.ok((quiet.level?.rmsDbfs ?? 0) < -90, `silence measured as silence (${quiet.level?.rmsDbfs})`);
});

t.test('a broken file or a stop is reported as not completed', async (t) => {
  const player = createFfmpegPlayer({ ffmpegPath: 'ffmpeg', zones: { z1: NULL } });
  const missing = await player.play(join(dir, 'nope.ogg')).done;
  t.equal(missing.completed, false);
  t.ok(missing.error);
  const long = makeTone(join(dir, 'long.wav'), { seconds: 30 });
  const playback = player.play(long);
  playback.stop();
  const stopped = await playback.done;
  t.equal(stopped.completed, false);
  t.equal(stopped.error, undefined, 'a requested stop is not an error');
  const noBinary = await createFfmpegPlayer({ ffmpegPath: '/nonexistent/ffmpeg', zones: { z1: NULL } }).play(long).done;
  t.equal(noBinary.completed, false);
});

t.test('two zones play one decode at their own levels, and a level changed mid-play follows at once', async (t) => {
  const tone = makeTone(join(dir, 'tone5.wav'), { seconds: 5, amplitude: 0.5 });
  const player = createFfmpegPlayer({ ffmpegPath: 'ffmpeg', zones: { a: NULL, b: NULL, c: NULL } });
  t.same(player.zones, ['a', 'b', 'c']);
  const half = await player.play(makeTone(join(dir, 'tone1.wav'), { seconds: 1, amplitude: 0.5 }), { zones: { a: 100, b: 50 } }).done;
  const a = half.zoneLevels?.a?.rmsDbfs ?? 0;
  const b = half.zoneLevels?.b?.rmsDbfs ?? 0;
  t.ok(Math.abs(a - b - 6.02) < 0.1, `50 % is 6 dB down (a ${a}, b ${b})`);
  t.notOk(half.zoneLevels?.c, 'a zone not asked for is not played');
  t.same(half.level, half.zoneLevels?.a, 'the level summary is the loudest zone');

  let changed = false;
  const playback = player.play(tone, {
    zones: { a: 100, b: 100 },
    onProgress: () => {
      if (!changed) changed = playback.setVolume('a', 10);
    },
  });
  t.equal(playback.setVolume('c', 50), false, 'a zone it does not play');
  const result = await playback.done;
  t.equal(result.completed, true);
  const quieter = result.zoneLevels?.a?.rmsDbfs ?? 0;
  const steady = result.zoneLevels?.b?.rmsDbfs ?? 0;
  // One second at full level, the rest 20 dB down: at least 4 dB under the untouched zone over 5 s.
  t.ok(steady - quieter > 4, `zone a turned down mid-play (a ${quieter}, b ${steady})`);
});

t.test('a stop with a fade ramps down before ending, and is not an error', async (t) => {
  const long = makeTone(join(dir, 'long2.wav'), { seconds: 30, amplitude: 0.5 });
  const player = createFfmpegPlayer({ ffmpegPath: 'ffmpeg', zones: { z1: NULL } });
  let stoppedAt = 0;
  const playback = player.play(long, {
    onProgress: (ms) => {
      if (!stoppedAt) {
        stoppedAt = ms;
        playback.stop({ fadeMs: 400 });
      }
    },
  });
  const result = await playback.done;
  t.equal(result.completed, false);
  t.equal(result.error, undefined);
  // ffmpeg plays in real time, so the ramp is audio that went out after the stop was asked for.
  t.ok(result.playedMs >= stoppedAt + 350, `played ${result.playedMs} ms, stop asked at ${stoppedAt} ms`);
});
