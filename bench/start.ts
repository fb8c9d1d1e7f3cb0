// server_start_ms / server_rss_mb: `npm start`'s server from spawn to its "loaphuong server started" line,
// and the resident memory of its process tree then, on an empty data directory (migrations and the seed
// run: a first start) and again on the same directory (a restart). The compiled JavaScript that `npm
// start` runs, and, in the same run, the same entry through the tsx loader (how it ran before issue 21).
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { treeRssMb } from '../test/helpers/proc.ts';
import { figure } from './report.ts';

const root = join(import.meta.dirname, '..');

async function startOnce(cmd: string[], dataDir: string): Promise<{ ms: number; rssMb: number }> {
  const t0 = performance.now();
  const child = spawn(cmd[0] as string, cmd.slice(1), {
    cwd: root,
    env: { ...process.env, LP_DATA_DIR: dataDir, PORT: '0', LP_MQTT_PORT: '0', LP_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const started = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('"msg":"loaphuong server started"')) resolve(performance.now());
    });
    child.once('exit', (code) => reject(new Error(`${cmd.join(' ')} exited ${code} before it started`)));
  });
  const rssMb = treeRssMb(child.pid as number);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  return { ms: started - t0, rssMb };
}

export async function run(): Promise<void> {
  const modes: [string, string[]][] = [
    ['compiled', [process.execPath, '--conditions=production', 'server/main.js']],
    ['tsx', [join(root, 'node_modules/.bin/tsx'), 'server/main.ts']],
  ];
  for (const [mode, cmd] of modes) {
    const dataDir = mkdtempSync(join(tmpdir(), 'loaphuong-start-'));
    const first = await startOnce(cmd, dataDir);
    const again = await startOnce(cmd, dataDir);
    figure('start', `server_start_ms_first_${mode}`, Math.round(first.ms), 'ms', { note: 'empty data directory: migrations and seed' });
    figure('start', `server_start_ms_${mode}`, Math.round(again.ms), 'ms', { note: 'restart on an existing database' });
    figure('start', `server_rss_mb_${mode}`, Math.round(again.rssMb), 'MB', { note: 'process tree when started' });
  }
}
