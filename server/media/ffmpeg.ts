// ffmpeg and ffprobe commands as pure data (tests assert the argv), and the parsing of their output.

export interface Command {
  cmd: string;
  args: string[];
}

export function probeCommand(ffprobe: string, input: string): Command {
  return {
    cmd: ffprobe,
    args: ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', '-show_error', input],
  };
}

/** Horn format ([DESIGN §1]): Opus in Ogg, mono, 48 kHz, speech bitrate; video and metadata dropped. */
export function transcodeCommand(ffmpeg: string, input: string, output: string, opts: { bitrateKbps: number }): Command {
  return {
    cmd: ffmpeg,
    args: [
      '-hide_banner',
      '-nostdin',
      '-v',
      'error',
      '-y',
      '-i',
      input,
      '-map',
      '0:a:0',
      '-vn',
      '-sn',
      '-dn',
      '-map_metadata',
      '-1',
      '-ac',
      '1',
      '-ar',
      '48000',
      '-c:a',
      'libopus',
      '-b:a',
      `${opts.bitrateKbps}k`,
      '-application',
      'voip',
      // Ogg serial numbers are random unless bit-exact: the same audio must give the same sha256.
      '-fflags',
      '+bitexact',
      '-flags:a',
      '+bitexact',
      '-f',
      'ogg',
      output,
    ],
  };
}

export interface ProbeResult {
  formatName: string;
  durationMs: number;
  codec: string;
  sampleRate: number;
  channels: number;
}

export type ProbeVerdict = { ok: true; probe: ProbeResult } | { ok: false; code: 'NOT_AUDIO' | 'ZERO_DURATION'; message: string };

interface FfprobeJson {
  streams?: { codec_type?: string; codec_name?: string; sample_rate?: string; channels?: number; duration?: string }[];
  format?: { format_name?: string; duration?: string };
}

export function interpretProbe(json: FfprobeJson): ProbeVerdict {
  const audio = json.streams?.find((s) => s.codec_type === 'audio');
  if (!audio || !json.format) return { ok: false, code: 'NOT_AUDIO', message: 'the file has no audio stream' };
  const seconds = Number(json.format.duration ?? audio.duration);
  if (!Number.isFinite(seconds) || seconds <= 0) return { ok: false, code: 'ZERO_DURATION', message: 'the audio has no duration' };
  return {
    ok: true,
    probe: {
      formatName: json.format.format_name ?? 'unknown',
      durationMs: Math.round(seconds * 1000),
      codec: audio.codec_name ?? 'unknown',
      sampleRate: Number(audio.sample_rate ?? 0),
      channels: audio.channels ?? 0,
    },
  };
}
