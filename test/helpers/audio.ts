// Real audio for tests, made with Debian's ffmpeg and espeak-ng.
import { execFileSync } from 'node:child_process';

/** A sine tone; `amplitude` 0..1. Format follows the file extension. */
export function makeTone(file: string, opts: { seconds: number; frequency?: number; amplitude?: number; extraArgs?: string[] }): string {
  const f = opts.frequency ?? 440;
  const a = opts.amplitude ?? 0.5;
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `aevalsrc=${a}*sin(2*PI*${f}*t):s=44100:d=${opts.seconds}`,
    ...(opts.extraArgs ?? []),
    file,
  ]);
  return file;
}

export function makeSilence(file: string, seconds: number): string {
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `anullsrc=r=44100:cl=mono`, '-t', String(seconds), file]);
  return file;
}

export function makeSpeech(file: string, text: string): string {
  execFileSync('espeak-ng', ['-v', 'vi', '-w', file, text]);
  return file;
}
