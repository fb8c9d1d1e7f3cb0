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

export interface ProbeResult {
  formatName: string;
  /**
   * What the container declares; null when it declares nothing (a browser's MediaRecorder writes WebM as a
   * stream, with no duration): the length is then what decoding finds.
   */
  durationMs: number | null;
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
  // The audio stream's own length when the container says it: a video may run on after its sound ends.
  const own = Number(audio.duration);
  const declared = json.format.duration === undefined || json.format.duration === 'N/A' ? null : Number(json.format.duration);
  const seconds = Number.isFinite(own) && own > 0 ? own : declared;
  if (seconds !== null && (!Number.isFinite(seconds) || seconds <= 0))
    return { ok: false, code: 'ZERO_DURATION', message: 'the audio has no duration' };
  return {
    ok: true,
    probe: {
      formatName: json.format.format_name ?? 'unknown',
      durationMs: seconds === null ? null : Math.round(seconds * 1000),
      codec: audio.codec_name ?? 'unknown',
      sampleRate: Number(audio.sample_rate ?? 0),
      channels: audio.channels ?? 0,
    },
  };
}
