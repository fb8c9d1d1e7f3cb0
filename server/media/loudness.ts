// One analysis pass (EBU R128 loudness, true peak, loudness range, silences, decode errors) and
// the plan of the one encode pass that follows: trim, linear gain, and a limiter only where the
// true-peak ceiling would otherwise be crossed. Pure functions; the runner executes the argv.
import type { Command } from './ffmpeg.ts';

/** Everything is measured on what the encoder receives: mono, 48 kHz. */
const MONO_48K = 'aformat=sample_rates=48000:channel_layouts=mono';
export const SILENCE_THRESHOLD_DB = -50;
/** Leading and trailing silence this long or longer is trimmed. */
export const SILENCE_MIN_S = 0.5;
/** Pauses this long are found too: a parallel encode cuts inside one (a sentence's end in speech is ~0.3 s). */
export const PAUSE_MIN_S = 0.25;
/** Kept before the first and after the last sound, so no syllable is clipped. */
export const TRIM_PAD_MS = 100;
/** EBU R128's absolute gate: a programme at or below this is silence. */
export const SILENT_LUFS = -60;
export const LIMITER_MARGIN_DB = 1.5;
/** No banner, no prompt, no stats line; machine-readable progress (out_time_us=…) on stdout for the job queue. */
const WITH_PROGRESS = ['-hide_banner', '-nostdin', '-nostats', '-progress', 'pipe:1'];

export function analysisCommand(ffmpeg: string, input: string): Command {
  return {
    cmd: ffmpeg,
    args: [
      ...WITH_PROGRESS,
      '-i',
      input,
      '-map',
      '0:a:0',
      '-af',
      `${MONO_48K},ebur128=peak=true:framelog=verbose,silencedetect=n=${SILENCE_THRESHOLD_DB}dB:d=${PAUSE_MIN_S}`,
      '-f',
      'null',
      '-',
    ],
  };
}

export interface Analysis {
  integratedLufs: number;
  truePeakDbtp: number;
  loudnessRangeLu: number;
  /** Audio actually decoded, which a truncated file makes shorter than its header claims. */
  decodedMs: number;
  silences: { startMs: number; endMs: number }[];
  decodeErrors: string[];
}

const num = (re: RegExp, text: string, fallback: number) => {
  const m = re.exec(text);
  if (!m) return fallback;
  return m[1] === '-inf' ? Number.NEGATIVE_INFINITY : Number(m[1]);
};

export function parseAnalysis(stderr: string, stdout: string): Analysis {
  const summary = stderr.slice(stderr.lastIndexOf('Summary:'));
  const silences: Analysis['silences'] = [];
  let open: number | undefined;
  for (const m of stderr.matchAll(/silence_(start|end): (-?[\d.]+)/g)) {
    const ms = Math.round(Number(m[2]) * 1000);
    if (m[1] === 'start') open = Math.max(0, ms);
    else if (open !== undefined) {
      silences.push({ startMs: open, endMs: ms });
      open = undefined;
    }
  }
  const times = [...stdout.matchAll(/out_time_us=(\d+)/g)];
  const decodedMs = times.length ? Math.round(Number(times[times.length - 1][1]) / 1000) : 0;
  if (open !== undefined) silences.push({ startMs: open, endMs: decodedMs });
  const decodeErrors = stderr
    .split('\n')
    .filter((l) => /Error while decoding|Invalid data found|corrupt|Header missing/i.test(l))
    .slice(0, 5);
  return {
    integratedLufs: num(/I:\s+(-?[\d.]+|-inf) LUFS/, summary, Number.NEGATIVE_INFINITY),
    truePeakDbtp: num(/Peak:\s+(-?[\d.]+|-inf) dBFS/, summary, Number.NEGATIVE_INFINITY),
    loudnessRangeLu: num(/LRA:\s+(-?[\d.]+) LU/, summary, 0),
    decodedMs,
    silences,
    decodeErrors,
  };
}

export interface LoudnessTarget {
  integratedLufs: number;
  truePeakDbtp: number;
}

export interface EncodePlan {
  startMs: number;
  endMs: number;
  gainDb: number;
  /** A limiter holds the true-peak ceiling where the gain alone would cross it. */
  limit: boolean;
}

export type PlanVerdict = { ok: true; plan: EncodePlan } | { ok: false; code: 'SILENT' | 'CORRUPT_AUDIO'; message: string };

/**
 * Decides trim and gain from the analysis. `declaredMs` is the duration the container claims:
 * a file that decodes to clearly less is truncated.
 */
export function planEncode(a: Analysis, declaredMs: number, target: LoudnessTarget): PlanVerdict {
  if (a.decodeErrors.length)
    return { ok: false, code: 'CORRUPT_AUDIO', message: `the audio has decoding errors: ${a.decodeErrors[0].trim().slice(0, 160)}` };
  if (declaredMs - a.decodedMs > Math.max(1000, declaredMs * 0.05)) {
    return { ok: false, code: 'CORRUPT_AUDIO', message: `the file is truncated: it decodes to ${a.decodedMs} ms of ${declaredMs} ms` };
  }
  if (!(a.integratedLufs > SILENT_LUFS)) return { ok: false, code: 'SILENT', message: 'the audio is silent throughout' };
  const long = a.silences.filter((s) => s.endMs - s.startMs >= SILENCE_MIN_S * 1000);
  const lead = long.find((s) => s.startMs <= 0);
  const trail = long.find((s) => s.endMs >= a.decodedMs - 20 && s.startMs > 0);
  const startMs = lead ? Math.max(0, lead.endMs - TRIM_PAD_MS) : 0;
  const endMs = trail ? Math.min(a.decodedMs, trail.startMs + TRIM_PAD_MS) : a.decodedMs;
  if (endMs - startMs <= 0) return { ok: false, code: 'SILENT', message: 'the audio is silent throughout' };
  const gainDb = round2(target.integratedLufs - a.integratedLufs);
  return { ok: true, plan: { startMs, endMs, gainDb, limit: a.truePeakDbtp + gainDb > target.truePeakDbtp } };
}

export interface Rendition {
  file: string;
  format: 'opus' | 'mp3';
  bitrateKbps: number;
  /** libopus complexity 0-10 (default 10). */
  complexity?: number;
}

/** The one encode pass: trim, gain, optional limiter, then each rendition from the same chain. */
export function encodeCommand(ffmpeg: string, input: string, plan: EncodePlan, target: LoudnessTarget, renditions: Rendition[]): Command {
  // A sample-peak limiter 1.5 dB under the true-peak target: Opus at speech bitrates adds about 1.2 dB of peak.
  const ceiling = 10 ** ((target.truePeakDbtp - LIMITER_MARGIN_DB) / 20);
  // A part that starts late (a parallel encode's second half) seeks there rather than decoding all before it;
  // the decoder starts 5 s early and the trim is exact from there.
  const seekMs = plan.startMs >= 10_000 ? plan.startMs - 5_000 : 0;
  const chain = [
    `[0:a:0]${MONO_48K}`,
    `atrim=start=${((plan.startMs - seekMs) / 1000).toFixed(3)}:end=${((plan.endMs - seekMs) / 1000).toFixed(3)}`,
    'asetpts=PTS-STARTPTS',
    `volume=${plan.gainDb.toFixed(2)}dB`,
    ...(plan.limit ? [`alimiter=limit=${ceiling.toFixed(4)}:level=false:attack=5:release=50`] : []),
    `asplit=${renditions.length}${renditions.map((_, i) => `[r${i}]`).join('')}`,
  ].join(',');
  const outputs = renditions.flatMap((r, i) => [
    '-map',
    `[r${i}]`,
    '-map_metadata',
    '-1',
    ...(r.format === 'opus'
      ? [
          '-c:a',
          'libopus',
          '-b:a',
          `${r.bitrateKbps}k`,
          // Constrained VBR: unconstrained VBR spends up to 1.5-2x the bitrate on tonal audio (music beds in long
          // programmes: 57 MB for 2 h at "32k"); constrained keeps the file at its budget.
          '-vbr',
          'constrained',
          '-application',
          'voip',
          '-compression_level',
          String(r.complexity ?? 10),
          '-f',
          'ogg',
        ]
      : ['-c:a', 'libmp3lame', '-b:a', `${r.bitrateKbps}k`, '-f', 'mp3']),
    // Ogg serial numbers (and encoder tags) are random unless bit-exact: the same audio must give the same sha256.
    '-fflags',
    '+bitexact',
    '-flags:a',
    '+bitexact',
    r.file,
  ]);
  return {
    cmd: ffmpeg,
    args: [...WITH_PROGRESS, '-v', 'error', '-y', ...(seekMs ? ['-ss', (seekMs / 1000).toFixed(3)] : []), '-i', input].concat([
      '-filter_complex',
      chain,
      ...outputs,
    ]),
  };
}

/** The shortest part an item is cut into for a parallel encode. */
const MIN_PART_MS = 30_000;
/** libopus's default frame in ffmpeg. */
const OPUS_FRAME_MS = 20;

/**
 * Where to cut an item into `parts` pieces encoded at once: the middle of the detected pause (≥ 0.25 s
 * under -50 dB, source time) nearest each even split, within a quarter-part of it and at least 30 s from
 * the ends and from each other. A fresh encoder starts each part with its own priming (6.5 ms at 48 kHz, which
 * a stream copy keeps: each cut makes the item that much longer), inaudible inside a silence and nowhere else,
 * so audio without silences there is cut fewer times or not at all.
 */
export function encodeCuts(plan: EncodePlan, silences: Analysis['silences'], parts: number): number[] {
  const length = plan.endMs - plan.startMs;
  const cuts: number[] = [];
  if (parts < 2 || length < 2 * MIN_PART_MS) return cuts;
  const mids = silences.map((s) => Math.round((s.startMs + s.endMs) / 2));
  for (let i = 1; i < parts; i++) {
    const target = plan.startMs + (length * i) / parts;
    const after = (cuts.at(-1) ?? plan.startMs) + MIN_PART_MS;
    const best = mids
      .filter((m) => m >= after && m <= plan.endMs - MIN_PART_MS && Math.abs(m - target) <= length / parts / 4)
      .sort((a, b) => Math.abs(a - target) - Math.abs(b - target))[0];
    // On a 20 ms Opus frame of the part before: it then ends without a padded last frame.
    if (best !== undefined) cuts.push(plan.startMs + Math.round((best - plan.startMs) / OPUS_FRAME_MS) * OPUS_FRAME_MS);
  }
  return cuts;
}

/** Joins Ogg Opus parts into one stream without re-encoding (ffconcat list file, one `file` line per part). */
export function concatCommand(ffmpeg: string, listFile: string, out: string): Command {
  return {
    cmd: ffmpeg,
    args: ['-hide_banner', '-nostdin', '-nostats', '-v', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', listFile].concat([
      '-map',
      '0:a:0',
      '-c',
      'copy',
      '-map_metadata',
      '-1',
      '-fflags',
      '+bitexact',
      '-flags:a',
      '+bitexact',
      '-f',
      'ogg',
      out,
    ]),
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** A level strip: RMS and peak level (dBFS, whole dB) of each equal slice of an item, for a waveform view. */
export interface Levels {
  sliceMs: number;
  rmsDbfs: number[];
  peakDbfs: number[];
}
export const LEVEL_SLICES = 200;
/** Levels are measured on 8 kHz mono: enough for a strip, and an Opus decode of 2 h takes seconds. */
const LEVEL_RATE = 8000;
/** Silence (-inf) is drawn at this floor. */
export const LEVEL_FLOOR_DB = -90;

/** One decode pass printing each slice's RMS and peak on stdout (ametadata), and nothing else. */
export function levelsCommand(
  ffmpeg: string,
  input: string,
  durationMs: number,
  slices = LEVEL_SLICES,
): { command: Command; sliceMs: number } {
  const sliceMs = Math.max(100, Math.ceil(durationMs / slices));
  const samples = Math.round((sliceMs / 1000) * LEVEL_RATE);
  return {
    sliceMs,
    command: {
      cmd: ffmpeg,
      args: [
        '-hide_banner',
        '-nostdin',
        '-nostats',
        '-v',
        'error',
        '-i',
        input,
        '-map',
        '0:a:0',
        '-af',
        `aformat=sample_rates=${LEVEL_RATE}:channel_layouts=mono,asetnsamples=n=${samples}:p=0,` +
          'astats=metadata=1:reset=1:measure_perchannel=none:measure_overall=RMS_level+Peak_level,ametadata=mode=print:file=-',
        '-f',
        'null',
        '-',
      ],
    },
  };
}

export function parseLevels(stdout: string, sliceMs: number): Levels {
  const rmsDbfs: number[] = [];
  const peakDbfs: number[] = [];
  const db = (v: string) =>
    v === '-inf' || !Number.isFinite(Number(v)) ? LEVEL_FLOOR_DB : Math.max(LEVEL_FLOOR_DB, Math.round(Number(v)));
  for (const m of stdout.matchAll(/^lavfi\.astats\.Overall\.(RMS|Peak)_level=(\S+)$/gm))
    (m[1] === 'RMS' ? rmsDbfs : peakDbfs).push(db(m[2]));
  const n = Math.min(rmsDbfs.length, peakDbfs.length);
  return { sliceMs, rmsDbfs: rmsDbfs.slice(0, n), peakDbfs: peakDbfs.slice(0, n) };
}
