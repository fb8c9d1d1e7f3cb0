// A private PostgreSQL cluster for the test suite and for development: Debian's server binaries, a data
// directory of its own, a private port on loopback, trust authentication (nothing outside this machine
// reaches it). Never the system's cluster. `node test/helpers/pg-cluster.mjs start|stop|url` manages the
// development one (LP_PG_DIR, default /tmp/loaphuong-pg; LP_PG_PORT, default 55432) and start prints its
// admin URL; `npm test` starts one of its own in a new directory on a free port and removes it after.
// PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user Debian creates.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

const DEV = { dir: process.env.LP_PG_DIR ?? '/tmp/loaphuong-pg', port: Number(process.env.LP_PG_PORT ?? 55432) };
const adminUrl = (port) => `postgresql://postgres@127.0.0.1:${port}/postgres`;

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

/** Starts the cluster in `dir` on `port` (made on first use); returns its admin URL. */
export function startCluster({ dir, port } = DEV) {
  const bin = pgBin();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const data = join(dir, 'data');
  if (!existsSync(join(data, 'PG_VERSION'))) {
    mkdirSync(dir, { recursive: true });
    if (userInfo().uid === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(dir, uid, gid);
    }
    const init = run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8']);
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  }
  const status = run(join(bin, 'pg_ctl'), ['-D', data, 'status']);
  if (status.status === 0) return adminUrl(port);
  // Test settings: durability off (a test database is thrown away), enough connections for parallel files.
  const opts = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-k ${dir}`,
    '-c max_connections=400',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c shared_buffers=128MB',
  ].join(' ');
  const start = run(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'server.log'), '-o', opts, '-w', 'start']);
  if (start.status !== 0) throw new Error(`pg_ctl start failed: ${start.stderr}${start.stdout}`);
  return adminUrl(port);
}

export function stopCluster({ dir } = DEV) {
  const bin = pgBin();
  if (!bin || !existsSync(join(dir, 'data', 'PG_VERSION'))) return;
  run(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-m', 'fast', '-w', 'stop']);
}

/** A port nothing listens on now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const command = process.argv[2];
  try {
    if (command === 'start') console.log(startCluster());
    else if (command === 'stop') stopCluster();
    else if (command === 'url') console.log(adminUrl(DEV.port));
    else throw new Error('usage: pg-cluster.mjs start | stop | url');
  } catch (err) {
    console.error(`pg-cluster: ${err.message}`);
    process.exit(1);
  }
}
