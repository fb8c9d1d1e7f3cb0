// The one place the server spawns programs (ffmpeg, ffprobe). Injected as deps.run.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Command } from './ffmpeg.ts';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type Runner = (command: Command, opts?: { timeoutMs?: number; onStdout?: (chunk: string) => void }) => Promise<RunResult>;

const MAX_CAPTURE = 1024 * 1024;
const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

/**
 * An encode never outlives the server, kill -9 included: util-linux's setpriv asks the kernel to SIGKILL
 * the program when the server dies, then execs it (same pid, so the timeout's kill still reaches it).
 */
export function diesWithParent(command: Command): Command {
  return hasSetpriv ? { cmd: SETPRIV, args: ['--pdeathsig', 'KILL', '--', command.cmd, ...command.args] } : command;
}

export const spawnRunner: Runner = (command, opts = {}) =>
  new Promise((resolvePromise, reject) => {
    const tied = diesWithParent(command);
    const child = spawn(tied.cmd, tied.args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
