// The real server program (`npm start`'s compiled server/main.js) in a child process, for faults that only a
// separate process can suffer: kill -9, restart on the same ports and data directory. Every wait has a
// deadline that fails with what the process printed.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Db, type DbTarget, openDatabase } from '../../server/db/client.ts';
import { freePort } from './pg-cluster.mjs';
import { scratchDir } from './scratch.ts';
import { type ApiTarget, adminLogin, pgDatabaseFor, TEST_ADMIN_PASSWORD } from './server.ts';

const ROOT = join(import.meta.dirname, '../..');

/** A port free now on loopback (kept with the PostgreSQL cluster helper, which `npm test` runs as plain JavaScript). */
export { freePort };

export interface ServerProcess extends ApiTarget {
  dataDir: string;
  mqttUrl: string;
  /** The running process (replaced at each start). */
  child?: ChildProcess;
  /** Everything the current process printed (stdout and stderr), for failure messages. */
  output(): string;
  /** Starts (or starts again) on the same ports and data; resolves once it is serving and the admin is logged in. */
  start(): Promise<void>;
  /** SIGKILL, as a power cut or the OOM killer would: no shutdown code runs. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** Where its data lives. */
  database: DbTarget;
  /** A connection to the server's database ($disconnect it when done). */
  openDb(): Promise<Db>;
}

export async function serverProcess(
  opts: { dataDir?: string; env?: Record<string, string>; startTimeoutMs?: number; nodeArgs?: string[] } = {},
): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? scratchDir('loaphuong-proc-');
  const [port, mqttPort] = [await freePort(), await freePort()];
  const pgUrl = opts.env?.LP_DATABASE_URL ?? (await pgDatabaseFor(dataDir));
  const database: DbTarget = pgUrl ? { dialect: 'postgres', url: pgUrl } : { dialect: 'sqlite', file: join(dataDir, 'loaphuong.db') };
  let printed = '';
  const server: ServerProcess = {
    dataDir,
    url: `http://127.0.0.1:${port}`,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    token: '',
    auth: { authorization: '' },
    output: () => printed.slice(-4000),
    async start() {
      printed = '';
      // What `npm start` runs: the compiled server (npm test builds it first when stale).
      // nodeArgs, then LP_BENCH_SERVER_NODE_ARGS: node options for the server process only (a profile: --cpu-prof --cpu-prof-dir=…).
      const nodeArgs = [...(opts.nodeArgs ?? []), ...(process.env.LP_BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
      const child = spawn(process.execPath, [...nodeArgs, '--conditions=production', 'server/main.js'], {
        cwd: ROOT,
        env: {
          ...process.env,
          PORT: String(port),
          HOST: '127.0.0.1',
          LP_MQTT_PORT: String(mqttPort),
          LP_MQTT_HOST: '127.0.0.1',
          LP_DATA_DIR: dataDir,
          LP_LOG_LEVEL: 'warn',
          LP_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
          LP_SEED_POLICY: 'none',
          LP_SEED: 'hanoi-2024',
          LP_LOGINS_PER_MINUTE: '100000',
          ...(pgUrl ? { LP_DATABASE_URL: pgUrl } : {}),
          ...opts.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.child = child;
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`server did not start within ${opts.startTimeoutMs ?? 90_000} ms:\n${server.output()}`)),
          opts.startTimeoutMs ?? 90_000,
        );
        const onData = (d: Buffer) => {
          printed = (printed + d.toString()).slice(-20_000);
          if (printed.includes('loaphuong is running')) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`server exited (${code ?? signal}) before it was running:\n${server.output()}`));
        });
      });
      await ready;
      server.token = await adminLogin(server.url);
      server.auth.authorization = `Bearer ${server.token}`;
    },
    kill9: () => signal('SIGKILL'),
    stop: () => signal('SIGTERM'),
    database,
    openDb: () => openDatabase(database),
  };
  /** Sends the running process a signal and waits for it to exit (nothing to do when none runs). */
  async function signal(sig: NodeJS.Signals): Promise<void> {
    const child = server.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(sig);
    await exited;
  }
  await server.start();
  return server;
}

/** `p`, or a failure naming `what` once `ms` have passed. */
export function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Resolves when `check()` holds, asking after each event `on` delivers; fails after `timeoutMs` with `what`. */
export function until(on: (listener: () => void) => () => void, check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const off = on(() => {
      if (!check()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Processes (other than this one) whose command line mentions `text`: players or encoders left behind. */
export function processesMentioning(text: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(text)) out.push({ pid: Number(name), cmd });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
