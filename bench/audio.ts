import { execFileSync } from 'node:child_process';

/** A spoken Vietnamese bulletin padded or cut to `seconds`, as MP3; `variant` changes the content. */
export function makeSpeechBulletin(file: string, seconds: number, variant = 0): string {
  const wav = `${file}.wav`;
  execFileSync('espeak-ng', [
    '-v',
    'vi',
    '-w',
    wav,
    `Bản tin số ${variant + 1}. Ủy ban nhân dân phường thông báo lịch tiêm chủng và phòng chống bão. `.repeat(8),
  ]);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '-1', '-i', wav, '-t', String(seconds), '-ac', '1', '-b:a', '64k', file]);
  return file;
}
