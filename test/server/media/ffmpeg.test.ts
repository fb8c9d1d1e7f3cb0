import t from 'tap';
import { interpretProbe, probeCommand, transcodeCommand } from '../../../server/media/ffmpeg.ts';

t.test('the transcode command makes bit-exact mono 48 kHz Opus in Ogg at the configured bitrate', async (t) => {
  const c = transcodeCommand('ffmpeg', '/in.mp3', '/out.ogg', { bitrateKbps: 24 });
  t.equal(c.cmd, 'ffmpeg');
  const a = c.args.join(' ');
  t.match(a, /-i \/in\.mp3/);
  t.match(a, /-map 0:a:0 -vn/, 'keeps only the first audio stream');
  t.match(a, /-ac 1 -ar 48000 -c:a libopus -b:a 24k/);
  t.match(a, /-fflags \+bitexact -flags:a \+bitexact/);
  t.match(a, /-f ogg \/out\.ogg$/);
  t.ok(c.args.includes('-nostdin'), 'never waits on stdin');
});

t.test('the probe command asks for JSON format and streams', async (t) => {
  t.same(probeCommand('ffprobe', '/x'), {
    cmd: 'ffprobe',
    args: ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', '-show_error', '/x'],
  });
});

t.test('probe results are interpreted', async (t) => {
  t.match(interpretProbe({}), { ok: false, code: 'NOT_AUDIO' });
  t.match(interpretProbe({ streams: [{ codec_type: 'video' }], format: { duration: '3' } }), { ok: false, code: 'NOT_AUDIO' });
  t.match(interpretProbe({ streams: [{ codec_type: 'audio' }], format: { duration: '0' } }), { ok: false, code: 'ZERO_DURATION' });
  t.match(interpretProbe({ streams: [{ codec_type: 'audio' }], format: {} }), { ok: false, code: 'ZERO_DURATION' });
  t.same(
    interpretProbe({
      streams: [{ codec_type: 'video' }, { codec_type: 'audio', codec_name: 'aac', sample_rate: '44100', channels: 2 }],
      format: { format_name: 'mov,mp4,m4a', duration: '12.3456' },
    }),
    { ok: true, probe: { formatName: 'mov,mp4,m4a', durationMs: 12346, codec: 'aac', sampleRate: 44100, channels: 2 } },
  );
});
