// The one place the server spawns programs (ffmpeg, ffprobe). Injected as deps.run.
import { spawn } from 'node:child_process';
import type { Command } from './ffmpeg.ts';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type Runner = (command: Command, opts?: { timeoutMs?: number; onStdout?: (chunk: string) => void }) => Promise<RunResult>;

const MAX_CAPTURE = 1024 * 1024;

export const spawnRunner: Runner = (command, opts = {}) =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(command.cmd, command.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // The tail is kept: ffmpeg prints its summaries (loudness, errors) last.
    child.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      opts.onStdout?.(text);
      stdout = (stdout + text).slice(-MAX_CAPTURE);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-MAX_CAPTURE);
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
