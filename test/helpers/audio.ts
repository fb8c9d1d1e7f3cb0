// Real audio for tests, made with Debian's ffmpeg and espeak-ng.
import { execFileSync } from 'node:child_process';

/** A signal given as an ffmpeg aevalsrc expression of t (commas escaped, as the filter wants them). Format follows the file extension. */
export function makeSignal(file: string, expression: string, seconds: number, extraArgs: string[] = []): string {
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `aevalsrc=${expression}:s=44100:d=${seconds}`, ...extraArgs, file]);
  return file;
}

/** A sine tone; `amplitude` 0..1. Format follows the file extension. */
export function makeTone(file: string, opts: { seconds: number; frequency?: number; amplitude?: number; extraArgs?: string[] }): string {
  return makeSignal(file, `${opts.amplitude ?? 0.5}*sin(2*PI*${opts.frequency ?? 440}*t)`, opts.seconds, opts.extraArgs);
}

export function makeSilence(file: string, seconds: number): string {
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `anullsrc=r=44100:cl=mono`, '-t', String(seconds), file]);
  return file;
}

export function makeSpeech(file: string, text: string): string {
  execFileSync('espeak-ng', ['-v', 'vi', '-w', file, text]);
  return file;
}
