// The server the dispatch bench measures (bench/dispatch.ts): in this process (the default: its events and
// services at hand), or with LP_BENCH_SERVER=process the compiled program as deployed, in its own process
// with the systemd unit's flags (deploy/systemd/loaphuong-server.service), measured from /proc.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import type { Db } from '../server/db/client.ts';
import { cpuMs, procStatus } from '../test/helpers/proc.ts';
import { type ApiTarget, startTestServer, type TestServer } from '../test/helpers/server.ts';
import { serverProcess } from '../test/helpers/server-process.ts';

const UNIT_FILE = join(import.meta.dirname, '../deploy/systemd/loaphuong-server.service');

/**
 * How the deployed unit starts the server: node's flags from its ExecStart (`--conditions` is the helper's
 * own) and its Environment= lines (not the data directory, which is the bench's).
 */
export function unitLaunch(file = UNIT_FILE): { nodeArgs: string[]; env: Record<string, string> } {
  const unit = readFileSync(file, 'utf8');
  const exec = unit.match(/^ExecStart=\S+ (.*) server\/main\.js$/m)?.[1];
  if (!exec) throw new Error(`${file}: no ExecStart running server/main.js`);
  const env = Object.fromEntries(
    [...unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]).filter(([k]) => k !== 'LP_DATA_DIR'),
  );
  return { nodeArgs: exec.split(' ').filter((a) => a && !a.startsWith('--conditions')), env };
}

export interface Target extends ApiTarget {
  mqttUrl: string;
  /** The server's database: its own client in this process, a second connection for a separate one. */
  db: Db;
  /** The server when it runs in this process (its events, services and heap are at hand). */
  inProcess?: TestServer;
  /** The server's process id. */
  pid: number;
  /** Its CPU time so far (all its threads), in ms. */
  cpuMs(): number;
  /** Its resident memory now, in MB. */
  rssMb(): number;
  /** Its resident memory in parts (anonymous, file-backed), its peak over its life and its threads. */
  status(): Record<string, number>;
  /** Its V8 heap, when it is at hand (in this process; a separate one has the unit's limit). */
  heap(): Record<string, number>;
  /** Writes a snapshot of its main V8 heap to `file`, for a heap profiler (a separate process: its smaps beside it). */
  heapSnapshot(file: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startTarget(env: Record<string, string>, mqttUrl?: string): Promise<Target> {
  if (process.env.LP_BENCH_SERVER === 'process') return processTarget(env, mqttUrl);
  const server = await startTestServer({ env });
  return {
    url: server.url,
    token: server.token,
    mqttUrl: server.mqttUrl,
    auth: server.auth,
    db: server.db,
    inProcess: server,
    pid: process.pid,
    cpuMs() {
      const used = process.cpuUsage();
      return Math.round((used.user + used.system) / 1000);
    },
    rssMb: () => Math.round(process.memoryUsage().rss / 1048576),
    status: () => procStatus('self'),
    heap() {
      const m = process.memoryUsage();
      const mb = (n: number) => Math.round(n / 1048576);
      return {
        server_heap_used_mb: mb(m.heapUsed),
        server_heap_total_mb: mb(m.heapTotal),
        server_external_mb: mb(m.external),
        server_buffers_mb: mb(m.arrayBuffers),
        // The V8 heap limit the run had: node's default (sized from the machine's memory), or --max-old-space-size.
        server_heap_limit_mb: mb(getHeapStatistics().heap_size_limit),
      };
    },
    async heapSnapshot(file) {
      (await import('node:v8')).writeHeapSnapshot(file);
    },
    stop: () => server.stop(),
  };
}

async function processTarget(env: Record<string, string>, mqttUrl?: string): Promise<Target> {
  const unit = unitLaunch();
  // SIGUSR2 makes it write a heap snapshot into its working directory (heapSnapshot below).
  const nodeArgs = [...unit.nodeArgs, '--heapsnapshot-signal=SIGUSR2'];
  const proc = await serverProcess({ env: { ...unit.env, ...env }, nodeArgs, startTimeoutMs: 180_000 });
  const db = await proc.openDb();
  const pid = proc.child?.pid as number;
  return {
    url: proc.url,
    token: proc.token,
    mqttUrl: mqttUrl ?? proc.mqttUrl,
    auth: proc.auth,
    db,
    pid,
    cpuMs: () => cpuMs(pid),
    rssMb: () => procStatus(pid).server_rss_mb as number,
    status: () => procStatus(pid),
    heap: () => ({}),
    async heapSnapshot(file) {
      const cwd = join(import.meta.dirname, '..');
      // Where its resident memory lies (heaps, malloc arenas, code), mapping by mapping: read first, since
      // writing a snapshot grows the process's own heap by as much again.
      const smaps = readFileSync(`/proc/${pid}/smaps`);
      const before = new Set(readdirSync(cwd));
      process.kill(pid, 'SIGUSR2');
      // The snapshot is written on its event loop: once it answers again, the file is complete.
      await new Promise((r) => setTimeout(r, 100));
      await fetch(`${proc.url}/health`);
      const made = readdirSync(cwd).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
      if (!made) throw new Error('the server wrote no heap snapshot');
      renameSync(join(cwd, made), file);
      writeFileSync(`${file}.smaps`, smaps);
    },
    async stop() {
      await db.$disconnect();
      await proc.stop();
    },
  };
}
