// The one place the server spawns programs (ffmpeg, ffprobe). Injected as deps.run.
import { spawn } from 'node:child_process';
import type { Command } from './ffmpeg.ts';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type Runner = (command: Command, opts?: { timeoutMs?: number }) => Promise<RunResult>;

const MAX_CAPTURE = 1024 * 1024;

export const spawnRunner: Runner = (command, opts = {}) =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(command.cmd, command.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < MAX_CAPTURE) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < MAX_CAPTURE) stderr += d.toString();
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
