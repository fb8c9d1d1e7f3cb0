import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createFfmpegPlayer, LevelMeter, playbackCommand } from '../../edge-agent/player.ts';
import { makeSilence, makeTone } from '../helpers/audio.ts';

const dir = mkdtempSync(join(tmpdir(), 'lp-player-'));

t.test('the playback command decodes in real time through astats to the chosen sink', async (t) => {
  const nul = playbackCommand('ffmpeg', '/a.ogg', { kind: 'null' });
  t.ok(nul.args.includes('-re'), 'real time');
  t.same(nul.args.slice(-3), ['-f', 'null', '-']);
  t.match(nul.args.join(' '), /astats=metadata=1:reset=1/);
  const alsa = playbackCommand('ffmpeg', '/a.ogg', { kind: 'alsa', device: 'hw:1,0' });
  t.same(alsa.args.slice(-3), ['-f', 'alsa', 'hw:1,0']);
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
  const player = createFfmpegPlayer({ ffmpegPath: 'ffmpeg', sink: { kind: 'null' } });
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
  const player = createFfmpegPlayer({ ffmpegPath: 'ffmpeg', sink: { kind: 'null' } });
  const missing = await player.play(join(dir, 'nope.ogg')).done;
  t.equal(missing.completed, false);
  t.ok(missing.error);
  const long = makeTone(join(dir, 'long.wav'), { seconds: 30 });
  const playback = player.play(long);
  playback.stop();
  const stopped = await playback.done;
  t.equal(stopped.completed, false);
  t.equal(stopped.error, undefined, 'a requested stop is not an error');
  const noBinary = await createFfmpegPlayer({ ffmpegPath: '/nonexistent/ffmpeg', sink: { kind: 'null' } }).play(long).done;
  t.equal(noBinary.completed, false);
});
