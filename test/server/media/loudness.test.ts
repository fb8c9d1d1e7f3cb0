import t from 'tap';
import { analysisCommand, encodeCommand, encodeCuts, parseAnalysis, planEncode } from '../../../server/media/loudness.ts';
import { matchExact } from '../../helpers/match.ts';

const target = { integratedLufs: -16, truePeakDbtp: -1 };
const STDERR = `[silencedetect @ 0x1] silence_start: 0
[silencedetect @ 0x1] silence_end: 1.53905 | silence_duration: 1.53905
[silencedetect @ 0x1] silence_start: 3.4
[silencedetect @ 0x1] silence_end: 3.71399 | silence_duration: 0.314059
[silencedetect @ 0x1] silence_start: 6.21
[Parsed_ebur128_1 @ 0x2] Summary:

  Integrated loudness:
    I:         -18.4 LUFS
    Threshold: -28.7 LUFS

  Loudness range:
    LRA:         2.7 LU

  True peak:
    Peak:        0.0 dBFS
[silencedetect @ 0x1] silence_end: 8.01147 | silence_duration: 1.80111
`;
const STDOUT = 'out_time_us=4000000\nprogress=continue\nout_time_us=8011000\nprogress=end\n';

t.test('the analysis pass measures loudness, peak, range, silences and decodes everything once', async (t) => {
  const c = analysisCommand('ffmpeg', '/in.amr');
  t.match(
    c.args.join(' '),
    /-progress pipe:1 -i \/in\.amr -map 0:a:0 -af aformat=sample_rates=48000:channel_layouts=mono,ebur128=peak=true:framelog=verbose,silencedetect=n=-50dB:d=0\.25 -f null -$/,
  );
  t.same(parseAnalysis(STDERR, STDOUT), {
    integratedLufs: -18.4,
    truePeakDbtp: 0,
    loudnessRangeLu: 2.7,
    decodedMs: 8011,
    silences: [
      { startMs: 0, endMs: 1539 },
      { startMs: 3400, endMs: 3714 },
      { startMs: 6210, endMs: 8011 },
    ],
    decodeErrors: [],
  });
});

t.test('the plan trims leading and trailing silence (keeping 100 ms), never inner pauses, and sets the gain', async (t) => {
  const v = planEncode(parseAnalysis(STDERR, STDOUT), 8011, target);
  t.same(v, { ok: true, plan: { startMs: 1439, endMs: 6310, gainDb: 2.4, limit: true } });
  const short = parseAnalysis(STDERR.replace('silence_end: 1.53905', 'silence_end: 0.4'), STDOUT);
  t.match(planEncode(short, 8011, target), { ok: true, plan: { startMs: 0 } }, 'a lead-in under 0.5 s is kept');
  const quiet = planEncode({ ...parseAnalysis(STDERR, STDOUT), truePeakDbtp: -6 }, 8011, target);
  t.match(quiet, { ok: true, plan: { limit: false } }, 'no limiter when the gain keeps the peak under the ceiling');
});

t.test('silent, truncated and corrupt audio are refused with their codes', async (t) => {
  const a = parseAnalysis(STDERR, STDOUT);
  t.match(planEncode({ ...a, integratedLufs: -70 }, 8011, target), { ok: false, code: 'SILENT' });
  t.match(planEncode({ ...a, integratedLufs: Number.NEGATIVE_INFINITY }, 8011, target), { ok: false, code: 'SILENT' });
  t.match(planEncode(a, 20_000, target), { ok: false, code: 'CORRUPT_AUDIO', message: /truncated/ });
  t.match(planEncode({ ...a, decodeErrors: ['Error while decoding stream #0:0'] }, 8011, target), { ok: false, code: 'CORRUPT_AUDIO' });
  const errs = parseAnalysis(
    '[mp3float @ 0x5] Header missing\nError while decoding stream #0:0: Invalid data found when processing input\n',
    '',
  );
  t.equal(errs.decodeErrors.length, 2);
});

t.test('the encode pass trims, applies the gain and limiter, and writes bit-exact mono Opus', async (t) => {
  const c = encodeCommand('ffmpeg', '/in.wav', { startMs: 1439, endMs: 6310, gainDb: 2.4, limit: true }, target, [
    { file: '/out.ogg', format: 'opus', bitrateKbps: 24 },
  ]);
  const a = c.args.join(' ');
  matchExact(
    t,
    a,
    /-filter_complex \[0:a:0\]aformat=sample_rates=48000:channel_layouts=mono,atrim=start=1\.439:end=6\.310,asetpts=PTS-STARTPTS,volume=2\.40dB,alimiter=limit=0\.7499:level=false:attack=5:release=50,asplit=1\[r0\]/,
  );
  matchExact(
    t,
    a,
    /-map \[r0\] -map_metadata -1 -c:a libopus -b:a 24k -vbr constrained -application voip -compression_level 10 -f ogg -fflags \+bitexact -flags:a \+bitexact \/out\.ogg$/,
  );
  const noLimit = encodeCommand('ffmpeg', '/in.wav', { startMs: 0, endMs: 1000, gainDb: -3, limit: false }, target, [
    { file: '/o.ogg', format: 'opus', bitrateKbps: 32 },
    { file: '/o.mp3', format: 'mp3', bitrateKbps: 64 },
  ]);
  t.notMatch(noLimit.args.join(' '), /alimiter/);
  matchExact(t, noLimit.args.join(' '), /asplit=2\[r0\]\[r1\].*-c:a libmp3lame -b:a 64k -f mp3 .*\/o\.mp3$/);
});

t.test('a long item is cut for a parallel encode only inside silences near the even splits, on a 20 ms frame', async (t) => {
  const plan = { startMs: 1000, endMs: 601_000, gainDb: 0, limit: false };
  const pause = (at: number) => ({ startMs: at - 400, endMs: at + 400 });
  t.same(encodeCuts(plan, [pause(150_000), pause(302_013), pause(450_000)], 2), [301_000 + 1_020], 'the pause nearest 5 min, on a frame');
  t.same(encodeCuts(plan, [pause(151_000), pause(301_000), pause(451_000)], 4), [151_000, 301_000, 451_000]);
  t.same(encodeCuts(plan, [pause(120_000)], 2), [], 'a pause far from the middle is not used');
  t.same(encodeCuts(plan, [pause(301_000)], 1), [], 'one part: no cut');
  t.same(encodeCuts({ ...plan, endMs: 50_000 }, [pause(25_000)], 2), [], 'under a minute: one piece');
  t.same(encodeCuts(plan, [], 2), [], 'no silence: one piece');
});
