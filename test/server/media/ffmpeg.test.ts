import t from 'tap';
import { interpretProbe, probeCommand } from '../../../server/media/ffmpeg.ts';

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
  t.match(
    interpretProbe({ streams: [{ codec_type: 'audio' }], format: {} }),
    { ok: true, probe: { durationMs: null } },
    'a stream that declares no length (a browser recording) is measured by decoding',
  );
  t.same(
    interpretProbe({
      streams: [{ codec_type: 'video' }, { codec_type: 'audio', codec_name: 'aac', sample_rate: '44100', channels: 2 }],
      format: { format_name: 'mov,mp4,m4a', duration: '12.3456' },
    }),
    { ok: true, probe: { formatName: 'mov,mp4,m4a', durationMs: 12346, codec: 'aac', sampleRate: 44100, channels: 2 } },
  );
});
