// Live recordings: decoded PCM (16-bit mono, 48 kHz) piped into ffmpeg, which writes Ogg Opus. The evidence of
// what a live broadcast said; started through setpriv so it never outlives the server.
import { spawn } from 'node:child_process';
import { diesWithParent } from './process-runner.ts';

export interface Recorder {
  write(pcm: Buffer): void;
  /** Ends the input and resolves once the file is complete; rejects when ffmpeg failed. */
  end(): Promise<void>;
}

export type RecorderFactory = (file: string) => Recorder;

export const recordCommand = (ffmpeg: string, file: string) => ({
  cmd: ffmpeg,
  args: ['-hide_banner', '-nostats', '-v', 'error', '-f', 's16le', '-ar', '48000', '-ac', '1', '-i', 'pipe:0'].concat([
    '-c:a',
    'libopus',
    '-b:a',
    '32k',
    '-application',
    'voip',
    '-f',
    'ogg',
    '-y',
    file,
  ]),
});

export function ffmpegRecorder(ffmpegPath: string): RecorderFactory {
  return (file) => {
    const tied = diesWithParent(recordCommand(ffmpegPath, file));
    const child = spawn(tied.cmd, tied.args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4096);
    });
    child.stdin.on('error', () => {}); // ffmpeg gone: end() reports it
    const done = new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(stderr.trim().split('\n').at(-1) || `ffmpeg exited ${code}`)),
      );
    });
    done.catch(() => {});
    return {
      write: (pcm) => void child.stdin.write(pcm),
      end: () => {
        child.stdin.end();
        return done;
      },
    };
  };
}
