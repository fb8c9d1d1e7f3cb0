// A private PostgreSQL cluster for the test suite: Debian's server binaries, a data directory of its own,
// a private port on loopback, trust authentication (nothing outside this machine reaches it). Never the
// system's cluster. `node test/helpers/pg-cluster.mjs start|stop|url`; start prints the admin URL.
//   LP_PG_DIR   data directory (default: /tmp/loaphuong-pg)
//   LP_PG_PORT  port (default: 55432)
// PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user Debian creates.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';

export const PG_DIR = process.env.LP_PG_DIR ?? '/tmp/loaphuong-pg';
export const PG_PORT = Number(process.env.LP_PG_PORT ?? 55432);
export const PG_ADMIN_URL = `postgresql://postgres@127.0.0.1:${PG_PORT}/postgres`;

/** Debian's server binaries (the newest installed major), or null when PostgreSQL is not installed. */
export function pgBin() {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const majors = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return majors.length ? join(root, majors[0], 'bin') : null;
}

function run(bin, args) {
  const asRoot = userInfo().uid === 0;
  const cmd = asRoot ? 'runuser' : bin;
  const full = asRoot ? ['-u', 'postgres', '--', bin, ...args] : args;
  return spawnSync(cmd, full, { encoding: 'utf8' });
}

export function startCluster() {
  const bin = pgBin();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const data = join(PG_DIR, 'data');
  if (!existsSync(join(data, 'PG_VERSION'))) {
    mkdirSync(PG_DIR, { recursive: true });
    if (userInfo().uid === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(PG_DIR, uid, gid);
    }
    const init = run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8']);
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  }
  const status = run(join(bin, 'pg_ctl'), ['-D', data, 'status']);
  if (status.status === 0) return PG_ADMIN_URL;
  // Test settings: durability off (a test database is thrown away), enough connections for parallel files.
  const opts = [
    `-p ${PG_PORT}`,
    '-c listen_addresses=127.0.0.1',
    `-k ${PG_DIR}`,
    '-c max_connections=400',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c shared_buffers=128MB',
  ].join(' ');
  const start = run(join(bin, 'pg_ctl'), ['-D', data, '-l', join(PG_DIR, 'server.log'), '-o', opts, '-w', 'start']);
  if (start.status !== 0) throw new Error(`pg_ctl start failed: ${start.stderr}${start.stdout}`);
  return PG_ADMIN_URL;
}

export function stopCluster() {
  const bin = pgBin();
  if (!bin || !existsSync(join(PG_DIR, 'data', 'PG_VERSION'))) return;
  run(join(bin, 'pg_ctl'), ['-D', join(PG_DIR, 'data'), '-m', 'fast', '-w', 'stop']);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const command = process.argv[2];
  try {
    if (command === 'start') console.log(startCluster());
    else if (command === 'stop') stopCluster();
    else if (command === 'url') console.log(PG_ADMIN_URL);
    else throw new Error('usage: pg-cluster.mjs start | stop | url');
  } catch (err) {
    console.error(`pg-cluster: ${err.message}`);
    process.exit(1);
  }
}
